import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { ListenAddress } from "./config/fields.ts";
import { sendError } from "./errors.ts";
import {
  type DrainOutcome,
  lifecycleMetrics,
  metricsHandler,
  recordShutdownDrain,
  trackInFlight,
} from "./metrics.ts";
import { requestIdFrom } from "./request-id.ts";
import { drainServer, listenOn } from "./server-lifecycle.ts";

/**
 * The listener of a service that serves no traffic of its own (the pairing bridge, the usage worker): health,
 * liveness, readiness and Prometheus metrics, nothing else, with a graceful drain on stop.
 */

export interface OpsServerOptions {
  /** Named in the health bodies. */
  service: string;
  registry: Registry;
  /** `/health/ready`; `/health` and `/health/live` answer ok while the process runs. Default: always ready. */
  ready?: () => boolean | Promise<boolean>;
  /** Extra fields of the health and readiness bodies (the bridge's pairing state). */
  details?: () => Record<string, unknown>;
}

export interface OpsServer {
  server: Server;
  /** Binds `address`; a failure names `variable`, the setting that moves it. */
  listen(address: ListenAddress, variable: string): Promise<AddressInfo>;
  /** Drains in-flight requests (bounded), records the outcome in the shutdown metrics. */
  stop(timeoutMs: number): Promise<DrainOutcome>;
}

export function createOpsServer(opts: OpsServerOptions): OpsServer {
  const lifecycle = lifecycleMetrics(opts.registry);
  const metrics = metricsHandler(opts.registry);
  const ready = opts.ready ?? (() => true);
  let inFlight = 0;

  const healthy = (res: ServerResponse, requestId: string) => {
    res.writeHead(200, {
      "content-type": "application/json",
      "x-request-id": requestId,
      "cache-control": "no-store",
    });
    res.end(
      JSON.stringify({
        status: "ok",
        service: opts.service,
        timestamp: new Date().toISOString(),
        ...opts.details?.(),
      }),
    );
  };

  const server = createServer((req, res) => {
    inFlight++;
    res.once("close", () => inFlight--);
    trackInFlight(lifecycle, res);
    const requestId = requestIdFrom(req.headers);
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      void metrics(req, res);
      return;
    }
    if (path !== "/health" && path !== "/health/live" && path !== "/health/ready") {
      sendError(res, "NOT_FOUND", { requestId });
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendError(res, "METHOD_NOT_ALLOWED", { requestId, headers: { allow: "GET, HEAD" } });
      return;
    }
    if (path !== "/health/ready") return healthy(res, requestId);
    Promise.resolve()
      .then(ready)
      .catch(() => false)
      .then((isReady) =>
        isReady
          ? healthy(res, requestId)
          : sendError(res, "NOT_READY", { requestId, message: `${opts.service} is not ready` }),
      );
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 60_000;

  return {
    server,
    listen: (address, variable) => listenOn(server, address, variable),
    async stop(timeoutMs) {
      const started = performance.now();
      const outcome = await drainServer(server, () => inFlight, timeoutMs);
      recordShutdownDrain(lifecycle, outcome, (performance.now() - started) / 1000);
      return outcome;
    },
  };
}
