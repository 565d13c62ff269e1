import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { deletePrefix } from "@sigilum-gw/testkit/redis";
import * as load from "./load.ts";

/**
 * What the paired A/B scripts (proxy-ab.ts, verifier-ab.ts) share: the settings they read — ROUNDS (default 8),
 * SECONDS per burst (3), PIN=<cpu> (taskset), A_MAIN/B_MAIN (the build of each side), A_ENV/B_ENV (JSON, added to
 * its environment) — a Redis prefix of their own, the services' base environment, one burst, and the run itself.
 */

const BENCH = fileURLToPath(new URL("./proxy-bench.ts", import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export interface AbSettings {
  rounds: number;
  seconds: number;
  cpu: string | undefined;
  /** The shared GATEWAY_INTERNAL_SECRET. */
  secret: string;
  prefix: string;
  /** The environment both sides (and anything beside them) start from. */
  env: Record<string, string>;
}

/** The settings of an A/B named `name` (the Redis prefix says it), with `env` added to the base environment. */
export function abSettings(name: string, env: Record<string, string> = {}): AbSettings {
  const secret = randomBytes(32).toString("hex");
  const prefix = `${name}:${randomBytes(4).toString("hex")}:`;
  return {
    rounds: Number(process.env.ROUNDS ?? 8),
    seconds: Number(process.env.SECONDS ?? 3),
    cpu: process.env.PIN || undefined,
    secret,
    prefix,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      GATEWAY_INTERNAL_SECRET: secret,
      LOG_LEVEL: "info",
      ...env,
    },
  };
}

/** Side A's or B's build (`A_MAIN`, else `main`) and environment (the base plus `A_ENV`). */
export function abSide(
  settings: AbSettings,
  side: "A" | "B",
  main: string,
): { main: string; env: Record<string, string> } {
  return {
    main: process.env[`${side}_MAIN`] ?? main,
    env: { ...settings.env, ...(JSON.parse(process.env[`${side}_ENV`] ?? "{}") as Record<string, string>) },
  };
}

/**
 * One saturation burst through the bench's load role: answers per second and the CPU per request of each of
 * `pids`; non-200 answers are said.
 */
export async function abBurst(
  spec: Omit<load.LoadRun, "mode" | "rate">,
  pids: (number | undefined)[],
  cpu: string | undefined,
): Promise<{ rps: number; cpuUs: (number | undefined)[] }> {
  const { saturation, cpuUs } = await load.saturate(BENCH, spec, pids, cpu);
  if (saturation.errors) console.log(`  !! ${saturation.errors} non-200 answers`);
  return { rps: saturation.rps, cpuUs };
}

/** The paired rounds; then, whatever happened, `stop` and the Redis prefix; then the process exits. */
export async function runAb<P>(
  settings: AbSettings,
  sides: [P, P],
  burst: (p: P, seconds: number) => Promise<load.Burst>,
  unit: string,
  stop: () => Promise<void>,
): Promise<never> {
  try {
    await load.pairedRounds(sides[0], sides[1], burst, {
      rounds: settings.rounds,
      seconds: settings.seconds,
      unit,
    });
  } finally {
    await stop();
    await deletePrefix(settings.prefix, REDIS_URL);
  }
  process.exit(0);
}
