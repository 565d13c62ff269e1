import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** `services/<name>/src/main.ts`, absolute. */
export function serviceMain(name: "verifier" | "proxy" | "control-plane" | "pairing-bridge" | "cli"): string {
  return fileURLToPath(new URL(`../../../services/${name}/src/main.ts`, import.meta.url));
}

export interface ServiceProcess {
  child: ChildProcess;
  /** The port from the first "listening" log line. */
  port: number;
  output: () => string;
  /** Sends `signal` and resolves with the exit code; rejects (after a SIGKILL) if it is still running after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** A process killed by a signal keeps `exitCode` null and sets `signalCode`: either one means it is gone. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves with the exit code (null after a signal) once `child` has exited, or with "timeout" after `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<number | null | "timeout"> {
  if (hasExited(child)) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      resolve(code);
    };
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve("timeout");
    }, timeoutMs);
    child.once("exit", onExit);
  });
}

/**
 * Sends `signal` unless `child` has already exited and waits for its exit, never unbounded: still running after
 * `graceMs`, it is SIGKILLed and the call rejects, so a hung exit path fails the test that stops it.
 */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = "SIGTERM",
  graceMs = 15_000,
): Promise<number | null> {
  if (hasExited(child)) return child.exitCode;
  child.kill(signal);
  const code = await waitForExit(child, graceMs);
  if (code !== "timeout") return code;
  child.kill("SIGKILL");
  await waitForExit(child, graceMs);
  throw new Error(`process ${child.pid} still running ${graceMs} ms after ${signal}; killed`);
}

/** SIGKILLs `child` if this test process exits first (a failed run must not leave an orphan listening). */
export function killOnExit(child: ChildProcess): void {
  const killChild = () => child.kill("SIGKILL");
  process.once("exit", killChild);
  child.once("exit", () => process.off("exit", killChild));
}

const MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * Runs a service's main.ts as its own process (environment: PATH, HOME and `env` only) and resolves once
 * `listeners` JSON log lines containing `listeningMarker` and a `port` have appeared (cluster workers each log one).
 */
export async function spawnService(
  main: string,
  listeningMarker: string,
  env: Record<string, string>,
  options: { timeoutMs?: number; listeners?: number } = {},
): Promise<ServiceProcess> {
  const { timeoutMs = 20_000, listeners = 1 } = options;
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  killOnExit(child);
  let output = "";
  let started = false;
  // What a process printed, for tests that read its log: the last MAX_OUTPUT characters (a soak logs gigabytes).
  const keep = (chunk: Buffer) => {
    output += chunk.toString("utf8");
    if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT / 2);
  };
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${main} did not start:\n${output}`)), timeoutMs);
    const scan = () => {
      const ports: number[] = [];
      for (const line of output.split("\n")) {
        if (!line.includes(listeningMarker)) continue;
        try {
          const parsed = JSON.parse(line) as { port?: number };
          if (parsed.port) ports.push(parsed.port);
        } catch {
          // a partial line: wait for the rest
        }
      }
      if (ports.length >= listeners) {
        started = true;
        clearTimeout(timer);
        resolve(ports[0] as number);
      }
    };
    // Scanned only until started: every chunk re-reads all output so far, which under traffic grew quadratically.
    child.stdout?.on("data", (chunk: Buffer) => {
      keep(chunk);
      if (!started) scan();
    });
    child.stderr?.on("data", keep);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${main} exited with ${code}:\n${output}`));
    });
  });
  return {
    child,
    port,
    output: () => output,
    stop: (signal = "SIGTERM", graceMs = 15_000) => stopProcess(child, signal, graceMs),
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What a `--json` run printed on stdout, parsed; when it is not JSON, an error that shows both streams. */
export function stdoutJson<T = Record<string, unknown>>(run: RunResult): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(
      `expected JSON on stdout (exit ${run.code})\nstdout: ${run.stdout}\nstderr: ${run.stderr}`,
    );
  }
}

/** Runs a Node script as its own process to the end, `stdin` written to it, and captures what it printed. */
export function runScript(
  main: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; stdin?: string; timeoutMs: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], {
      env: options.env,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}
