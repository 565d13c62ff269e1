import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { loadIdentity } from "@sigilum-gw/shared/identity";
import type { CliContext } from "../../context.ts";
import {
  type AddressVariable,
  type ListenAddress,
  localUrl,
  type StackAddresses,
} from "../../core/addresses.ts";
import { ensurePrivateDir } from "../../core/files.ts";
import { REPO_ROOT } from "../../core/paths.ts";
import { CliError, EXIT_FAILURE } from "../../errors.ts";
import { emit, note, success, warn } from "../../output.ts";
import {
  ensurePostgresCluster,
  postgresClusterExists,
  requirePostgresServer,
} from "../../stack/embedded-postgres.ts";
import { requireRedisServer } from "../../stack/embedded-redis.ts";
import { waitForHealth, waitForSignedDecision } from "../../stack/health.ts";
import { logFile, pidFile, type StackLayout } from "../../stack/layout.ts";
import { NODE_FLAGS, type StackRedis, type StackService } from "../../stack/plan.ts";
import { canListen } from "../../stack/ports.ts";
import { checkPostgresReachable } from "../../stack/postgres-check.ts";
import {
  allPortsKnown,
  CLI_ENTRY,
  type PreparedStack,
  prepareStack,
  SUPERVISOR,
  stateFor,
  withListeningPort,
} from "../../stack/prepare.ts";
import { removePidFile, terminate, writePidFile } from "../../stack/processes.ts";
import { checkRedis, redactUrl } from "../../stack/redis-check.ts";
import { readStackState, type StackState, writeStackState } from "../../stack/state.ts";
import { Supervisor } from "../../stack/supervisor.ts";
import { inspect, seconds, summary, tail } from "./common.ts";

/** `sigilum up` (background or foreground) and the detached supervisor it starts. */

export async function preflight(
  env: NodeJS.ProcessEnv,
  prepared: { redis: StackRedis; databaseUrl: string | undefined; addresses: StackAddresses },
): Promise<void> {
  if (prepared.redis.embedded) {
    requireRedisServer(env);
  } else {
    const redis = await checkRedis(prepared.redis.url);
    if (!redis.ok) {
      throw new CliError(`Redis is not reachable at ${redactUrl(prepared.redis.url)} (${redis.reason})`, {
        hint:
          "The gateway keeps nonces, claims and connections in Redis. Start it, then run `sigilum up` again:\n" +
          "  redis-server --daemonize yes --appendonly yes --appendfsync everysec\n" +
          "  # or: docker run -d --name redis -p 6379:6379 redis:7 redis-server --appendonly yes --appendfsync everysec\n" +
          "Or unset REDIS_URL: the stack then runs its own redis-server.",
      });
    }
  }
  if (!prepared.databaseUrl) {
    requirePostgresServer(env);
  } else {
    const postgres = await checkPostgresReachable(prepared.databaseUrl);
    if (!postgres.ok) {
      throw new CliError(
        `PostgreSQL is not reachable at ${redactUrl(prepared.databaseUrl)} (${postgres.reason})`,
        {
          hint: "Start PostgreSQL, fix DATABASE_URL, or unset DATABASE_URL: the stack then runs its own PostgreSQL server.",
        },
      );
    }
  }
  const checks: [AddressVariable | "SIGILUM_REDIS_ADDR", ListenAddress][] = [
    ...(prepared.redis.address
      ? [["SIGILUM_REDIS_ADDR", prepared.redis.address] as ["SIGILUM_REDIS_ADDR", ListenAddress]]
      : []),
    ["CONTROL_PLANE_ADDR", prepared.addresses.controlPlane],
    ["VERIFIER_ADDR", prepared.addresses.verifier],
    ["GATEWAY_ADDR", prepared.addresses.gateway],
    ["USAGE_WORKER_ADDR", prepared.addresses.usageWorker],
  ];
  for (const [variable, address] of checks) {
    if (!(await canListen(address))) {
      throw new CliError(
        `Cannot listen on ${address.addr} (${variable}): the port is in use or not available`,
        {
          hint: `Stop what uses it, or choose another port: ${variable}=127.0.0.1:<port> sigilum up`,
        },
      );
    }
  }
}

/** Waits for every service's /health, printing a line as each comes up; returns those that did not. */
async function awaitHealthy(
  ctx: CliContext,
  prepared: PreparedStack,
  timeoutMs: number,
  alive: (service: StackService) => boolean,
): Promise<{ name: StackService; outcome: "timeout" | "exited" }[]> {
  const started = Date.now();
  const outcomes = await Promise.all(
    prepared.plans.map(async (plan) => {
      const outcome = await waitForHealth(plan.health, { timeoutMs, stillRunning: () => alive(plan.name) });
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      if (outcome === "healthy") success(ctx, `${plan.name} is healthy at ${plan.url} (${elapsed}s)`);
      return { name: plan.name, outcome };
    }),
  );
  const failures = outcomes.filter(
    (o): o is { name: StackService; outcome: "timeout" | "exited" } => o.outcome !== "healthy",
  );
  if (failures.length > 0) return failures;
  // Healthy means a signed request can be decided end to end, not only that each process answers.
  const identity = await loadIdentity({
    namespace: prepared.gatewayNamespace,
    homeDir: prepared.layout.gatewayHome,
  });
  const gatewayUrl = localUrl(prepared.addresses.gateway);
  const decided = await waitForSignedDecision(
    gatewayUrl,
    identity,
    Math.max(timeoutMs - (Date.now() - started), 1000),
  );
  if (!decided.ok) {
    warn(ctx, `a signed request to ${gatewayUrl} was not decided (${decided.last})`);
    return [{ name: "proxy", outcome: "timeout" }];
  }
  success(ctx, `a signed request is decided end to end (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  return [];
}

/** The service whose exit stopped the stack (the supervisor logs it), else the first that was not healthy. */
async function culprit(
  layout: StackLayout,
  failures: { name: StackService; outcome: string }[],
): Promise<StackService> {
  const lines = await tail(logFile(layout, SUPERVISOR), 50);
  for (const line of lines.reverse()) {
    const match = / ([a-z-]+) exited with code \d+ before it was healthy; stopping the stack$/.exec(line);
    if (match) return match[1] as StackService;
  }
  return (failures[0]?.name ?? "control-plane") as StackService;
}

async function reportFailure(layout: StackLayout, failed: StackService, timeoutMs?: number): Promise<never> {
  const lines = await tail(logFile(layout, failed));
  const supervisorLines = await tail(logFile(layout, SUPERVISOR), 5);
  const why = timeoutMs ? ` (not healthy within ${timeoutMs / 1000}s; SIGILUM_UP_TIMEOUT_SECONDS)` : "";
  throw new CliError(`${failed} did not start${why}; the stack was stopped`, {
    hint: [
      ...(lines.length > 0
        ? [`Last lines of ${logFile(layout, failed)}:`, ...lines.map((l) => `  ${l}`)]
        : []),
      ...(supervisorLines.length > 0 ? [`Supervisor:`, ...supervisorLines.map((l) => `  ${l}`)] : []),
      `Full logs: ${layout.logDir}`,
    ].join("\n"),
  });
}

export async function alreadyRunning(
  ctx: CliContext,
  layout: StackLayout,
  json: boolean | undefined,
): Promise<boolean> {
  const found = await inspect(layout);
  const state = await readStackState(layout);
  if (found.supervisor.running && state) {
    note(ctx, `The local stack is already running (supervisor pid ${found.supervisor.pid}).`);
    emit(ctx, json, { command: "up", already_running: true, ...state }, () => summary(state, layout));
    return true;
  }
  const leftovers = [found.supervisor, ...found.services].filter((p) => p.running);
  if (leftovers.length > 0) {
    throw new CliError(
      `Part of a previous stack is still running: ${leftovers.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}`,
      { hint: "Run `sigilum down`, then `sigilum up`." },
    );
  }
  return false;
}

export async function finishPreparation(ctx: CliContext, prepared: PreparedStack): Promise<void> {
  for (const path of prepared.createdSecrets) note(ctx, `created ${path} (0600)`);
  const { database, layout } = prepared;
  if (database.embedded && !postgresClusterExists(layout)) {
    note(
      ctx,
      `creating the stack's PostgreSQL database in ${layout.postgresDataDir} (${database.binaries.version})`,
    );
    await ensurePostgresCluster(layout, database.binaries);
  }
  if (prepared.identityCreated) {
    note(
      ctx,
      `created the gateway identity for namespace "${prepared.gatewayNamespace}" in ${prepared.layout.gatewayHome}`,
    );
  }
}

export async function upBackground(
  ctx: CliContext,
  prepared: PreparedStack,
  json: boolean | undefined,
): Promise<void> {
  const { layout } = prepared;
  await ensurePrivateDir(layout.runDir);
  await mkdir(layout.logDir, { recursive: true, mode: 0o700 });
  const logFd = openSync(logFile(layout, SUPERVISOR), "a", 0o600);
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI_ENTRY, "__supervise"], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: {
      ...ctx.env,
      SIGILUM_DATA_DIR: layout.dataDir,
      GATEWAY_SIGILUM_NAMESPACE: prepared.gatewayNamespace,
      // The supervisor prepares the same stack again: the embedded Redis port chosen here must be the one it uses.
      ...(prepared.redis.address ? { SIGILUM_REDIS_ADDR: prepared.redis.address.addr } : {}),
    },
  });
  closeSync(logFd);
  child.unref();
  let supervisorAlive = true;
  child.once("exit", () => {
    supervisorAlive = false;
  });
  if (!child.pid) throw new CliError("Could not start the stack supervisor");
  await writePidFile(pidFile(layout, SUPERVISOR), child.pid);
  note(
    ctx,
    `starting ${prepared.plans.map((p) => `${p.name} on ${p.addr}`).join(", ")} (logs in ${layout.logDir})`,
  );
  const timeoutMs = seconds(ctx, "SIGILUM_UP_TIMEOUT_SECONDS", 90) * 1000;
  const started = await reportedPorts(prepared, timeoutMs, () => supervisorAlive);
  const failures = await awaitHealthy(ctx, started, timeoutMs, () => supervisorAlive);
  if (failures.length > 0) {
    const failed = await culprit(layout, failures);
    const timedOut = failures.find((f) => f.name === failed)?.outcome === "timeout";
    await terminate(child.pid, 20_000);
    await removePidFile(pidFile(layout, SUPERVISOR));
    await reportFailure(layout, failed, timedOut ? timeoutMs : undefined);
  }
  const state = (await readStackState(layout)) ?? stateFor(prepared, "background");
  emit(ctx, json, { command: "up", already_running: false, ...state }, () => summary(state, layout));
}

/**
 * The stack with the ports its services on port 0 reported, read from run/stack.json as the detached supervisor
 * records them (as it is when the supervisor died or the time is up: the health checks then report the failure).
 */
async function reportedPorts(
  prepared: PreparedStack,
  timeoutMs: number,
  alive: () => boolean,
): Promise<PreparedStack> {
  const deadline = Date.now() + timeoutMs;
  let current = prepared;
  while (!allPortsKnown(current) && alive() && Date.now() < deadline) {
    const state = await readStackState(prepared.layout);
    for (const plan of current.plans.filter((p) => p.addressFile)) {
      const port = Number(/:(\d+)$/.exec(state?.services[plan.name]?.addr ?? "")?.[1] ?? 0);
      if (port > 0) current = withListeningPort(current, plan.name, port);
    }
    if (!allPortsKnown(current)) await sleep(100);
  }
  return current;
}

interface Supervised {
  supervisor: Supervisor;
  /** The stack with the ports its services on port 0 reported so far. */
  current: () => PreparedStack;
  /** run/stack.json as it is now. */
  state: () => StackState;
}

function supervisorFor(
  ctx: CliContext,
  prepared: PreparedStack,
  mode: StackState["mode"],
  log: (line: string) => void,
): Supervised {
  let current = prepared;
  const state = () => stateFor(current, mode, (name) => supervisor.report(name));
  const supervisor: Supervisor = new Supervisor({
    layout: prepared.layout,
    plans: prepared.plans,
    baseEnv: ctx.env,
    echo: mode === "foreground",
    stopTimeoutMs: seconds(ctx, "SIGILUM_STOP_TIMEOUT_SECONDS", 10) * 1000,
    log,
    onChange: () => {
      if (!supervisor.stopping) void writeStackState(prepared.layout, state()).catch(() => undefined);
    },
    onListening: (service, port) => {
      current = withListeningPort(current, service, port);
      return current.plans;
    },
    cwd: REPO_ROOT,
  });
  return { supervisor, current: () => current, state };
}

function handleSignals(supervisor: Supervisor): () => void {
  const stop = () => void supervisor.stop(0);
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  };
}

export async function upForeground(
  ctx: CliContext,
  prepared: PreparedStack,
  json: boolean | undefined,
): Promise<void> {
  const { layout } = prepared;
  const supervised = supervisorFor(ctx, prepared, "foreground", (line) => note(ctx, line));
  const { supervisor } = supervised;
  const release = handleSignals(supervisor);
  try {
    await ensurePrivateDir(layout.runDir);
    await writePidFile(pidFile(layout, SUPERVISOR), process.pid);
    await supervisor.start();
    await writeStackState(layout, supervised.state());
    const timeoutMs = seconds(ctx, "SIGILUM_UP_TIMEOUT_SECONDS", 90) * 1000;
    const failures = await awaitHealthy(ctx, supervised.current(), timeoutMs, (name) =>
      supervisor.isRunning(name),
    );
    if (failures.length > 0) {
      const failed = supervisor.firstExit ?? failures[0]?.name;
      await supervisor.stop(EXIT_FAILURE);
      throw new CliError(`${failed} did not start; the stack was stopped (its output is above)`);
    }
    const state = (await readStackState(layout)) ?? supervised.state();
    emit(ctx, json, { command: "up", already_running: false, ...state }, () => summary(state, layout));
    note(ctx, "running in the foreground; press Ctrl-C to stop");
    ctx.exitCode = await supervisor.done;
  } finally {
    release();
    await removePidFile(pidFile(layout, SUPERVISOR));
  }
}

/** The detached supervisor started by `up`: runs the services until SIGTERM (from `down`). */
export async function supervise(ctx: CliContext): Promise<void> {
  const prepared = await prepareStack(ctx, {});
  const { layout } = prepared;
  const log = (line: string) => ctx.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const supervised = supervisorFor(ctx, prepared, "background", log);
  const { supervisor } = supervised;
  const release = handleSignals(supervisor);
  try {
    await writePidFile(pidFile(layout, SUPERVISOR), process.pid);
    await supervisor.start();
    await writeStackState(layout, supervised.state());
    ctx.exitCode = await supervisor.done;
  } finally {
    release();
    await removePidFile(pidFile(layout, SUPERVISOR));
  }
}
