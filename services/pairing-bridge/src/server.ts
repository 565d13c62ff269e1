import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
import { createMetricsRegistry } from "@sigilum-gw/shared/metrics";
import { createOpsServer } from "@sigilum-gw/shared/ops-server";
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
  const ops = createOpsServer({
    service: "pairing-bridge",
    registry: createMetricsRegistry({ service: "pairing-bridge" }),
  });
  return {
    server: ops.server,
    logger,
    async start() {
      const address = await ops.listen(config.listen, "BRIDGE_ADDR");
      logger.info({ port: address.port }, "pairing bridge listening");
      return address;
    },
    async stop() {
      const outcome = await ops.stop(config.shutdownTimeoutMs);
      logger.info({ outcome }, "pairing bridge stopped");
    },
  };
}
