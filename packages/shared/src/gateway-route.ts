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

export type RouteResult =
  | { ok: true; route: Route }
  | { ok: false; reason: "invalid_path" | "unsafe_path" | "not_signed_route" };

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
 * so they are refused instead of normalized (the Go gateway redirects them; behind Envoy a redirect is a deny).
 */
function hasUnsafeSegments(path: string): boolean {
  const segments = path.split("/");
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment === "") {
      if (i === segments.length - 1) continue;
      return true;
    }
    if (!segment.includes("%") && !segment.includes("\\")) {
      // Nothing encoded, no backslash: the segment is its own decoding and cannot hide a separator.
      if (DOT_SEGMENT.test(segment)) return true;
      continue;
    }
    const decoded = decodeSegment(segment);
    if (decoded === null) return true;
    // An encoded slash can be legitimate (e.g. GitLab project ids; the proxy asks the connection), an encoded
    // dot segment behind it is not.
    for (const part of decoded.split(/[/\\]/)) if (DOT_SEGMENT.test(part)) return true;
  }
  return false;
}

/** `.`, `..`, and either with a `;` path parameter (`..;x`), which Tomcat-style servers resolve as `..`. */
const DOT_SEGMENT = /^\.\.?(;.*)?$/;

const CONTROL_RE = /[\u0000-\u0020\u007f]/;

/** `pathOnly` is the request path without the query string, still percent-encoded. */
export function parseRoute(pathOnly: string): RouteResult {
  if (!pathOnly.startsWith("/") || CONTROL_RE.test(pathOnly)) return { ok: false, reason: "invalid_path" };
  let kind: Route["kind"];
  let rest: string;
  if (pathOnly === "/slack" || pathOnly.startsWith("/slack/")) {
    if (hasUnsafeSegments(pathOnly)) return { ok: false, reason: "unsafe_path" };
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
  if (hasUnsafeSegments(pathOnly)) return { ok: false, reason: "unsafe_path" };
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
