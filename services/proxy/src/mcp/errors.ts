import { loadedMcpSdk } from "./sdk.ts";

/**
 * How an upstream MCP failure is classified: which failures are worth one more attempt (spec §6.4's retry classes),
 * which mean the server's session is gone (re-initialise once), and which only show that the server is alive and
 * said no (a JSON-RPC error: never retried, never counted against the circuit breaker).
 */

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

export function httpStatusOf(err: unknown): number | undefined {
  const sdk = loadedMcpSdk();
  return sdk && err instanceof sdk.SdkHttpError ? err.status : undefined;
}

function networkCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && RETRYABLE_NETWORK.has(code)) return code;
    current = current.cause;
  }
  return undefined;
}

/** The retry class label of a failure, or undefined when it must not be retried. */
export function retryClass(err: unknown): string | undefined {
  const status = httpStatusOf(err);
  if (status !== undefined) return RETRYABLE_STATUS.has(status) ? `http_${status}` : undefined;
  const sdk = loadedMcpSdk();
  if (sdk && err instanceof sdk.SdkError && err.code === sdk.SdkErrorCode.RequestTimeout)
    return "network_timeout";
  const code = networkCode(err);
  return code === undefined ? undefined : `network_${code.toLowerCase()}`;
}

/** The server no longer knows our session (404 on a session request, or a 400 that says so). */
export function isSessionGone(err: unknown): boolean {
  const status = httpStatusOf(err);
  if (status === 404) return true;
  if (status !== undefined && status >= 400 && status < 500) {
    return /session/i.test(err instanceof Error ? err.message : "");
  }
  return false;
}

/** A JSON-RPC error answer: the server is up and refused this request. */
export function isProtocolAnswer(err: unknown): boolean {
  const sdk = loadedMcpSdk();
  return sdk !== undefined && err instanceof sdk.ProtocolError;
}

/** One line, bounded, with the credential removed: safe for an error envelope and the logs. */
export function describeUpstreamError(err: unknown, secrets: readonly string[]): string {
  let text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").trim();
  for (const secret of secrets) if (secret.length >= 4) text = text.split(secret).join("[redacted]");
  return text.length > 240 ? `${text.slice(0, 240)}...` : text;
}
