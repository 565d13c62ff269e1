import { ConfigError } from "@sigilum-gw/shared/config";
import { reportListening } from "@sigilum-gw/shared/listen-report";
import { createLogger } from "@sigilum-gw/shared/logger";
import { loadUsageWorkerConfig } from "./config.ts";
import { createUsageWorker } from "./worker.ts";

/** `node services/proxy/src/usage-worker/main.ts`: configured only by the environment; SIGINT/SIGTERM stop it. */

try {
  const worker = createUsageWorker(loadUsageWorkerConfig());
  reportListening(await worker.start());
  const stop = () =>
    void worker.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} catch (err) {
  const logger = createLogger("usage-worker");
  if (err instanceof ConfigError) {
    logger.fatal({ issues: err.issues.map((i) => i.message) }, `invalid configuration: ${err.message}`);
  } else {
    logger.fatal({ err }, (err as Error).message);
  }
  process.exit(1);
}
