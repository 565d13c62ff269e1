import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadIdentity } from "@sigilum-gw/shared/identity";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import {
  type AddressVariable,
  type ListenAddress,
  localUrl,
  type StackAddresses,
  stackAddresses,
} from "../core/addresses.ts";
import { ensurePrivateDir } from "../core/files.ts";
import { dataDir, REPO_ROOT } from "../core/paths.ts";
import { CliError, EXIT_FAILURE } from "../errors.ts";
import { emit, keyValues, note, success, table, warn } from "../output.ts";
import { requireRedisServer } from "../stack/embedded-redis.ts";
import { probeHealth, waitForHealth, waitForSignedDecision } from "../stack/health.ts";
import { logFile, pidFile, type StackLayout, stackLayout } from "../stack/layout.ts";
import { markerOf, STACK_SERVICES, type StackRedis, type StackService } from "../stack/plan.ts";
import { canListen } from "../stack/ports.ts";
import { checkPostgresReachable } from "../stack/postgres-check.ts";
import {
  CLI_ENTRY,
  type PreparedStack,
  prepareStack,
  SUPERVISOR,
  SUPERVISOR_MARKER,
  stackRedisOf,
  stateFor,
} from "../stack/prepare.ts";
import { isOurProcess, readPidFile, removePidFile, terminate, writePidFile } from "../stack/processes.ts";
import { checkRedis, redactUrl } from "../stack/redis-check.ts";
import { readStackState, removeStackState, type StackState, writeStackState } from "../stack/state.ts";
import { Supervisor } from "../stack/supervisor.ts";

/** `sigilum up | down | status`: the local stack as processes on this machine (DESIGN.md §1, "Local, no Docker"). */

function seconds(ctx: CliContext, name: string, fallback: number): number {
  const raw = ctx.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new CliError(`${name} must be a positive number of seconds`);
  return value;
}

interface ProcessReport {
  name: string;
  pid: number | undefined;
  running: boolean;
}

async function inspect(
  layout: StackLayout,
): Promise<{ supervisor: ProcessReport; services: ProcessReport[] }> {
  const read = async (name: string, marker: string): Promise<ProcessReport> => {
    const pid = await readPidFile(pidFile(layout, name));
    return { name, pid, running: pid !== undefined && (await isOurProcess(pid, marker)) };
  };
  return {
    supervisor: await read(SUPERVISOR, SUPERVISOR_MARKER),
    services: await Promise.all(STACK_SERVICES.map((s) => read(s, markerOf(s)))),
  };
}

async function tail(path: string, lines = 15): Promise<string[]> {
  try {
    return (await readFile(path, "utf8")).trimEnd().split("\n").slice(-lines);
  } catch {
    return [];
  }
}

function summary(state: StackState, layout: StackLayout): string[] {
  const ns = state.gateway_namespace;
  return [
    `Sigilum local stack is up (gateway namespace: ${ns}).`,
    ...keyValues([
      ["gateway", `${state.urls.gateway}   (agents call /proxy/<service>/...; admin API /api/admin/*)`],
      ["control plane", state.urls.control_plane],
      ["verifier", state.urls.verifier],
      [
        "usage worker",
        `${state.services["usage-worker"]?.url ?? "-"}   (reports usage to the control plane)`,
      ],
      [
        "database",
        state.database === "postgres"
          ? "PostgreSQL (DATABASE_URL)"
          : `PGlite in ${join(layout.controlPlaneDataDir, "pgdata")}`,
      ],
      [
        "redis",
        state.redis.embedded
          ? `${state.redis.url}   (the stack's own redis-server, AOF in ${layout.redisDataDir})`
          : `${state.redis.url}   (REDIS_URL)`,
      ],
      ["key prefix", state.redis.prefix],
      ["data dir", layout.dataDir],
      ["logs", layout.logDir],
    ]),
    "",
    "Next steps:",
    `  sigilum init                              # the agent's identity, in the gateway's namespace (${ns})`,
    "  sigilum service add my-api --upstream-base-url https://api.example.com --upstream-secret-stdin < token.txt",
    "  sigilum request GET /proxy/my-api/        # first call: 403 AUTH_CLAIM_REQUIRED, an approval is requested",
    "  sigilum approvals list",
    "  sigilum approvals approve <claim-id>",
    "  sigilum request GET /proxy/my-api/        # now reaches the API with the credential injected",
    "  sigilum down                              # stop everything",
  ];
}

async function preflight(
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
  if (prepared.databaseUrl) {
    const postgres = await checkPostgresReachable(prepared.databaseUrl);
    if (!postgres.ok) {
      throw new CliError(
        `PostgreSQL is not reachable at ${redactUrl(prepared.databaseUrl)} (${postgres.reason})`,
        {
          hint: "Start PostgreSQL, fix DATABASE_URL, or unset DATABASE_URL to use the embedded PGlite database.",
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

async function alreadyRunning(
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

function printPreparation(ctx: CliContext, prepared: PreparedStack): void {
  for (const path of prepared.createdSecrets) note(ctx, `created ${path} (0600)`);
  if (prepared.identityCreated) {
    note(
      ctx,
      `created the gateway identity for namespace "${prepared.gatewayNamespace}" in ${prepared.layout.gatewayHome}`,
    );
  }
}

async function upBackground(
  ctx: CliContext,
  prepared: PreparedStack,
  json: boolean | undefined,
): Promise<void> {
  const { layout } = prepared;
  await ensurePrivateDir(layout.runDir);
  await mkdir(layout.logDir, { recursive: true, mode: 0o700 });
  const logFd = openSync(logFile(layout, SUPERVISOR), "a", 0o600);
  const child = spawn(process.execPath, [CLI_ENTRY, "__supervise"], {
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
  const failures = await awaitHealthy(ctx, prepared, timeoutMs, () => supervisorAlive);
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

/** A supervisor that keeps run/stack.json current (pids, restarts) as services start, crash and restart. */
function supervisorFor(
  ctx: CliContext,
  prepared: PreparedStack,
  mode: StackState["mode"],
  log: (line: string) => void,
): Supervisor {
  const supervisor: Supervisor = new Supervisor({
    layout: prepared.layout,
    plans: prepared.plans,
    baseEnv: ctx.env,
    echo: mode === "foreground",
    stopTimeoutMs: seconds(ctx, "SIGILUM_STOP_TIMEOUT_SECONDS", 10) * 1000,
    log,
    onChange: () => {
      if (!supervisor.stopping)
        void writeStackState(
          prepared.layout,
          stateFor(prepared, mode, (name) => supervisor.report(name)),
        ).catch(() => undefined);
    },
    cwd: REPO_ROOT,
  });
  return supervisor;
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

async function upForeground(
  ctx: CliContext,
  prepared: PreparedStack,
  json: boolean | undefined,
): Promise<void> {
  const { layout } = prepared;
  const supervisor = supervisorFor(ctx, prepared, "foreground", (line) => note(ctx, line));
  const release = handleSignals(supervisor);
  try {
    await ensurePrivateDir(layout.runDir);
    await writePidFile(pidFile(layout, SUPERVISOR), process.pid);
    await supervisor.start();
    await writeStackState(
      layout,
      stateFor(prepared, "foreground", (name) => supervisor.report(name)),
    );
    const timeoutMs = seconds(ctx, "SIGILUM_UP_TIMEOUT_SECONDS", 90) * 1000;
    const failures = await awaitHealthy(ctx, prepared, timeoutMs, (name) => supervisor.isRunning(name));
    if (failures.length > 0) {
      const failed = supervisor.firstExit ?? failures[0]?.name;
      await supervisor.stop(EXIT_FAILURE);
      throw new CliError(`${failed} did not start; the stack was stopped (its output is above)`);
    }
    const state =
      (await readStackState(layout)) ?? stateFor(prepared, "foreground", (name) => supervisor.report(name));
    emit(ctx, json, { command: "up", already_running: false, ...state }, () => summary(state, layout));
    note(ctx, "running in the foreground; press Ctrl-C to stop");
    ctx.exitCode = await supervisor.done;
  } finally {
    release();
    await removePidFile(pidFile(layout, SUPERVISOR));
  }
}

/** The detached supervisor started by `up`: runs the services until SIGTERM (from `down`). */
async function supervise(ctx: CliContext): Promise<void> {
  const prepared = await prepareStack(ctx, {});
  const { layout } = prepared;
  const log = (line: string) => ctx.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const supervisor = supervisorFor(ctx, prepared, "background", log);
  const release = handleSignals(supervisor);
  try {
    await writePidFile(pidFile(layout, SUPERVISOR), process.pid);
    await supervisor.start();
    await writeStackState(
      layout,
      stateFor(prepared, "background", (name) => supervisor.report(name)),
    );
    ctx.exitCode = await supervisor.done;
  } finally {
    release();
    await removePidFile(pidFile(layout, SUPERVISOR));
  }
}

async function down(ctx: CliContext, json: boolean | undefined): Promise<void> {
  const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
  const found = await inspect(layout);
  const stopTimeoutMs = seconds(ctx, "SIGILUM_STOP_TIMEOUT_SECONDS", 10) * 1000;
  const stopped: { name: string; pid: number; how: string }[] = [];
  const state = await readStackState(layout);
  if (found.supervisor.running && found.supervisor.pid) {
    const pid = found.supervisor.pid;
    note(ctx, `stopping the stack (supervisor pid ${pid})`);
    // The supervisor stops its services first; give it their stop timeout plus a margin.
    const how = await terminate(pid, stopTimeoutMs + 5000);
    if (how === "killed" && state?.mode === "background") {
      // A detached supervisor leads its own process group: take its children with it.
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    stopped.push({ name: SUPERVISOR, pid, how });
  }
  for (const service of found.services) {
    if (service.pid && (await isOurProcess(service.pid, markerOf(service.name as StackService)))) {
      const how = await terminate(service.pid, stopTimeoutMs);
      stopped.push({ name: service.name, pid: service.pid, how });
    }
    await removePidFile(pidFile(layout, service.name));
  }
  await removePidFile(pidFile(layout, SUPERVISOR));
  await removeStackState(layout);
  const services = found.services.map((s) => ({
    name: s.name,
    pid: s.pid ?? null,
    was_running: s.running,
  }));
  // Progress on stderr; stdout carries only the result (one JSON document with --json).
  for (const s of found.services.filter((service) => service.running))
    success(ctx, `${s.name} stopped (pid ${s.pid})`);
  emit(ctx, json, { command: "down", data_dir: layout.dataDir, services, stopped }, () => [
    found.supervisor.running || found.services.some((s) => s.running)
      ? "Sigilum local stack stopped."
      : "Sigilum local stack was not running.",
  ]);
}

/** A service's state for `status`: healthy, unhealthy, restarting (crashed, restart scheduled) or stopped. */
function serviceState(s: { running: boolean; healthy: boolean; restarting: boolean }): string {
  if (s.running) return s.healthy ? "healthy" : "unhealthy";
  return s.restarting ? "restarting" : "stopped";
}

async function status(ctx: CliContext, json: boolean | undefined): Promise<void> {
  const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
  const found = await inspect(layout);
  const state = await readStackState(layout);
  // The stack's own Redis is one of its services only when it runs one.
  const expected = found.services.filter((s) => s.name !== "redis" || state?.services.redis || s.running);
  const services = await Promise.all(
    expected.map(async (s) => {
      const recorded = state?.services[s.name];
      const healthy = s.running && recorded !== undefined ? await probeHealth(recorded.health) : false;
      const restarting = !s.running && found.supervisor.running && recorded !== undefined;
      return {
        name: s.name,
        pid: s.running ? (s.pid ?? null) : null,
        running: s.running,
        healthy,
        state: serviceState({ running: s.running, healthy, restarting }),
        restarts: recorded?.restarts ?? 0,
        last_exit_code: recorded?.last_exit_code ?? null,
        url: recorded?.url ?? null,
        log: logFile(layout, s.name),
      };
    }),
  );
  const running = found.supervisor.running && services.every((s) => s.running);
  const healthy = running && services.every((s) => s.healthy);
  const failing = services.filter((s) => s.state !== "healthy");
  emit(
    ctx,
    json,
    {
      command: "status",
      running,
      healthy,
      failing: failing.map((s) => s.name),
      data_dir: layout.dataDir,
      gateway_namespace: state?.gateway_namespace ?? null,
      redis: state?.redis ?? null,
      urls: state?.urls ?? null,
      supervisor: {
        pid: found.supervisor.running ? found.supervisor.pid : null,
        running: found.supervisor.running,
      },
      services,
    },
    () => {
      if (!found.supervisor.running && services.every((s) => !s.running)) {
        return ["Sigilum local stack is not running.", "Start it with: sigilum up"];
      }
      return [
        healthy
          ? "Sigilum local stack is running."
          : `Sigilum local stack is degraded: ${failing.map((s) => `${s.name} ${s.state}`).join(", ")}.`,
        ...table(
          ["SERVICE", "PID", "STATE", "RESTARTS", "URL"],
          services.map((s) => [
            s.name,
            s.pid ? String(s.pid) : "-",
            s.state,
            s.restarts > 0 ? `${s.restarts} (last exit ${s.last_exit_code})` : "0",
            s.url ?? "-",
          ]),
        ),
        ...keyValues([
          ["gateway namespace", state?.gateway_namespace],
          ["data dir", layout.dataDir],
        ]),
        ...(healthy
          ? []
          : [
              "",
              ...failing.map((s) => `${s.name}: see ${s.log}`),
              "A crashed service is restarted by the supervisor; to start over: sigilum down && sigilum up",
            ]),
      ];
    },
  );
  if (!healthy) ctx.exitCode = EXIT_FAILURE;
}

export function registerStackCommands(program: Command, ctx: CliContext): void {
  program
    .command("up")
    .description("start the local stack: control plane, verifier and gateway (proxy in inline mode)")
    .option("--foreground", "keep the services attached to this terminal; Ctrl-C stops them")
    .option(
      "--namespace <namespace>",
      "the gateway's namespace (default: $SIGILUM_NAMESPACE or the only identity)",
    )
    .option("--json", "print JSON")
    .action(async (opts: { foreground?: boolean; namespace?: string; json?: boolean }) => {
      const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
      if (await alreadyRunning(ctx, layout, opts.json)) return;
      // Checks first: a failed `up` leaves nothing behind.
      await preflight(ctx.env, {
        redis: await stackRedisOf(ctx.env, layout.dataDir),
        databaseUrl: ctx.env.DATABASE_URL?.trim() || undefined,
        addresses: stackAddresses(ctx.env),
      });
      const prepared = await prepareStack(ctx, { namespace: opts.namespace });
      printPreparation(ctx, prepared);
      if (opts.foreground) await upForeground(ctx, prepared, opts.json);
      else await upBackground(ctx, prepared, opts.json);
    });

  program
    .command("down")
    .description("stop the local stack (SIGTERM, then SIGKILL after SIGILUM_STOP_TIMEOUT_SECONDS)")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => down(ctx, opts.json));

  program
    .command("status")
    .description("show whether the local stack runs and is healthy (exit 1 when not)")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => status(ctx, opts.json));

  program.command("__supervise", { hidden: true }).action(() => supervise(ctx));
}
