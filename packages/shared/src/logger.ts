import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";
import { sanitizeObject } from "./logger/sanitize.ts";

export type { Logger } from "pino";
export {
  BatchedDestination,
  batchedStdout,
  flushLogs,
  type LogDestination,
  stdoutDestination,
} from "./logger/destination.ts";
export { fingerprint, maskIp, sanitizeObject, sanitizeValue } from "./logger/sanitize.ts";

/** Header paths pino redacts itself: a second line of defence behind the key-based sanitizer. */
const SECRET_HEADERS = [
  "authorization",
  "cookie",
  '["set-cookie"]',
  '["proxy-authorization"]',
  '["x-sigilum-admin-token"]',
  '["x-sigilum-authz"]',
  "signature",
  '["signature-input"]',
  '["sigilum-agent-cert"]',
  '["x-api-key"]',
];
const REDACT_PATHS = ["headers", "req.headers", "res.headers", "request.headers", "response.headers"].flatMap(
  (base) => SECRET_HEADERS.map((h) => (h.startsWith("[") ? `${base}${h}` : `${base}.${h}`)),
);

let lastMs = -1;
let lastTimestamp = "";
/** pino's timestamp field; the string is rebuilt once per millisecond, not per line (toISOString is ~0.5 µs). */
function isoTimestamp(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastTimestamp = `,"timestamp":"${new Date(ms).toISOString()}"`;
  }
  return lastTimestamp;
}

/**
 * Root loggers created with an explicit destination can write decision lines without pino's generic
 * serializer: the line is the sanitized fields through JSON.stringify between the prefix and message pino would
 * write (byte-for-byte the same line, a test holds them together). In a verifier under load this is ~3 µs per
 * decision against ~5.5 µs through pino's per-key loop.
 */
const decisionWriters = new WeakMap<Logger, { destination: DestinationStream; bindings: string }>();
/** Fields pino's redact paths apply to: such lines take pino's path so both lines of defence run. */
const REDACT_BASES = ["headers", "req", "res", "request", "response"];

export interface CreateLoggerOptions {
  /** A service passes its parsed LOG_LEVEL; default "info" (a logger made before the configuration is read). */
  level?: string;
  /** Default: stdout. */
  destination?: DestinationStream;
}

/**
 * JSON lines (pino) with every logged object and child binding passed through the §9 sanitizer: IPs masked,
 * secrets redacted, identities fingerprinted, long strings truncated. The message string itself is not
 * sanitized: put values in fields, never in the message.
 */
export function createLogger(name: string, opts: CreateLoggerOptions = {}): Logger {
  const options: LoggerOptions = {
    name,
    level: opts.level ?? "info",
    base: { pid: process.pid },
    timestamp: isoTimestamp,
    formatters: {
      level: (label) => ({ level: label }),
      bindings: (bindings) => sanitizeObject(bindings),
      log: (obj) => sanitizeObject(obj),
    },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    // Errors are already reduced to {type, message, code, stack} by the sanitizer.
    serializers: { err: (err: unknown) => err },
  };
  const logger = opts.destination ? pino(options, opts.destination) : pino(options);
  if (opts.destination) {
    // The same root bindings pino writes after the timestamp (base pid, then name, through the sanitizer).
    const bindings = JSON.stringify(sanitizeObject({ pid: process.pid, name }));
    decisionWriters.set(logger, { destination: opts.destination, bindings: `,${bindings.slice(1, -1)}` });
  }
  // pino applies formatters.bindings to the root only; children (which inherit this method) sanitize here.
  const child = logger.child;
  logger.child = function sanitizedChild(this: Logger, bindings, childOptions) {
    return child.call(this, sanitizeObject(bindings), childOptions);
  } as Logger["child"];
  return logger;
}

/** Decision events of spec/gateway.md §9, plus ours. */
export type DecisionEvent =
  | "proxy_request_start"
  | "mcp_request_start"
  | "proxy_auth_bypass"
  | "proxy_auth_denied"
  | "proxy_identity_resolved"
  | "proxy_claim_precheck"
  | "proxy_claim_submit"
  | "rotation_warning"
  | "proxy_upstream_error"
  | "proxy_request_end"
  | "mcp_discovery_stale_if_error"
  | "mcp_tool_call_denied"
  | "mcp_request_end"
  | "admin_access_granted"
  | "admin_access_denied"
  | "usage_submit_failed"
  | "authz_check_allowed"
  | "authz_token_rejected";

export interface DecisionFields {
  request_id?: string;
  decision?: "allow" | "deny" | "error";
  reason_code?: string;
  [field: string]: unknown;
}

/**
 * One decision line: `{kind:"decision", component:"gateway", event, ...fields}` at info level (sanitized like
 * every log object). Services skip the call when GATEWAY_LOG_PROXY_REQUESTS is false.
 */
export function decisionLog(logger: Logger, event: DecisionEvent, fields: DecisionFields = {}): void {
  const line = { ...fields, kind: "decision", component: "gateway", event };
  const writer = decisionWriters.get(logger);
  if (writer === undefined || REDACT_BASES.some((key) => key in fields)) return void logger.info(line, event);
  if (!logger.isLevelEnabled("info")) return;
  const body = JSON.stringify(sanitizeObject(line));
  writer.destination.write(
    `{"level":"info"${isoTimestamp()}${writer.bindings},${body.slice(1, -1)},"msg":${JSON.stringify(event)}}\n`,
  );
}
