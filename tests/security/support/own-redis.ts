import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { unusedPort } from "@sigilum-gw/testkit/network";
import { Redis } from "ioredis";

/**
 * A redis-server of the test's own (the system binary) on a free loopback port, with its data in a temp dir,
 * so a test can snapshot it, stop it and start it again from that snapshot or empty: what an operator's
 * restart, restore or data loss does. Never touches the shared Redis.
 */
export interface OwnRedis {
  url: string;
  /** SAVE: the RDB snapshot a later `restart("snapshot")` comes back with. */
  snapshot(): Promise<void>;
  /** Stops without saving, then starts from the last snapshot, or with no data at all. */
  restart(from: "snapshot" | "empty"): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const dir = await mkdtemp(join(tmpdir(), "sigilum-own-redis-"));
  const port = await unusedPort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on("error", () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        if (Date.now() > deadline) throw new Error("own redis-server did not start");
        await sleep(50);
      }
    }
  }

  async function kill(): Promise<void> {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((r) => running.once("exit", r));
    running.kill("SIGKILL");
    await exited;
  }

  async function command(...args: string[]): Promise<void> {
    const client = new Redis(url, { maxRetriesPerRequest: 0 });
    try {
      await client.call(args[0]!, ...args.slice(1));
    } finally {
      client.disconnect();
    }
  }

  await start();
  return {
    url,
    snapshot: () => command("SAVE"),
    async restart(from) {
      await kill();
      if (from === "empty") await rm(join(dir, "dump.rdb"), { force: true });
      await start();
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
