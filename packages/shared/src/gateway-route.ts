/**
 * The gateway's URL grammar, one for every service: which connection a signed route (`/proxy/{id}/…`,
 * `/mcp/{id}/…`, `/slack/…`) calls, and the exact `@target-uri` the agent must have signed. No signature work
 * happens here; every failure is a reason the caller maps to a plain 4xx.
 */

export interface Route {
  kind: "proxy" | "mcp" | "slack";
  /** The connection id the claim is checked against (`slack-proxy` for the /slack alias). */
  service: string;
}

/** Why a path was refused as unsafe (each one a way to make the proxy resolve another path than the one signed). */
export type UnsafePath =
  | "empty_segment"
  | "dot_segment"
  | "backslash"
  | "malformed_encoding"
  | "control_character";

export type RouteFailure =
  | { ok: false; reason: "invalid_path" | "not_signed_route" }
  | { ok: false; reason: "unsafe_path"; unsafe: UnsafePath };

export type RouteResult = { ok: true; route: Route } | RouteFailure;

/** The path below the connection (`/proxy/{id}/`, `/mcp/{id}/`, `/slack/`): what the proxy forwards. */
export interface RoutePath {
  /** Percent-decoded segments, each checked by the grammar (may be empty). */
  segments: string[];
  /** The path ended with "/" after at least one segment. */
  trailingSlash: boolean;
  /** A segment holds an encoded `/` or `\` (%2F, %5C): served only by connections that allow it. */
  encodedSeparator: boolean;
}

export type RoutePathResult = { ok: true; route: Route; path: RoutePath } | RouteFailure;

const SLACK_SERVICE = "slack-proxy";

function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/**
 * Dot segments and empty segments would let the proxy resolve a different path than the one authorized here,
 * so they are refused instead of normalized (the Go gateway redirects them; behind Envoy a redirect is a deny);
 * so are backslashes (some servers read them as `/`), broken percent-encoding and encoded control characters.
 * With `into`, the decoded segments from index `below` on are collected (the proxy's upstream path).
 */
function unsafeSegment(path: string, below: number, into: RoutePath | undefined): UnsafePath | undefined {
  const segments = path.split("/");
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment === "") {
      if (i !== segments.length - 1) return "empty_segment";
      if (into !== undefined && into.segments.length > 0) into.trailingSlash = true;
      continue;
    }
    if (segment.includes("\\")) return "backslash";
    let decoded = segment;
    if (!segment.includes("%")) {
      // Nothing encoded: the segment is its own decoding and cannot hide a separator.
      if (DOT_SEGMENT.test(segment)) return "dot_segment";
    } else {
      const value = decodeSegment(segment);
      if (value === null) return "malformed_encoding";
      if (DECODED_CONTROL.test(value)) return "control_character";
      // An encoded slash can be legitimate (e.g. GitLab project ids; the proxy asks the connection), an encoded
      // dot segment behind it is not.
      for (const part of value.split(/[/\\]/)) if (DOT_SEGMENT.test(part)) return "dot_segment";
      if (into !== undefined && i >= below && ENCODED_SEPARATOR.test(segment)) into.encodedSeparator = true;
      decoded = value;
    }
    if (into !== undefined && i >= below) into.segments.push(decoded);
  }
  return undefined;
}

/** `.`, `..`, and either with a `;` path parameter (`..;x`), which Tomcat-style servers resolve as `..`. */
const DOT_SEGMENT = /^\.\.?(;.*)?$/;

const CONTROL_RE = /[\u0000-\u0020\u007f]/;
/** Decoded, a space is path text (`a%20b`); other control characters are not. */
const DECODED_CONTROL = /[\u0000-\u001f\u007f]/;
const ENCODED_SEPARATOR = /%2f|%5c/i;

/** `pathOnly` is the request path without the query string, still percent-encoded. */
export function parseRoute(pathOnly: string): RouteResult {
  return classify(pathOnly, undefined);
}

/** `parseRoute`, plus the decoded path below the connection (the proxy forwards it). */
export function parseRoutePath(pathOnly: string): RoutePathResult {
  const path: RoutePath = { segments: [], trailingSlash: false, encodedSeparator: false };
  const parsed = classify(pathOnly, path);
  return parsed.ok ? { ok: true, route: parsed.route, path } : parsed;
}

function classify(pathOnly: string, into: RoutePath | undefined): RouteResult {
  if (!pathOnly.startsWith("/") || CONTROL_RE.test(pathOnly)) return { ok: false, reason: "invalid_path" };
  let kind: Route["kind"];
  let rest: string;
  if (pathOnly === "/slack" || pathOnly.startsWith("/slack/")) {
    const unsafe = unsafeSegment(pathOnly, 2, into);
    if (unsafe !== undefined) return { ok: false, reason: "unsafe_path", unsafe };
    return { ok: true, route: { kind: "slack", service: SLACK_SERVICE } };
  }
  if (pathOnly.startsWith("/proxy/")) {
    kind = "proxy";
    rest = pathOnly.slice("/proxy/".length);
  } else if (pathOnly.startsWith("/mcp/")) {
    kind = "mcp";
    rest = pathOnly.slice("/mcp/".length);
  } else if (pathOnly === "/proxy" || pathOnly === "/mcp") {
    return { ok: false, reason: "invalid_path" };
  } else {
    return { ok: false, reason: "not_signed_route" };
  }
  const unsafe = unsafeSegment(pathOnly, 3, into);
  if (unsafe !== undefined) return { ok: false, reason: "unsafe_path", unsafe };
  const slash = rest.indexOf("/");
  const service = decodeSegment(slash === -1 ? rest : rest.slice(0, slash))?.trim();
  if (!service) return { ok: false, reason: "invalid_path" };
  return { ok: true, route: { kind, service } };
}

export interface TargetInput {
  /** Request target after the `/check` prefix: path plus optional `?query`, as received (still encoded). */
  target: string;
  host: string | undefined;
  forwardedProto: string | undefined;
  peerTrusted: boolean;
}

/**
 * Rebuilds `@target-uri` exactly as the Sigilum gateway does (spec/gateway.md §2.2): scheme from a trusted
 * x-forwarded-proto (or GATEWAY_PUBLIC_URL), Host verbatim, request target verbatim. No WHATWG normalization: the
 * bytes must equal what the agent signed.
 */
export function rebuildTargetUri(input: TargetInput, publicOrigin: string | undefined): string {
  if (publicOrigin) return publicOrigin + input.target;
  let scheme = "http";
  if (input.peerTrusted && input.forwardedProto) {
    const first = input.forwardedProto.split(",")[0]?.trim().toLowerCase();
    if (first === "http" || first === "https") scheme = first;
  }
  const host = input.host?.trim() || "localhost";
  return `${scheme}://${host}${input.target}`;
}
