import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createInterface } from "node:readline";
import { ensurePrivateDir } from "../core/files.ts";
import { probeHealth } from "./health.ts";
import { logFile, pidFile, type StackLayout } from "./layout.ts";
import type { ServicePlan, StackService } from "./plan.ts";
import { removePidFile, terminate, writePidFile } from "./processes.ts";
import { removeStackState } from "./state.ts";

/**
 * Runs the stack's services as child processes of one supervisor: the `up --foreground` process itself, or a
 * detached `sigilum __supervise` started by `up`. Each child writes its output to logs/<name>.log (and, in the
 * foreground, to the terminal as `[name] line`) and has a pid file.
 *
 * A service that exits before it was ever healthy fails the start: the stack is stopped (a bad configuration does
 * not loop). A service that crashes later is restarted after a backoff (1 s, doubling to 30 s; reset once it has run
 * for a minute), said in the log and in `status` (restarts, last exit code). The stack's own Redis starts first and
 * stops last.
 */

export interface SupervisorOptions {
  layout: StackLayout;
  plans: ServicePlan[];
  /** Inherited environment for every child. */
  baseEnv: NodeJS.ProcessEnv;
  /** Also copy each line of child output to our stdout as `[name] line` (foreground mode). */
  echo: boolean;
  stopTimeoutMs: number;
  /** Our own log lines. */
  log: (line: string) => void;
  /** A child started, restarted or exited: the pids and restart counts changed. */
  onChange?: () => void;
  cwd: string;
  /** Backoff before the first restart; doubles per consecutive crash up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface ServiceReport {
  pid: number | undefined;
  running: boolean;
  restarts: number;
  lastExitCode: number | null;
  /** Exited and waiting for its restart. */
  restarting: boolean;
}

interface Running {
  plan: ServicePlan;
  child: ChildProcess;
  exited: Promise<number>;
  startedAt: number;
  log: WriteStream;
}

const STABLE_MS = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #running = new Map<StackService, Running>();
  readonly #everHealthy = new Set<StackService>();
  readonly #restarts = new Map<StackService, number>();
  readonly #consecutive = new Map<StackService, number>();
  readonly #lastExit = new Map<StackService, number>();
  readonly #restartTimers = new Map<StackService, NodeJS.Timeout>();
  #stopping = false;
  /** The service whose exit before it was healthy stopped the stack. */
  firstExit: StackService | undefined;
  #resolveDone!: (code: number) => void;
  /** Resolves with the exit code once every child is stopped. */
  readonly done: Promise<number>;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  pidOf(service: StackService): number | undefined {
    return this.isRunning(service) ? this.#running.get(service)?.child.pid : undefined;
  }

  isRunning(service: StackService): boolean {
    const running = this.#running.get(service);
    return running !== undefined && running.child.exitCode === null && running.child.signalCode === null;
  }

  report(service: StackService): ServiceReport {
    return {
      pid: this.pidOf(service),
      running: this.isRunning(service),
      restarts: this.#restarts.get(service) ?? 0,
      lastExitCode: this.#lastExit.get(service) ?? null,
      restarting: this.#restartTimers.has(service),
    };
  }

  /** Starts every service in order; the stack's Redis must answer PING before the others start. */
  async start(): Promise<void> {
    const { layout } = this.#options;
    await ensurePrivateDir(layout.runDir);
    await mkdir(layout.logDir, { recursive: true, mode: 0o700 });
    for (const plan of this.#options.plans) {
      await this.#spawn(plan);
      if (plan.name === "redis") await this.#waitHealthy(plan, 15_000);
    }
    void this.#watchFirstHealth();
  }

  async #waitHealthy(plan: ServicePlan, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.isRunning(plan.name) && !this.#stopping) {
      if (await probeHealth(plan.health)) {
        this.#everHealthy.add(plan.name);
        return;
      }
      await sleep(100);
    }
  }

  /** Marks each service once it has answered its health check; only those are restarted after a crash. */
  async #watchFirstHealth(): Promise<void> {
    while (!this.#stopping && this.#everHealthy.size < this.#options.plans.length) {
      for (const plan of this.#options.plans) {
        if (
          !this.#everHealthy.has(plan.name) &&
          this.isRunning(plan.name) &&
          (await probeHealth(plan.health))
        )
          this.#everHealthy.add(plan.name);
      }
      await sleep(250);
    }
  }

  async #spawn(plan: ServicePlan): Promise<void> {
    const { layout } = this.#options;
    if (plan.cwd) await ensurePrivateDir(plan.cwd);
    const log = createWriteStream(logFile(layout, plan.name), { flags: "a", mode: 0o600 });
    await new Promise((resolve) => log.once("open", resolve));
    const child = spawn(plan.command, plan.args, {
      cwd: plan.cwd ?? this.#options.cwd,
      env: { ...this.#options.baseEnv, ...plan.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        log.write(`${line}\n`);
        if (this.#options.echo) process.stdout.write(`[${plan.name}] ${line}\n`);
      });
    }
    const exited = new Promise<number>((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
      child.once("error", (error) => {
        log.write(`cannot start ${plan.command}: ${error.message}\n`);
        resolve(127);
      });
    });
    const running: Running = { plan, child, exited, startedAt: Date.now(), log };
    this.#running.set(plan.name, running);
    if (child.pid) await writePidFile(pidFile(layout, plan.name), child.pid);
    this.#options.log(`started ${plan.name} (pid ${child.pid ?? "?"}) on ${plan.addr}`);
    this.#options.onChange?.();
    void exited.then((code) => this.#onExit(plan.name, running, code));
  }

  async #onExit(name: StackService, running: Running, code: number): Promise<void> {
    if (this.#running.get(name) !== running) return;
    await removePidFile(pidFile(this.#options.layout, name));
    if (this.#stopping) {
      running.log.end();
      return;
    }
    this.#lastExit.set(name, code);
    if (!this.#everHealthy.has(name)) {
      running.log.end();
      this.firstExit ??= name;
      this.#options.log(`${name} exited with code ${code} before it was healthy; stopping the stack`);
      await this.stop(code === 0 ? 1 : code);
      return;
    }
    const consecutive = Date.now() - running.startedAt >= STABLE_MS ? 0 : (this.#consecutive.get(name) ?? 0);
    const base = this.#options.backoffMs ?? 1000;
    const delay = Math.min(base * 2 ** consecutive, this.#options.maxBackoffMs ?? 30_000);
    this.#consecutive.set(name, consecutive + 1);
    const restarts = (this.#restarts.get(name) ?? 0) + 1;
    this.#restarts.set(name, restarts);
    const message = `${name} exited with code ${code}; restarting it in ${delay / 1000}s (restart ${restarts})`;
    this.#options.log(message);
    running.log.write(`[supervisor] ${message}\n`);
    running.log.end();
    this.#restartTimers.set(
      name,
      setTimeout(() => {
        this.#restartTimers.delete(name);
        if (!this.#stopping) void this.#spawn(running.plan);
      }, delay),
    );
    this.#options.onChange?.();
  }

  /** Stops every child (SIGTERM, SIGKILL after the timeout): the services together, then the stack's Redis. */
  async stop(exitCode = 0): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const timer of this.#restartTimers.values()) clearTimeout(timer);
    this.#restartTimers.clear();
    const all = [...this.#running.values()];
    const stores = all.filter((r) => r.plan.name === "redis");
    const services = all.filter((r) => !stores.includes(r));
    for (const wave of [services, stores]) {
      await Promise.all(
        wave.map(async (running) => {
          if (running.child.pid) await terminate(running.child.pid, this.#options.stopTimeoutMs);
          await running.exited;
          await removePidFile(pidFile(this.#options.layout, running.plan.name));
          this.#options.log(`stopped ${running.plan.name}`);
        }),
      );
    }
    await removeStackState(this.#options.layout);
    this.#resolveDone(exitCode);
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
