import cluster from "node:cluster";
import { ConfigError } from "@sigilum-gw/shared/config";
import { reportListening } from "@sigilum-gw/shared/listen-report";
import { createLogger } from "@sigilum-gw/shared/logger";
import { runPrimary } from "./cluster.ts";
import { loadVerifierConfig } from "./config.ts";
import { createVerifierService } from "./server.ts";

const bootLogger = createLogger("verifier");

async function runService(): Promise<void> {
  const config = loadVerifierConfig(process.env);
  const service = await createVerifierService(config);
  reportListening(await service.start());
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.logger.info({ signal }, "shutting down");
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        service.logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  // In cluster mode the primary sends SIGTERM; Ctrl-C reaches every process of the group, the primary decides.
  if (cluster.isWorker) process.removeAllListeners("SIGINT");
}

async function main(): Promise<void> {
  if (cluster.isPrimary) {
    const config = loadVerifierConfig(process.env);
    if (config.workers > 1) return runPrimary(config.workers, bootLogger, config.shutdownTimeoutMs);
  }
  await runService();
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  bootLogger.fatal({ error: message }, "verifier failed to start");
  process.exit(1);
});
