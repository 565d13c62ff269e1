import { pino } from "pino";

export type LogDestination = ReturnType<typeof pino.destination>;

/**
 * Asynchronous stdout for a service's logs: the hot path never blocks on a slow log pipe, and lines written while
 * a write is in flight leave together. `minLength` > 0 also holds lines back until that many bytes are waiting.
 */
export function stdoutDestination(minLength = 1): LogDestination {
  const destination = pino.destination({ dest: 1, sync: false, minLength: Math.max(1, minLength) });
  // A reader that went away (EPIPE) loses the logs, never the process.
  destination.on("error", () => undefined);
  return destination;
}

/**
 * Writes out what is waiting, for at most `timeoutMs`. Never `flushSync()`: sonic-boom retries a failed
 * synchronous write forever when the error is not EAGAIN, so a service whose stdout reader has exited (EPIPE)
 * would hang in its exit path and ignore every further signal.
 */
export function flushLogs(destination: LogDestination, timeoutMs = 1000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      destination.flush(done);
    } catch {
      done();
    }
  });
}
