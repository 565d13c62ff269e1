import { runService } from "@sigilum-gw/shared/service-shell";
import { loadUsageWorkerConfig } from "./config.ts";
import { createUsageWorker } from "./worker.ts";

/** `node services/proxy/src/usage-worker/main.ts`: configured only by the environment; SIGINT/SIGTERM stop it. */
await runService({
  name: "usage-worker",
  label: "usage worker",
  loadConfig: () => loadUsageWorkerConfig(),
  logLevel: (config) => config.logLevel,
  listenAddressFile: (config) => config.listenAddressFile,
  create: (config, logger) => createUsageWorker(config, { logger }),
});
