import type { AddressInfo } from "node:net";
import { ConfigError } from "@sigilum-gw/shared/config";
import { reportListening } from "@sigilum-gw/shared/listen-report";
import { createLogger } from "@sigilum-gw/shared/logger";
import { loadConfig } from "./config.ts";
import { startControlPlane } from "./server.ts";

const log = createLogger("control-plane");

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) log.fatal({ variable: issue.variable }, issue.message);
      process.exit(2);
    }
    throw err;
  }
  const running = await startControlPlane(config, {
    log: createLogger("control-plane", { level: config.logLevel }),
  });
  reportListening(running.server.address() as AddressInfo);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    running.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err) => {
  log.fatal({ err }, "control plane failed to start");
  process.exit(1);
});
