import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { ensurePrivateDir } from "../core/files.ts";
import { probeHealth } from "./health.ts";
import { logFile, pidFile, type StackLayout } from "./layout.ts";
import { type ServicePlan, STORES, type StackService } from "./plan.ts";
import { removePidFile, terminate, writePidFile } from "./processes.ts";
import { removeStackState } from "./state.ts";

/**
 * Runs the stack's services as child processes of one supervisor: the `up --foreground` process itself, or a
 * detached `sigilum __supervise` started by `up`. Each child writes its output to logs/<name>.log (and, in the
 * foreground, to the terminal as `[name] line`) and has a pid file.
 *
 * A service that exits before it was ever healthy fails the start: the stack is stopped (a bad configuration does
 * not loop). A service that crashes later is restarted after a backoff (1 s, doubling to 30 s; reset once it has run
 * for a minute), said in the log and in `status` (restarts, last exit code). The stack's own stores (Redis,
 * PostgreSQL) start first, each healthy before the next starts, and stop last.
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
  /**
   * A service started on port 0 reported the port it got (its plan's addressFile): the plans from now on, in which
   * the services started after it reach it there and it keeps that port across restarts.
   */
  onListening?: (service: StackService, port: number) => ServicePlan[];
  /** How long a service on port 0 may take to report its port. */
  listenTimeoutMs?: number;
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
/** How long a first health probe may take: a service answering slowly on a loaded machine is still up. */
const FIRST_HEALTH_PROBE_MS = 5000;

export class Supervisor {
  readonly #options: SupervisorOptions;
  #plans: ServicePlan[];
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
    this.#plans = options.plans;
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

  /** The plans as they are now (with the ports reported by services started on port 0). */
  get plans(): ServicePlan[] {
    return this.#plans;
  }

  /**
   * Starts every service in order; each of the stack's own stores must answer, and each service on port 0 report
   * its port, before the next service starts.
   */
  async start(): Promise<void> {
    const { layout } = this.#options;
    await ensurePrivateDir(layout.runDir);
    await mkdir(layout.logDir, { recursive: true, mode: 0o700 });
    for (const name of this.#plans.map((p) => p.name)) {
      const plan = this.#planOf(name);
      if (plan.addressFile) await rm(plan.addressFile, { force: true });
      await this.#spawn(plan);
      if (STORES.includes(plan.name)) await this.#waitHealthy(plan, 60_000);
      if (plan.addressFile) await this.#learnPort(plan, plan.addressFile);
    }
    void this.#watchFirstHealth();
  }

  #planOf(name: StackService): ServicePlan {
    const plan = this.#plans.find((p) => p.name === name);
    if (!plan) throw new Error(`no plan for ${name}`);
    return plan;
  }

  /** Waits for the address file of a service started on port 0 (or its exit), then replans with that port. */
  async #learnPort(plan: ServicePlan, file: string): Promise<void> {
    const deadline = Date.now() + (this.#options.listenTimeoutMs ?? 90_000);
    while (Date.now() < deadline && this.isRunning(plan.name) && !this.#stopping) {
      const port = await readReportedPort(file);
      if (port !== undefined) {
        if (this.#options.onListening) this.#plans = this.#options.onListening(plan.name, port);
        this.#options.log(`${plan.name} listens on port ${port}`);
        this.#options.onChange?.();
        return;
      }
      await sleep(50);
    }
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

  /**
   * Marks each service once it has answered its health check; only those are restarted after a crash. The probes
   * run side by side with a generous timeout: on a loaded machine one-second probes in a row kept failing, and a
   * healthy service killed later was taken for one that never started, which stopped the whole stack.
   */
  async #watchFirstHealth(): Promise<void> {
    while (!this.#stopping && this.#everHealthy.size < this.#plans.length) {
      await Promise.all(
        this.#plans
          .filter((plan) => !this.#everHealthy.has(plan.name) && this.isRunning(plan.name))
          .map(async (plan) => {
            if (await probeHealth(plan.health, FIRST_HEALTH_PROBE_MS)) this.#everHealthy.add(plan.name);
          }),
      );
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
        if (!this.#stopping) void this.#spawn(this.#planOf(name));
      }, delay),
    );
    this.#options.onChange?.();
  }

  /** Stops every child (its stop signal, SIGKILL after the timeout): the services together, then the stores. */
  async stop(exitCode = 0): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const timer of this.#restartTimers.values()) clearTimeout(timer);
    this.#restartTimers.clear();
    const all = [...this.#running.values()];
    const stores = all.filter((r) => STORES.includes(r.plan.name));
    const services = all.filter((r) => !stores.includes(r));
    for (const wave of [services, stores]) {
      await Promise.all(
        wave.map(async (running) => {
          if (running.child.pid)
            await terminate(running.child.pid, this.#options.stopTimeoutMs, running.plan.stopSignal);
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

const reportSchema = z.object({ port: z.number().int().min(1).max(65535) });

/** The port in a service's address file (LISTEN_ADDRESS_FILE), once it is there. */
async function readReportedPort(file: string): Promise<number | undefined> {
  try {
    const parsed = reportSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
    return parsed.success ? parsed.data.port : undefined;
  } catch {
    return undefined;
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
