import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createInterface } from "node:readline";
import { ensurePrivateDir } from "../lib/files.ts";
import { logFile, pidFile, type StackLayout } from "./layout.ts";
import type { ServicePlan, StackService } from "./plan.ts";
import { removePidFile, terminate, writePidFile } from "./processes.ts";
import { removeStackState } from "./state.ts";

/**
 * Runs the stack's services as child processes of one supervisor: the `up --foreground` process itself, or a
 * detached `sigilum __supervise` started by `up`. It writes a pid file per child, stops every child when one
 * of them exits (the stack is all or nothing, like the reference `up`).
 */

export interface SupervisorOptions {
  layout: StackLayout;
  plans: ServicePlan[];
  /** Inherited environment for every child. */
  baseEnv: NodeJS.ProcessEnv;
  /** `prefix`: child output on our stdout as `[name] line`; `files`: each child to logs/<name>.log. */
  output: "prefix" | "files";
  stopTimeoutMs: number;
  /** Our own log lines. */
  log: (line: string) => void;
  cwd: string;
}

interface Running {
  plan: ServicePlan;
  child: ChildProcess;
  exited: Promise<number>;
  log?: WriteStream;
}

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #running = new Map<StackService, Running>();
  #stopping = false;
  /** The service whose unexpected exit stopped the stack. */
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
    return this.#running.get(service)?.child.pid;
  }

  isRunning(service: StackService): boolean {
    const running = this.#running.get(service);
    return running !== undefined && running.child.exitCode === null && running.child.signalCode === null;
  }

  async start(): Promise<void> {
    const { layout } = this.#options;
    await ensurePrivateDir(layout.runDir);
    await mkdir(layout.logDir, { recursive: true, mode: 0o700 });
    for (const plan of this.#options.plans) await this.#spawn(plan);
  }

  async #spawn(plan: ServicePlan): Promise<void> {
    const { layout, output } = this.#options;
    const logStream =
      output === "files"
        ? createWriteStream(logFile(layout, plan.name), { flags: "a", mode: 0o600 })
        : undefined;
    if (logStream) await new Promise((resolve) => logStream.once("open", resolve));
    const child = spawn(process.execPath, [plan.entry], {
      cwd: this.#options.cwd,
      env: { ...this.#options.baseEnv, ...plan.env },
      stdio: ["ignore", logStream ?? "pipe", logStream ?? "pipe"],
    });
    if (output === "prefix") {
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream) continue;
        createInterface({ input: stream }).on("line", (line) =>
          process.stdout.write(`[${plan.name}] ${line}\n`),
        );
      }
    }
    const exited = new Promise<number>((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
      child.once("error", () => resolve(1));
    });
    const running: Running = { plan, child, exited, log: logStream };
    this.#running.set(plan.name, running);
    if (child.pid) await writePidFile(pidFile(layout, plan.name), child.pid);
    this.#options.log(`started ${plan.name} (pid ${child.pid ?? "?"}) on ${plan.addr}`);
    void exited.then((code) => this.#onExit(plan.name, running, code));
  }

  async #onExit(name: StackService, running: Running, code: number): Promise<void> {
    running.log?.end();
    if (this.#running.get(name) !== running) return;
    await removePidFile(pidFile(this.#options.layout, name));
    if (this.#stopping) return;
    this.firstExit ??= name;
    this.#options.log(`${name} exited with code ${code}; stopping the stack`);
    await this.stop(code === 0 ? 1 : code);
  }

  /** Stops every child (SIGTERM, SIGKILL after the timeout), in reverse start order, and cleans up. */
  async stop(exitCode = 0): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const order = [...this.#running.values()].reverse();
    await Promise.all(
      order.map(async (running) => {
        if (running.child.pid) await terminate(running.child.pid, this.#options.stopTimeoutMs);
        await running.exited;
        await removePidFile(pidFile(this.#options.layout, running.plan.name));
        this.#options.log(`stopped ${running.plan.name}`);
      }),
    );
    await removeStackState(this.#options.layout);
    this.#resolveDone(exitCode);
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
