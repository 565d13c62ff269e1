import { GatewayError } from "@sigilum-gw/shared/errors";
import { isSafeConnectionId } from "../model/connection/rules.ts";

/**
 * Runtime route parsing: `/proxy/{connection_id}/{rest}` and `/slack/{rest}` (alias of `slack-proxy`).
 * The upstream path is built from the percent-decoded segments, and must stay inside the connection's base
 * path: dot segments (raw, encoded, or with a `;` parameter as in `..;`, which Tomcat-style servers read as
 * `..`), raw backslashes and control characters are refused; empty segments (double slashes) are dropped; an
 * absolute URL in the path is only ever path text. Segments are re-encoded before use, so an encoded `/` or
 * `\` stays inside its segment; the route reports it, and the proxy refuses it unless the connection opts in.
 */

export const SLACK_ALIAS_CONNECTION = "slack-proxy";

export const INVALID_PROXY_PATH = "invalid proxy path, expected /proxy/{connection_id}/... or /slack/...";

export interface RuntimeRoute {
  kind: "proxy";
  connectionId: string;
  /** Decoded, validated path segments below the connection (may be empty). */
  segments: string[];
  /** The request path ended with "/" after at least one segment. */
  trailingSlash: boolean;
  /** Raw query string without "?", as received ("" when absent). */
  rawQuery: string;
  /** A segment holds an encoded `/` or `\` (%2F, %5C): served only by connections that allow it. */
  encodedSeparator: boolean;
}

export type RouteMatch = RuntimeRoute | { kind: "mcp" } | null;

/** Splits the request-target; null when it is not a runtime route at all. Throws GatewayError when malformed. */
export function parseRuntimeRoute(target: string): RouteMatch {
  const q = target.indexOf("?");
  const rawPath = q === -1 ? target : target.slice(0, q);
  const rawQuery = q === -1 ? "" : target.slice(q + 1);

  let connectionId: string;
  let rest: string;
  if (rawPath === "/proxy" || rawPath.startsWith("/proxy/")) {
    const remainder = rawPath.slice("/proxy/".length);
    const slash = remainder.indexOf("/");
    const rawId = slash === -1 ? remainder : remainder.slice(0, slash);
    rest = slash === -1 ? "" : remainder.slice(slash + 1);
    connectionId = decodeSegment(rawId);
    if (connectionId === "" || !isSafeConnectionId(connectionId))
      throw new GatewayError("INVALID_REQUEST", INVALID_PROXY_PATH);
  } else if (rawPath === "/slack" || rawPath.startsWith("/slack/")) {
    connectionId = SLACK_ALIAS_CONNECTION;
    rest = rawPath.slice("/slack".length);
  } else if (rawPath === "/mcp" || rawPath.startsWith("/mcp/")) {
    return { kind: "mcp" };
  } else {
    return null;
  }

  const segments: string[] = [];
  let encodedSeparator = false;
  for (const raw of rest.split("/")) {
    if (raw === "") continue;
    if (raw.includes("\\"))
      throw new GatewayError("PATH_TRAVERSAL", "invalid proxy path: backslashes are not allowed");
    const segment = decodeSegment(raw);
    if (segment === "") continue;
    if (ENCODED_SEPARATOR.test(raw)) encodedSeparator = true;
    for (const part of segment.split(/[/\\]/)) {
      if (DOT_SEGMENT.test(part)) {
        throw new GatewayError("PATH_TRAVERSAL", "invalid proxy path: dot segments are not allowed");
      }
    }
    segments.push(segment);
  }
  return {
    kind: "proxy",
    connectionId,
    segments,
    trailingSlash: segments.length > 0 && rest.endsWith("/"),
    rawQuery,
    encodedSeparator,
  };
}

/** `.`, `..`, and either with a `;` path parameter (`..;x`, `.;`), which some servers strip before resolving. */
const DOT_SEGMENT = /^\.\.?(;.*)?$/;
const ENCODED_SEPARATOR = /%2f|%5c/i;

function decodeSegment(raw: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new GatewayError("PATH_TRAVERSAL", "invalid proxy path: malformed percent-encoding");
  }
  if (/[\u0000-\u001f\u007f]/.test(decoded)) {
    throw new GatewayError("PATH_TRAVERSAL", "invalid proxy path: control characters are not allowed");
  }
  return decoded;
}

/** Percent-encodes one path segment, leaving RFC 3986 pchar characters readable. */
export function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(21|24|26|27|28|29|2A|2B|2C|3A|3B|3D|40)/gi, (m) =>
    decodeURIComponent(m),
  );
}

/**
 * join(base path, path prefix, upstream segments): each part trimmed of slashes, empty parts dropped, always a
 * leading "/". Base path and prefix come from validated configuration; the segments were validated above, so the
 * result can never climb out of the base path.
 */
export function joinUpstreamPath(basePath: string, pathPrefix: string, route: RuntimeRoute): string {
  const parts: string[] = [];
  for (const fixed of [basePath, pathPrefix]) {
    const trimmed = fixed.trim().replace(/^\/+|\/+$/g, "");
    if (trimmed !== "") parts.push(trimmed);
  }
  for (const segment of route.segments) parts.push(encodePathSegment(segment));
  const path = `/${parts.join("/")}`;
  return route.trailingSlash && path !== "/" ? `${path}/` : path;
}
