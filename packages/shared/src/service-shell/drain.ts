import type { Server } from "node:http";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { type DrainOutcome, type lifecycleMetrics, recordShutdownDrain } from "../metrics.ts";
import { withTimeout } from "../timeout.ts";

/**
 * Stops accepting, lets in-flight work finish for up to `timeoutMs`, then force-closes what is left; the outcome
 * and its duration are recorded in the shutdown metrics of `lifecycle`. `inFlight` reports what is still being
 * answered (requests, or open sockets where keep-alive connections are the unit of work).
 */
export async function drainServer(
  server: Server,
  inFlight: () => number,
  timeoutMs: number,
  lifecycle: ReturnType<typeof lifecycleMetrics>,
): Promise<DrainOutcome> {
  const started = performance.now();
  const closed = new Promise<void>((resolve, reject) =>
    server.close((err) => (err ? reject(err) : resolve())),
  );
  server.closeIdleConnections();
  const deadline = Date.now() + timeoutMs;
  while (inFlight() > 0 && Date.now() < deadline) {
    await sleep(20);
    server.closeIdleConnections();
  }
  let outcome: DrainOutcome = inFlight() > 0 ? "timeout" : "success";
  try {
    server.closeAllConnections();
  } catch {
    outcome = "forced_close_failed";
  }
  await closed.catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ERR_SERVER_NOT_RUNNING" && outcome === "success") outcome = "error";
  });
  recordShutdownDrain(lifecycle, outcome, (performance.now() - started) / 1000);
  return outcome;
}

/** Counts the requests being answered, in the in-flight gauge too; the count drives the drain. */
export function trackRequests(server: Server, lifecycle: ReturnType<typeof lifecycleMetrics>): () => number {
  let inFlight = 0;
  server.on("request", (_req, res) => {
    inFlight++;
    lifecycle.requestsInFlight.inc();
    res.once("close", () => {
      inFlight--;
      lifecycle.requestsInFlight.dec();
    });
  });
  return () => inFlight;
}

/** Counts open connections: where clients keep connections alive between requests (Envoy), each one is work. */
export function trackSockets(server: Server): () => number {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return () => sockets.size;
}

/** Waits for `work` (its failure ignored) for at most `ms`: a shutdown step must finish even when Redis is gone. */
export async function settleWithin(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (work) await withTimeout(work, ms);
}
