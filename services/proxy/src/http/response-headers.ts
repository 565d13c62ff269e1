import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/** Response headers never relayed back to the agent. */
const RESPONSE_HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * The upstream response's headers (as undici parsed them: lower-case names, repeated headers as arrays) without
 * hop-by-hop headers, for the client.
 */
export function filterResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connection = headers.connection;
  const named = connection
    ? new Set(
        (Array.isArray(connection) ? connection.join(",") : connection)
          .split(",")
          .map((t) => t.trim().toLowerCase()),
      )
    : undefined;
  for (const name in headers) {
    if (RESPONSE_HOP_BY_HOP.has(name) || named?.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
