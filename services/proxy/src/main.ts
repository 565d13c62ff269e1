import { batchedStdout } from "@sigilum-gw/shared/logger";
import { runService } from "@sigilum-gw/shared/service-shell";
import { loadProxyConfig } from "./config.ts";
import { createProxy } from "./server.ts";

/** `npm start -w services/proxy`: configured only by the environment; SIGINT/SIGTERM drain gracefully. */

await runService({
  name: "proxy",
  label: "proxy",
  destination: batchedStdout(),
  loadConfig: () => loadProxyConfig(),
  logLevel: (config) => config.logLevel,
  listenAddressFile: (config) => config.listenAddressFile,
  create: (config, logger) => createProxy(config, { logger }),
});
