import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { type ListenAddress, parseListenAddress } from "../core/addresses.ts";
import { CliError } from "../errors.ts";
import type { StackLayout } from "./layout.ts";

/**
 * The stack's own Redis when REDIS_URL is not set: `redis-server` from PATH, AOF on, its files in
 * `<data dir>/redis`, on SIGILUM_REDIS_ADDR (default: a free loopback port chosen at `up`). It runs as a supervised
 * service of the stack, first to start and last to stop.
 */

export const REDIS_SERVER = "redis-server";

export const INSTALL_HINT =
  "Install Redis, then run `sigilum up` again:\n" +
  "  sudo apt-get install redis-server      # Debian, Ubuntu\n" +
  "  brew install redis                     # macOS\n" +
  "Or point REDIS_URL at a running Redis (e.g. REDIS_URL=redis://127.0.0.1:6379 sigilum up).";

/** Throws the one clear message a newcomer needs when `redis-server` is not on PATH. */
export function requireRedisServer(env: NodeJS.ProcessEnv): void {
  const probe = spawnSync(REDIS_SERVER, ["--version"], { env, encoding: "utf8", timeout: 10_000 });
  if (probe.error || probe.status !== 0) {
    throw new CliError("redis-server was not found on PATH (the local stack runs its own Redis)", {
      hint: INSTALL_HINT,
      code: "REDIS_SERVER_MISSING",
    });
  }
}

/** A free loopback port, asked of the kernel (bind port 0, read it, close). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

/** SIGILUM_REDIS_ADDR when set, else a free loopback port. */
export async function embeddedRedisAddress(env: NodeJS.ProcessEnv): Promise<ListenAddress> {
  const configured = env.SIGILUM_REDIS_ADDR?.trim();
  return parseListenAddress("SIGILUM_REDIS_ADDR", configured || `127.0.0.1:${await freeLoopbackPort()}`);
}

/** `redis-server` arguments: loopback, AOF, files under the data directory, no RDB snapshots, logs to stdout. */
export function redisServerArgs(layout: StackLayout, address: ListenAddress): string[] {
  return [
    "--port",
    String(address.port),
    "--bind",
    address.host || "127.0.0.1",
    "--dir",
    layout.redisDataDir,
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "",
    "--daemonize",
    "no",
    "--protected-mode",
    "yes",
    "--logfile",
    "",
  ];
}

/**
 * The key prefix of one stack: REDIS_PREFIX when set, else one derived from the data directory, so that two
 * stacks sharing a Redis (or a new data directory on the same Redis) never see each other's keys.
 */
export function stackRedisPrefix(env: NodeJS.ProcessEnv, dataDir: string): string {
  const configured = env.REDIS_PREFIX?.trim();
  if (configured) return configured;
  return `sigilum:${createHash("sha256").update(dataDir).digest("hex").slice(0, 12)}:`;
}
