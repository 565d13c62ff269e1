import cluster from "node:cluster";
import { batchedStdout } from "@sigilum-gw/shared/logger";
import { runService } from "@sigilum-gw/shared/service-shell";
import { runPrimary } from "./cluster.ts";
import { loadVerifierConfig } from "./config.ts";
import { createVerifierService } from "./server.ts";

await runService({
  name: "verifier",
  label: "verifier",
  // Not one write per decision line: that was ~0.9 system calls per decision over the floor (docs/decisions.md).
  destination: batchedStdout(),
  loadConfig: () => loadVerifierConfig(process.env),
  logLevel: (config) => config.logLevel,
  listenAddressFile: (config) => config.listenAddressFile,
  // With VERIFIER_WORKERS > 1 this process only forks, restarts and stops the workers (cluster.ts).
  supervise(config, logger) {
    if (!cluster.isPrimary || config.workers <= 1) return false;
    runPrimary(config.workers, logger, config.shutdownTimeoutMs);
    return true;
  },
  // In cluster mode the primary sends SIGTERM; Ctrl-C reaches every process of the group, the primary decides.
  ignoreSigint: cluster.isWorker,
  create: (config, logger) => createVerifierService(config, { logger }),
});
