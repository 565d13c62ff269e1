import {
  composeEnv,
  listenReportEnv,
  parseConfig,
  shutdownEnv,
  usageWorkerAddrEnv,
} from "../../src/config.ts";
import { createMetricsRegistry } from "../../src/metrics.ts";
import { createOpsServer, runService } from "../../src/service-shell.ts";

/**
 * A service run by the shell for its tests: the ops server alone, whose /metrics answers after SHELL_TEST_SLOW_MS
 * (a request still in flight at the signal), configured by USAGE_WORKER_ADDR, LISTEN_ADDRESS_FILE and
 * GATEWAY_SHUTDOWN_TIMEOUT_SECONDS.
 */
const slowMs = Number(process.env.SHELL_TEST_SLOW_MS ?? 0);

await runService({
  name: "shell-test",
  label: "shell test",
  configExitCode: Number(process.env.SHELL_TEST_CONFIG_EXIT ?? 1),
  loadConfig: () => parseConfig(composeEnv(usageWorkerAddrEnv, listenReportEnv, shutdownEnv), process.env),
  listenAddressFile: (config) => config.LISTEN_ADDRESS_FILE,
  create(config, logger) {
    const registry = createMetricsRegistry({ service: "shell-test" });
    const ops = createOpsServer({
      service: "shell-test",
      registry,
      metricsText: () => new Promise((resolve) => setTimeout(resolve, slowMs)).then(() => registry.metrics()),
    });
    return {
      listening: { extra: "field" },
      start: () => ops.listen(config.USAGE_WORKER_ADDR, "USAGE_WORKER_ADDR"),
      async stop() {
        const outcome = await ops.stop(config.GATEWAY_SHUTDOWN_TIMEOUT_SECONDS * 1000);
        logger.info({ outcome }, "shell test stopped");
        return outcome;
      },
    };
  },
});
