import type { ConnectionRecord } from "../model/connection/types.ts";
import type { UpstreamTarget } from "./forward.ts";
import { joinUpstreamPath, type RuntimeRoute } from "./route.ts";

/**
 * Builds what goes upstream: the URL (connection base + prefix + validated path, the client's query with
 * query_param auth set) and the headers: everything the agent sent except Sigilum signing and identity
 * headers, every `x-sigilum-*` header, hop-by-hop headers and any credential the agent tried to supply for this
 * connection; then the connection's credential, `Host` and `X-Request-Id`.
 */

/** Request headers never forwarded, whatever the connection. */
const ALWAYS_STRIPPED = new Set([
  // Sigilum signing headers (spec §5.6) — the upstream must not see the agent's signature.
  "signature",
  "signature-input",
  "content-digest",
  // hop-by-hop (RFC 9110 §7.6.1) and framing handled by the forwarder
  "connection",
  "proxy-connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "expect",
  "http2-settings",
  // replaced below
  "x-request-id",
  "x-forwarded-for",
  // Forwarding and rewrite headers an upstream (or a proxy in front of it) may trust: only the gateway's own
  // x-forwarded-for is sent; an agent's could spoof its address, host or the path the upstream serves.
  "forwarded",
  "x-real-ip",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-port",
  "x-forwarded-prefix",
  "x-original-url",
  "x-rewrite-url",
  // The agent's own credential: an agent cannot override or smuggle one past the connection's.
  "authorization",
]);

interface ParsedBase {
  origin: string;
  basePath: string;
  host: string;
}

const baseCache = new WeakMap<ConnectionRecord, ParsedBase>();

function parsedBase(record: ConnectionRecord): ParsedBase {
  let parsed = baseCache.get(record);
  if (!parsed) {
    const url = new URL(record.base_url);
    parsed = { origin: url.origin, basePath: url.pathname, host: url.host };
    baseCache.set(record, parsed);
  }
  return parsed;
}

export function buildUpstreamTarget(
  record: ConnectionRecord,
  route: RuntimeRoute,
  credential: string,
): UpstreamTarget {
  const base = parsedBase(record);
  const path = joinUpstreamPath(base.basePath, record.path_prefix, route);
  let query = route.rawQuery;
  if (record.auth_mode === "query_param" && credential !== "") {
    query = setQueryParam(query, record.auth_header_name, record.auth_prefix + credential);
  }
  return { origin: base.origin, path: query === "" ? path : `${path}?${query}`, host: base.host };
}

const encodeQueryComponent = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");

function decodeQueryKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    return raw;
  }
}

/** Replaces every occurrence of parameter `name` with one `name=value`; other pairs keep their exact bytes. */
export function setQueryParam(rawQuery: string, name: string, value: string): string {
  const kept: string[] = [];
  for (const pair of rawQuery.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (decodeQueryKey(eq === -1 ? pair : pair.slice(0, eq)) === name) continue;
    kept.push(pair);
  }
  kept.push(`${encodeQueryComponent(name)}=${encodeQueryComponent(value)}`);
  return kept.join("&");
}

export interface HeaderOptions {
  record: ConnectionRecord;
  credential: string;
  requestId: string;
  /** Direct peer address, appended to X-Forwarded-For like any reverse proxy. */
  peerIp: string;
  host: string;
  /** Length of a buffered body; undefined when the body is streamed (the client's framing is kept). */
  bodyLength: number | undefined;
}

function isStripped(
  name: string,
  connectionNamed: Set<string> | undefined,
  credentialHeader: string,
): boolean {
  if (ALWAYS_STRIPPED.has(name)) return true;
  if (name.startsWith("sigilum-") || name.startsWith("x-sigilum-")) return true;
  if (name === credentialHeader) return true;
  return connectionNamed?.has(name) ?? false;
}

/** `rawHeaders` is Node's flat [name, value, ...] list (duplicates and case preserved). */
export function buildUpstreamHeaders(rawHeaders: readonly string[], opts: HeaderOptions): string[] {
  const { record } = opts;
  const credentialHeader = record.auth_mode === "query_param" ? "" : record.auth_header_name.toLowerCase();
  let connectionNamed: Set<string> | undefined;
  let priorForwardedFor = "";
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name === "connection") {
      connectionNamed ??= new Set();
      for (const token of rawHeaders[i + 1]!.split(",")) {
        const t = token.trim().toLowerCase();
        if (t !== "") connectionNamed.add(t);
      }
    } else if (name === "x-forwarded-for") {
      priorForwardedFor =
        priorForwardedFor === "" ? rawHeaders[i + 1]! : `${priorForwardedFor}, ${rawHeaders[i + 1]}`;
    }
  }

  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (isStripped(lower, connectionNamed, credentialHeader)) continue;
    if (lower === "content-length" && opts.bodyLength !== undefined) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  out.push("host", opts.host);
  if (opts.bodyLength !== undefined && (opts.bodyLength > 0 || hasContentLength(rawHeaders))) {
    out.push("content-length", String(opts.bodyLength));
  }
  out.push("x-request-id", opts.requestId);
  out.push(
    "x-forwarded-for",
    priorForwardedFor === "" ? opts.peerIp : `${priorForwardedFor}, ${opts.peerIp}`,
  );
  if (credentialHeader !== "") out.push(record.auth_header_name, record.auth_prefix + opts.credential);
  return out;
}

function hasContentLength(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "content-length") return true;
  }
  return false;
}
