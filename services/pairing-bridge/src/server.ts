import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
import { createMetricsRegistry } from "@sigilum-gw/shared/metrics";
import { createOpsServer } from "@sigilum-gw/shared/ops-server";
import type { BridgeConfig } from "./config.ts";
import { createGatewayAdmin } from "./gateway-admin.ts";
import { PairingLink, type Terminal } from "./link.ts";
import { logReporter, type Reporter, textReporter } from "./reporter.ts";

export interface PairingBridge {
  server: Server;
  logger: Logger;
  report: Reporter;
  /** null while unpaired. */
  link: PairingLink | null;
  start(): Promise<AddressInfo>;
  /** Runs the link until the session is terminal (its reason) or the bridge is stopped (null); unpaired, waits for stop. */
  run(): Promise<Terminal | null>;
  stop(): Promise<void>;
}

/**
 * The pairing bridge: the outbound link to the control plane, and its own listener for health (with the pairing
 * state), readiness (ready while the link is connected, or while unpaired) and metrics.
 */
export function createPairingBridge(config: BridgeConfig): PairingBridge {
  const logger = createLogger("pairing-bridge", { level: config.logLevel });
  const report = config.output === "text" ? textReporter() : logReporter(logger);
  const link = config.pairing
    ? new PairingLink(config.pairing, createGatewayAdmin(config.pairing), report)
    : null;
  let stopped: () => void = () => {};
  let stopping: Promise<void> | undefined;
  const untilStopped = new Promise<null>((resolve) => {
    stopped = () => resolve(null);
  });
  const ops = createOpsServer({
    service: "pairing-bridge",
    registry: createMetricsRegistry({ service: "pairing-bridge" }),
    // Unpaired is a valid resting state (a compose/Kubernetes service waiting for a session); paired, ready means
    // the link is up.
    ready: () => !link || link.state === "connected",
    details: () => ({
      pairing: link
        ? {
            state: link.state,
            session_id: config.pairing?.sessionId,
            connected_since:
              link.connectedSince === null ? null : new Date(link.connectedSince).toISOString(),
            failed_attempts: link.failures,
          }
        : { state: "unpaired" },
    }),
  });
  return {
    server: ops.server,
    logger,
    report,
    link,
    async start() {
      const address = await ops.listen(config.listen, "BRIDGE_ADDR");
      logger.info({ port: address.port }, "pairing bridge listening");
      return address;
    },
    run: () => (link ? link.run() : untilStopped),
    stop() {
      stopping ??= (async () => {
        link?.stop();
        stopped();
        const outcome = await ops.stop(config.shutdownTimeoutMs);
        logger.info({ outcome }, "pairing bridge stopped");
      })();
      return stopping;
    },
  };
}
