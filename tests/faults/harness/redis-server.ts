import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { unusedPort } from "@sigilum-gw/testkit/network";
import { Redis } from "ioredis";

/**
 * A Redis server of the test's own (`redis-server` on PATH), on a free loopback port and a temporary directory,
 * so a test can kill and restart it without touching the shared 127.0.0.1:6379. Append-only file with
 * `appendfsync always`: every acknowledged write survives a kill -9 (what a deployment that must lose nothing runs).
 */
export interface RedisServer {
  url: string;
  port: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data directory; resolves once it answers PING. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisServer(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), "faults-redis-"));
  const port = await unusedPort();
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill("SIGKILL");
  process.once("exit", killOnExit);
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill(signal = "SIGKILL") {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill(signal);
      await exited;
    },
    async start() {
      child = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes"].concat([
          "--appendfsync",
          "always",
          "--save",
          "",
          "--logfile",
          join(dir, "redis.log"),
        ]),
        { stdio: "ignore" },
      );
      const probe = new Redis(server.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on("error", () => {});
      const deadline = Date.now() + 10_000;
      try {
        for (;;) {
          try {
            await probe.connect();
            if ((await probe.ping()) === "PONG") return;
          } catch {
            if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
            await sleep(50);
          }
        }
      } finally {
        probe.disconnect();
      }
    },
    async stop() {
      await server.kill("SIGTERM");
      process.off("exit", killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
