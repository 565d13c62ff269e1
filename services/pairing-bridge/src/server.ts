import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { sendError } from "@sigilum-gw/shared/errors";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
import {
  createMetricsRegistry,
  lifecycleMetrics,
  metricsHandler,
  recordShutdownDrain,
  trackInFlight,
} from "@sigilum-gw/shared/metrics";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import { drainServer, listenOn } from "@sigilum-gw/shared/server-lifecycle";
import type { BridgeConfig } from "./config.ts";

export interface PairingBridge {
  server: Server;
  logger: Logger;
  start(): Promise<AddressInfo>;
  stop(): Promise<void>;
}

/**
 * The pairing bridge's own listener: health and metrics only (DESIGN.md §3). Its outbound WebSocket to the
 * control plane, relaying dashboard admin commands to the proxy, plugs in beside this server.
 */
export function createPairingBridge(config: BridgeConfig): PairingBridge {
  const logger = createLogger("pairing-bridge", { level: config.logLevel });
  const registry = createMetricsRegistry({ service: "pairing-bridge" });
  const lifecycle = lifecycleMetrics(registry);
  const metrics = metricsHandler(registry);
  let inFlight = 0;

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
    if (path === "/health" || path === "/health/live" || path === "/health/ready") {
      if (req.method !== "GET" && req.method !== "HEAD") {
        sendError(res, "METHOD_NOT_ALLOWED", { requestId, headers: { allow: "GET, HEAD" } });
        return;
      }
      const body = JSON.stringify({
        status: "ok",
        service: "pairing-bridge",
        timestamp: new Date().toISOString(),
      });
      res.writeHead(200, {
        "content-type": "application/json",
        "x-request-id": requestId,
        "cache-control": "no-store",
      });
      res.end(body);
      return;
    }
    sendError(res, "NOT_FOUND", { requestId });
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 60_000;

  return {
    server,
    logger,
    async start() {
      const address = await listenOn(server, config.listen, "BRIDGE_ADDR");
      logger.info({ port: address.port }, "pairing bridge listening");
      return address;
    },
    async stop() {
      const started = performance.now();
      const outcome = await drainServer(server, () => inFlight, config.shutdownTimeoutMs);
      recordShutdownDrain(lifecycle, outcome, (performance.now() - started) / 1000);
      logger.info({ outcome }, "pairing bridge stopped");
    },
  };
}
