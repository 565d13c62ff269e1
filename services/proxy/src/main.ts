import { BatchedDestination } from "@sigilum-gw/shared/logger";
import { runService } from "@sigilum-gw/shared/service-shell";
import { loadProxyConfig } from "./config.ts";
import { createProxy } from "./server.ts";

/** `npm start -w services/proxy`: configured only by the environment; SIGINT/SIGTERM drain gracefully. */

// Buffered asynchronous stdout: decision lines are written ~64 KB at a time (one syscall for hundreds of lines) and
// at least every 250 ms, instead of one write per line, which cost more CPU than forwarding the request.
const destination = new BatchedDestination({ batchBytes: 64 * 1024 });
setInterval(() => destination.flush(), 250).unref();

await runService({
  name: "proxy",
  label: "proxy",
  destination,
  loadConfig: () => loadProxyConfig(),
  logLevel: (config) => config.logLevel,
  listenAddressFile: (config) => config.listenAddressFile,
  create: (config, logger) => createProxy(config, { logger }),
});
