import { write as fsWrite } from "node:fs";
import { pino } from "pino";
import { withTimeout } from "../timeout.ts";

/** What a service's log destination offers besides `write`: a bounded flush before exit. */
export interface LogDestination {
  write(line: string): boolean;
  flush(cb?: (err?: Error | null) => void): void;
}

/**
 * Asynchronous stdout for a service's logs: the hot path never blocks on a slow log pipe, and lines written while
 * a write is in flight leave together.
 */
export function stdoutDestination(): LogDestination {
  const destination = pino.destination({ dest: 1, sync: false });
  // A reader that went away (EPIPE) loses the logs, never the process.
  destination.on("error", () => undefined);
  return destination;
}

type WriteFn = (
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: null,
  callback: (err: NodeJS.ErrnoException | null, written: number) => void,
) => void;

export interface BatchedDestinationOptions {
  /** Default 1 (stdout). */
  fd?: number;
  /** Lines wait until this many bytes are pending (or a flush); default 64 KiB. */
  batchBytes?: number;
  /** Lines beyond this many pending bytes are dropped (and counted) while the reader does not keep up. */
  maxPendingBytes?: number;
  /** Pause before retrying a write the pipe refused because it was full (EAGAIN). */
  retryDelayMs?: number;
  /** For tests: the write function (fs.write). */
  writeFn?: WriteFn;
}

/**
 * Buffered asynchronous stdout for high-volume decision lines: lines are kept as an array and leave as one buffer
 * of about `batchBytes`, joined once per write. sonic-boom's `minLength` mode instead measures its growing buffer
 * string on every line (`Buffer.byteLength`, which flattens it): this destination saved the proxy ~8 µs of CPU per
 * request in paired runs (docs/decisions.md). Never blocks and never throws: a full pipe (EAGAIN) is retried after a
 * pause, a short write continues where it stopped, a reader gone (EPIPE) or any other error drops the logs, never
 * the process.
 */
export class BatchedDestination implements LogDestination {
  readonly #fd: number;
  readonly #batchBytes: number;
  readonly #maxPendingBytes: number;
  readonly #retryDelayMs: number;
  readonly #write: WriteFn;
  #lines: string[] = [];
  #pendingBytes = 0;
  #writing = false;
  #inFlightLines = 0;
  #broken = false;
  #dropped = 0;
  #waiters: ((err?: Error | null) => void)[] = [];

  constructor(opts: BatchedDestinationOptions = {}) {
    this.#fd = opts.fd ?? 1;
    this.#batchBytes = opts.batchBytes ?? 64 * 1024;
    this.#maxPendingBytes = opts.maxPendingBytes ?? 16 * 1024 * 1024;
    this.#retryDelayMs = opts.retryDelayMs ?? 20;
    this.#write = opts.writeFn ?? (fsWrite as unknown as WriteFn);
  }

  /** Lines lost: dropped while the reader was too slow, or after it went away. */
  get dropped(): number {
    return this.#dropped;
  }

  write(line: string): boolean {
    // String length, not byte length: a threshold only, and measuring UTF-8 per line is what this avoids.
    if (this.#broken || this.#pendingBytes + line.length > this.#maxPendingBytes) {
      this.#dropped++;
      return false;
    }
    this.#lines.push(line);
    this.#pendingBytes += line.length;
    if (!this.#writing && this.#pendingBytes >= this.#batchBytes) this.#writeBatch();
    return true;
  }

  /** Writes everything pending; `cb` runs once it has left (or could not). */
  flush(cb?: (err?: Error | null) => void): void {
    if (cb) this.#waiters.push(cb);
    if (!this.#writing) this.#writeBatch();
  }

  #writeBatch(): void {
    if (this.#lines.length === 0 || this.#broken) {
      for (const waiter of this.#waiters.splice(0)) waiter();
      return;
    }
    const chunk = Buffer.from(this.#lines.join(""), "utf8");
    this.#inFlightLines = this.#lines.length;
    this.#lines = [];
    this.#pendingBytes = 0;
    this.#writing = true;
    this.#send(chunk, 0);
  }

  #send(chunk: Buffer, offset: number): void {
    this.#write(this.#fd, chunk, offset, chunk.length - offset, null, (err, written) => {
      if (err?.code === "EAGAIN") {
        setTimeout(() => this.#send(chunk, offset), this.#retryDelayMs).unref();
        return;
      }
      if (err) {
        this.#broken = true;
        this.#dropped += this.#inFlightLines + this.#lines.length;
        this.#lines = [];
        this.#pendingBytes = 0;
      } else if (offset + written < chunk.length) {
        this.#send(chunk, offset + written);
        return;
      }
      this.#writing = false;
      if (this.#pendingBytes >= this.#batchBytes || this.#waiters.length > 0) this.#writeBatch();
    });
  }
}

/**
 * A service's decision-heavy stdout: lines leave ~64 KB at a time (one write for hundreds of lines) and at least
 * every `flushMs`, instead of one write per line through the thread pool.
 */
export function batchedStdout(flushMs = 250): BatchedDestination {
  const destination = new BatchedDestination({ batchBytes: 64 * 1024 });
  setInterval(() => destination.flush(), flushMs).unref();
  return destination;
}

/**
 * Writes out what is waiting, for at most `timeoutMs`. Never sonic-boom's `flushSync()`: it retries a failed
 * synchronous write forever when the error is not EAGAIN, so a service whose stdout reader has exited (EPIPE)
 * would hang in its exit path and ignore every further signal.
 */
export async function flushLogs(destination: LogDestination, timeoutMs = 1000): Promise<void> {
  await withTimeout(new Promise<void>((resolve) => destination.flush(() => resolve())), timeoutMs);
}
