import { parseArgs } from "node:util";

/**
 * The reference bridge's flags (the CLI's `sigilum gateway pair`) as the variables they set; any flag also switches
 * output to `[sigilum]` lines.
 */

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

/** `base` with the flags applied; null when the flags are bad (usage printed). */
export function environmentFromFlags(argv: string[], base: NodeJS.ProcessEnv): NodeJS.ProcessEnv | null {
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
  const env: NodeJS.ProcessEnv = { ...base };
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
