import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger, type Logger } from "@sigilum-gw/shared/logger";
import { createMetricsRegistry, type DrainOutcome } from "@sigilum-gw/shared/metrics";
import { createOpsServer } from "@sigilum-gw/shared/service-shell";
import type { BridgeConfig } from "./config.ts";
import { createGatewayAdmin } from "./gateway-admin.ts";
import { PairingLink, type Terminal } from "./link.ts";
import { logReporter, type Reporter, textReporter } from "./reporter.ts";

/** Exit code of a session refused for good (PAIR_SESSION_TERMINAL); 0 stopped, 1 bad configuration or preflight. */
const EXIT_TERMINAL = 42;

export interface PairingBridge {
  server: Server;
  logger: Logger;
  report: Reporter;
  /** null while unpaired. */
  link: PairingLink | null;
  start(): Promise<AddressInfo>;
  /** Runs the link until the session is terminal (exit code 42) or the bridge is stopped (0); unpaired, waits for stop. */
  run(): Promise<number>;
  stop(): Promise<DrainOutcome>;
}

/**
 * The pairing bridge: the outbound link to the control plane, and its own listener for health (with the pairing
 * state), readiness (ready while the link is connected, or while unpaired) and metrics.
 */
export function createPairingBridge(config: BridgeConfig, logger?: Logger): PairingBridge {
  const log = logger ?? createLogger("pairing-bridge", { level: config.logLevel });
  const report = config.output === "text" ? textReporter() : logReporter(log);
  const { pairing } = config;
  const link = pairing ? new PairingLink(pairing, createGatewayAdmin(pairing), report) : null;
  let stopped: () => void = () => {};
  let stopping: Promise<DrainOutcome> | undefined;
  const untilStopped = new Promise<null>((resolve) => {
    stopped = () => resolve(null);
  });
  const ops = createOpsServer({
    service: "pairing-bridge",
    registry: createMetricsRegistry({ service: "pairing-bridge" }),
    // Unpaired is a valid resting state (a compose/Kubernetes service waiting for a session); paired, ready means
    // the link is up.
    ready: () => ({ ready: !link || link.state === "connected" }),
    details: () => ({
      pairing: link
        ? {
            state: link.state,
            session_id: pairing?.sessionId,
            connected_since:
              link.connectedSince === null ? null : new Date(link.connectedSince).toISOString(),
            failed_attempts: link.failures,
          }
        : { state: "unpaired" },
    }),
  });
  const reportTerminal = (terminal: Terminal) =>
    report.error(
      `PAIR_SESSION_TERMINAL: Pair session appears expired or invalid after ${terminal.attempts + 1} failed connect attempts ` +
        `(http_status=${terminal.status}, code=${terminal.code}, reason=${terminal.message}). ` +
        "Start a new dashboard pairing session and rerun with fresh --session-id/--pair-code.",
    );
  return {
    server: ops.server,
    logger: log,
    report,
    link,
    async start() {
      const address = await ops.listen(config.listen, "BRIDGE_ADDR");
      if (pairing) {
        report.info(
          `success: pairing bridge ready (session=${pairing.sessionId}, namespace=${pairing.namespace || "-"}, gateway_admin=${pairing.adminUrl})`,
        );
        report.info("next: keep this process running while dashboard setup is active");
      } else {
        report.warn(
          "not paired: set PAIRING_SESSION_ID and PAIRING_CODE (from `sigilum pairing start`) and restart",
        );
      }
      return address;
    },
    async run() {
      const terminal = await (link ? link.run() : untilStopped);
      if (terminal) {
        reportTerminal(terminal);
        return EXIT_TERMINAL;
      }
      report.info("gateway pairing bridge stopped");
      return 0;
    },
    stop() {
      stopping ??= (async () => {
        link?.stop();
        stopped();
        const outcome = await ops.stop(config.shutdownTimeoutMs);
        log.info({ outcome }, "pairing bridge stopped");
        return outcome;
      })();
      return stopping;
    },
  };
}
