import { parseArgs } from "node:util";
import { ConfigError } from "@sigilum-gw/shared/config";
import { createLogger } from "@sigilum-gw/shared/logger";
import { type BridgeConfig, loadBridgeConfig, type PairingSettings } from "./config.ts";
import { preflight } from "./preflight.ts";
import type { Reporter } from "./reporter.ts";
import { createPairingBridge } from "./server.ts";

/**
 * `node services/pairing-bridge/src/main.ts [flags]`: configured by the environment (compose, Kubernetes), or by
 * the reference bridge's flags (the CLI's `sigilum gateway pair`), which also switch output to `[sigilum]` lines.
 * Exit codes: 0 stopped, 1 bad configuration or failed preflight, 42 session terminal (PAIR_SESSION_TERMINAL).
 */

export const EXIT_TERMINAL = 42;

const USAGE = `Usage: pairing-bridge --session-id <id> --pair-code <code> [--namespace <ns>] [--api-url <url>]
       [--gateway-admin-url <url>] [--reconnect-ms <ms>] [--reconnect-max-ms <ms>] [--connect-timeout-ms <ms>]
       [--heartbeat-ms <ms>] [--relay-timeout-ms <ms>]
Environment: PAIRING_SESSION_ID, PAIRING_CODE, PAIRING_NAMESPACE, SIGILUM_REGISTRY_URL, GATEWAY_ADMIN_URL,
GATEWAY_ADMIN_TOKEN, BRIDGE_ADDR (health and metrics), BRIDGE_OUTPUT=json|text.`;

const FLAG_ENV: Record<string, string> = {
  "session-id": "PAIRING_SESSION_ID",
  "pair-code": "PAIRING_CODE",
  namespace: "PAIRING_NAMESPACE",
  "api-url": "SIGILUM_REGISTRY_URL",
  "gateway-admin-url": "GATEWAY_ADMIN_URL",
  "reconnect-ms": "PAIRING_RECONNECT_MIN_MS",
  "reconnect-max-ms": "PAIRING_RECONNECT_MAX_MS",
  "connect-timeout-ms": "PAIRING_CONNECT_TIMEOUT_MS",
  "heartbeat-ms": "PAIRING_HEARTBEAT_MS",
  "relay-timeout-ms": "PAIRING_RELAY_TIMEOUT_MS",
};

/** The environment with the flags applied; null when the flags are bad (usage printed). */
function environment(argv: string[]): NodeJS.ProcessEnv | null {
  const options = Object.fromEntries(
    Object.keys(FLAG_ENV).map((flag) => [flag, { type: "string" as const }]),
  );
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } } }));
  } catch (err) {
    process.stderr.write(`[sigilum] Error: ${(err as Error).message}\n${USAGE}\n`);
    return null;
  }
  if (values.help) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(0);
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (argv.length === 0) return env;
  env.BRIDGE_OUTPUT ??= "text";
  for (const [flag, name] of Object.entries(FLAG_ENV)) {
    const value = values[flag];
    if (typeof value === "string") env[name] = value;
  }
  if (!env.PAIRING_SESSION_ID || !env.PAIRING_CODE) {
    process.stderr.write(`[sigilum] Error: --session-id and --pair-code are required\n${USAGE}\n`);
    return null;
  }
  return env;
}

function announce(report: Reporter, pairing: PairingSettings): void {
  report.info("gateway pairing bridge starting");
  report.info(`api=${pairing.apiUrl}`);
  report.info(`gateway_admin=${pairing.adminUrl}`);
  report.info(`session=${pairing.sessionId} namespace=${pairing.namespace || "-"}`);
  report.info("preflight: validating api and gateway admin endpoints");
}

async function main(): Promise<number> {
  const env = environment(process.argv.slice(2));
  if (!env) return 1;
  let config: BridgeConfig;
  try {
    config = loadBridgeConfig(env);
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : (err as Error).message;
    process.stderr.write(`[sigilum] Error: ${message}\n`);
    return 1;
  }
  const { pairing } = config;
  const bridge = createPairingBridge(config);
  const { report } = bridge;
  if (pairing) {
    announce(report, pairing);
    try {
      await preflight(pairing);
    } catch (err) {
      report.error(`Error: ${(err as Error).message}`);
      return 1;
    }
    report.info("preflight: ok");
  }
  await bridge.start();
  if (pairing) {
    report.info(
      `success: pairing bridge ready (session=${pairing.sessionId}, namespace=${pairing.namespace || "-"}, gateway_admin=${pairing.adminUrl})`,
    );
    report.info("next: keep this process running while dashboard setup is active");
  } else {
    report.warn(
      "not paired: set PAIRING_SESSION_ID and PAIRING_CODE (from `sigilum pairing start`) and restart",
    );
  }
  const stop = () => void bridge.stop();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const terminal = await bridge.run();
  await bridge.stop();
  if (terminal) {
    report.error(
      `PAIR_SESSION_TERMINAL: Pair session appears expired or invalid after ${terminal.attempts + 1} failed connect attempts ` +
        `(http_status=${terminal.status}, code=${terminal.code}, reason=${terminal.message}). ` +
        "Start a new dashboard pairing session and rerun with fresh --session-id/--pair-code.",
    );
    return EXIT_TERMINAL;
  }
  report.info("gateway pairing bridge stopped");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    createLogger("pairing-bridge").fatal({ error: (err as Error).message }, "pairing bridge failed");
    process.exit(1);
  },
);
