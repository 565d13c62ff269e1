import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CliContext } from "../context.ts";
import { ensurePrivateDir } from "../core/files.ts";
import { REPO_ROOT } from "../core/paths.ts";
import { CliError } from "../errors.ts";
import { logFile, pidFile, type StackLayout } from "../stack/layout.ts";
import { isOurProcess, readPidFile, removePidFile, terminate, writePidFile } from "../stack/processes.ts";

/**
 * The pairing bridge run by the CLI (`sigilum gateway pair`, spec §B.6–B.7): in the foreground, or detached with a
 * pid file and a log file under the data directory (`run/gateway-pair-bridge.pid`, `logs/gateway-pair-bridge.log`).
 * A bridge that stopped because its session is terminal leaves PAIR_SESSION_TERMINAL in its log and exits 42.
 */

export const BRIDGE_MAIN = join(REPO_ROOT, "services", "pairing-bridge", "src", "main.ts");
const MARKER = join("services", "pairing-bridge", "src", "main.ts");
const NAME = "gateway-pair-bridge";
export const EXIT_TERMINAL = 42;
export const TERMINAL_MARKER = "PAIR_SESSION_TERMINAL";
export const STALE_HINT =
  "Gateway pair bridge stopped: pairing session is stale/expired.\n" +
  "Start a new pairing session (`sigilum pairing start`) and rerun sigilum gateway pair with fresh --session-id/--pair-code.";

export interface BridgeFiles {
  pidFile: string;
  logFile: string;
}

export const bridgeFiles = (layout: StackLayout): BridgeFiles => ({
  pidFile: pidFile(layout, NAME),
  logFile: logFile(layout, NAME),
});

/** The bridge's environment: the caller's, the admin token, quiet JSON logs, its health on a free port by default. */
export function bridgeEnv(ctx: CliContext, adminToken: string | undefined): NodeJS.ProcessEnv {
  return {
    ...ctx.env,
    ...(adminToken ? { GATEWAY_ADMIN_TOKEN: adminToken } : {}),
    LOG_LEVEL: ctx.env.LOG_LEVEL ?? "warn",
    BRIDGE_ADDR: ctx.env.BRIDGE_ADDR ?? "127.0.0.1:0",
    BRIDGE_OUTPUT: "text",
  };
}

/** Runs the bridge attached to this terminal; resolves with its exit code. */
export function runForeground(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(process.execPath, [BRIDGE_MAIN, ...args], { env, stdio: "inherit" });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.once("SIGINT", forward("SIGINT"));
  process.once("SIGTERM", forward("SIGTERM"));
  return new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
}

export async function runningPid(files: BridgeFiles): Promise<number | undefined> {
  const pid = await readPidFile(files.pidFile);
  return pid !== undefined && (await isOurProcess(pid, MARKER)) ? pid : undefined;
}

export async function endedTerminal(files: BridgeFiles): Promise<boolean> {
  const log = await readFile(files.logFile, "utf8").catch(() => "");
  return log.includes(TERMINAL_MARKER);
}

/**
 * Starts the bridge detached and waits until its link is up (`websocket connected` in its log), it exits, or
 * `settleMs` passes (still connecting: it keeps retrying on its own). An exit is a failure: 42 on a terminal session.
 */
export async function startDaemon(
  layout: StackLayout,
  args: string[],
  env: NodeJS.ProcessEnv,
  settleMs = 20_000,
): Promise<{ pid: number; connected: boolean }> {
  const files = bridgeFiles(layout);
  const running = await runningPid(files);
  if (running !== undefined) {
    throw new CliError(`Gateway pair bridge already running (pid=${running}). Use --stop first.`);
  }
  await ensurePrivateDir(layout.runDir);
  await ensurePrivateDir(layout.logDir);
  const log = openSync(files.logFile, "w", 0o600);
  const child = spawn(process.execPath, [BRIDGE_MAIN, ...args], {
    env,
    detached: true,
    stdio: ["ignore", log, log],
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new CliError("Gateway pair bridge failed to start");
  await writePidFile(files.pidFile, pid);
  let exitCode: number | null | undefined;
  child.once("exit", (code) => {
    exitCode = code;
  });
  const deadline = Date.now() + settleMs;
  while (exitCode === undefined && Date.now() < deadline) {
    if ((await readFile(files.logFile, "utf8").catch(() => "")).includes("websocket connected")) {
      return { pid, connected: true };
    }
    await sleep(100);
  }
  if (exitCode === undefined) return { pid, connected: false };
  await removePidFile(files.pidFile);
  if (exitCode === EXIT_TERMINAL || (await endedTerminal(files))) {
    throw new CliError(STALE_HINT.split("\n")[0]!, {
      hint: STALE_HINT.split("\n")[1],
      exitCode: EXIT_TERMINAL,
    });
  }
  throw new CliError(`Gateway pair bridge failed to start. Check logs: ${files.logFile}`);
}

export async function stopDaemon(layout: StackLayout): Promise<number | undefined> {
  const files = bridgeFiles(layout);
  const pid = await runningPid(files);
  if (pid !== undefined) await terminate(pid, 5000);
  await removePidFile(files.pidFile);
  return pid;
}
