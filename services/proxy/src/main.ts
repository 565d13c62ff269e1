import { ConfigError } from "@sigilum-gw/shared/config";
import { reportListening } from "@sigilum-gw/shared/listen-report";
import { BatchedDestination, createLogger, flushLogs } from "@sigilum-gw/shared/logger";
import { loadProxyConfig, type ProxyConfig } from "./config.ts";
import { createProxy } from "./server.ts";

/** `npm start -w services/proxy`: configured only by the environment; SIGINT/SIGTERM drain gracefully. */

// Buffered asynchronous stdout: decision lines are written ~64 KB at a time (one syscall for hundreds of lines) and
// at least every 250 ms, instead of one write per line, which cost more CPU than forwarding the request.
const destination = new BatchedDestination({ batchBytes: 64 * 1024 });
setInterval(() => destination.flush(), 250).unref();
const logger = createLogger("proxy", { destination });
async function exit(code: number): Promise<never> {
  await flushLogs(destination);
  process.exit(code);
}

let config: ProxyConfig;
try {
  config = loadProxyConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    logger.fatal({ issues: err.issues.map((i) => i.message) }, `invalid configuration: ${err.message}`);
    await exit(1);
  }
  throw err;
}

const proxy = createProxy(config, { logger });
try {
  const address = await proxy.listen();
  reportListening(address);
  logger.info(
    { mode: config.authzMode, address: address.address, port: address.port, variable: config.listenVariable },
    `proxy listening on ${address.address}:${address.port} (AUTHZ_MODE=${config.authzMode})`,
  );
} catch (err) {
  logger.fatal({ err }, (err as Error).message);
  await exit(1);
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    proxy
      .shutdown()
      .then((outcome) => exit(outcome === "success" ? 0 : 1))
      .catch(() => exit(1));
  });
}
