import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { formatListenAddress, type ListenAddress } from "./config/fields.ts";
import type { DrainOutcome } from "./metrics.ts";

/**
 * Listens on a configured address. A bind failure names the address and the variable that sets it, because
 * ports 38100-38130 sit inside Linux's ephemeral range and are sometimes taken by an outgoing connection.
 */
export function listenOn(server: Server, address: ListenAddress, variable: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      const where = formatListenAddress(address);
      const hint = `set ${variable} to another address, e.g. ${variable}=127.0.0.1:0 for any free port`;
      reject(
        new Error(
          err.code === "EADDRINUSE"
            ? `cannot listen on ${where}: address already in use (${hint})`
            : `cannot listen on ${where}: ${err.message} (${hint})`,
        ),
      );
    };
    const onListening = () => {
      server.off("error", onError);
      resolve(server.address() as AddressInfo);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(address.port, address.host);
  });
}

/**
 * Stops accepting, lets in-flight requests finish for up to `timeoutMs`, then force-closes what is left.
 * `inFlight` reports the number of requests still being answered.
 */
export async function drainServer(
  server: Server,
  inFlight: () => number,
  timeoutMs: number,
): Promise<DrainOutcome> {
  const closed = new Promise<void>((resolve, reject) =>
    server.close((err) => (err ? reject(err) : resolve())),
  );
  server.closeIdleConnections();
  const deadline = Date.now() + timeoutMs;
  while (inFlight() > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
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
  return outcome;
}

/** Waits for `work` (its failure ignored) for at most `ms`: a shutdown step must finish even when Redis is gone. */
export async function settleWithin(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!work) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => {}),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}
