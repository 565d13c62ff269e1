import { runService } from "@sigilum-gw/shared/service-shell";
import { loadBridgeConfig } from "./config.ts";
import { environmentFromFlags } from "./flags.ts";
import { preflight } from "./preflight.ts";
import { createPairingBridge } from "./server.ts";

/**
 * `node services/pairing-bridge/src/main.ts [flags]`: configured by the environment (compose, Kubernetes), or by
 * the reference bridge's flags (the CLI's `sigilum gateway pair`), which also switch output to `[sigilum]` lines.
 * Exit codes: 0 stopped, 1 bad configuration or failed preflight, 42 session terminal (PAIR_SESSION_TERMINAL).
 */

const env = environmentFromFlags(process.argv.slice(2), process.env);
if (!env) process.exit(1);
await runService({
  name: "pairing-bridge",
  label: "pairing bridge",
  loadConfig: () => loadBridgeConfig(env),
  logLevel: (config) => config.logLevel,
  listenAddressFile: (config) => config.listenAddressFile,
  // Run from the CLI (flags): the reference bridge's `[sigilum] Error:` lines, not JSON.
  ...(env.BRIDGE_OUTPUT === "text"
    ? { reportFatal: (message: string) => void process.stderr.write(`[sigilum] Error: ${message}\n`) }
    : {}),
  async create(config, logger) {
    const bridge = createPairingBridge(config, logger);
    if (config.pairing) await preflight(config.pairing, bridge.report);
    return bridge;
  },
});
