import type { Redis } from "ioredis";

/**
 * When the replay window's current data set began. The window is a set of nonces in Redis; a Redis that comes
 * back with older data (restarted from a snapshot, an AOF missing its last second, a failover to a lagging
 * replica) or with none has forgotten nonces it already accepted, so a request replayed with its exact bytes
 * would pass again. Every signed request carries its `created` time: a request is accepted only if it was
 * created after the current data set began, which no forgotten request can be.
 *
 * The beginning is a marker key, `<run id> <began> <margin>`, written by a script that reads the server's run
 * id itself (INFO), so every replica agrees on one value:
 * - no marker: a new (or emptied) data set; it begins now (a whole-second floor, so a request signed in the
 *   second the verifier started still passes); when this process had seen a marker before, the data was lost
 *   and the margin applies;
 * - a marker with another run id: Redis restarted and its data may be older than what was accepted; the data
 *   set begins now, plus a margin of the tolerated clock skew (an agent whose clock runs ahead may have signed
 *   before the restart with a later `created`).
 * Every service that checks nonces in Redis (the verifier, the control plane) learns the value on every
 * (re)connection before it checks any nonce, and again every second (an emptied database on a Redis that never
 * disconnected), and asks `checkReplayEpoch` before it records a nonce. They share the marker: one data set,
 * one beginning.
 */

const SYNC_SCRIPT = `
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local marker = redis.call('GET', KEYS[1])
if marker then
  local r, began, margin = string.match(marker, '^(%x+) (%d+) (%d+)$')
  if r == run then return {began, margin} end
end
local now = redis.call('TIME')
local began = tonumber(now[1])
local margin = 0
if marker or ARGV[2] == '1' then
  began = began + 1
  margin = tonumber(ARGV[1])
end
redis.call('SET', KEYS[1], run .. ' ' .. began .. ' ' .. margin)
return {tostring(began), tostring(margin)}
`;

export interface ReplayEpoch {
  /** Oldest accepted `created` (Unix seconds), or undefined while unknown (disconnected, not synced yet). */
  current(): number | undefined;
  /** Learns the value now (shared by concurrent callers); rejects when Redis cannot answer. */
  sync(): Promise<number>;
  close(): void;
}

export interface ReplayEpochOptions {
  /** Seconds added after a detected restart or loss (the verifier's tolerated future clock skew). */
  marginSeconds: number;
  resyncMs?: number;
  /** Told when the beginning moves (a restart, a rollback, an emptied database). */
  onChange?: (notBefore: number) => void;
}

type SyncingRedis = Redis & {
  replayEpochSync(key: string, margin: number, seenBefore: string): Promise<[string, string]>;
};

export function trackReplayEpoch(redis: Redis, key: string, opts: ReplayEpochOptions): ReplayEpoch {
  const client = redis as SyncingRedis;
  if (typeof client.replayEpochSync !== "function") {
    client.defineCommand("replayEpochSync", { numberOfKeys: 1, lua: SYNC_SCRIPT });
  }
  let notBefore: number | undefined;
  let seen = false;
  let inFlight: Promise<number> | undefined;

  function sync(): Promise<number> {
    inFlight ??= client
      .replayEpochSync(key, opts.marginSeconds, seen ? "1" : "0")
      .then(([began, margin]) => {
        const value = Number(began) + Number(margin);
        if (notBefore !== undefined && value !== notBefore) opts.onChange?.(value);
        notBefore = value;
        seen = true;
        return value;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  const forget = () => {
    notBefore = undefined;
  };
  const onReady = () => {
    forget();
    sync().catch(() => undefined);
  };
  redis.on("close", forget);
  redis.on("ready", onReady);
  const timer = setInterval(() => {
    if (redis.status === "ready") sync().catch(() => undefined);
  }, opts.resyncMs ?? 1000);
  timer.unref();
  if (redis.status === "ready") sync().catch(() => undefined);

  return {
    current: () => notBefore,
    sync,
    close() {
      clearInterval(timer);
      redis.off("close", forget);
      redis.off("ready", onReady);
    },
  };
}

/**
 * Whether a signature created at `created` (Unix seconds) may be checked against the replay window: `predates`
 * when the window's data set began later (it could be a replay the window forgot), `unknown` when the beginning
 * cannot be learned (Redis unavailable: fail closed).
 */
export async function checkReplayEpoch(
  epoch: ReplayEpoch,
  created: number,
): Promise<"current" | "predates" | "unknown"> {
  const notBefore = epoch.current() ?? (await epoch.sync().catch(() => undefined));
  if (notBefore === undefined) return "unknown";
  return created < notBefore ? "predates" : "current";
}
