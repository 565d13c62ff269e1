import { parseRoutePath, type RoutePath, type UnsafePath } from "@sigilum-gw/shared/gateway-route";
import { deny, ok, type Result } from "@sigilum-gw/shared/stage";
import { isSafeConnectionId } from "../model/connection/rules.ts";
import type { ProxyDetail } from "./exchange.ts";
import { INVALID_MCP_PATH, type McpRoute, mcpRoute } from "./mcp-route.ts";

/**
 * The route stage: which runtime route a request-target calls, by the gateway's one URL grammar (shared with the
 * verifier, `@sigilum-gw/shared/gateway-route`): `/proxy/{connection_id}/{rest}`, `/slack/{rest}` (alias of
 * `slack-proxy`) and `/mcp/{connection_id}/...`. Empty segments (double slashes), dot segments (raw, encoded, or
 * with a `;` parameter as in `..;`), backslashes, broken percent-encoding and control characters are refused
 * with the verifier's code, so the upstream path, built from the decoded segments, stays inside the connection's
 * base path. Segments are re-encoded before use, so an encoded `/` or `\` stays inside its segment; the route
 * reports it, and the resolve stage refuses it unless the connection opts in.
 */

export const INVALID_PROXY_PATH = "invalid proxy path, expected /proxy/{connection_id}/... or /slack/...";

const UNSAFE_PATH_MESSAGES: Record<UnsafePath, string> = {
  empty_segment: "invalid proxy path: empty segments (double slashes) are not allowed",
  dot_segment: "invalid proxy path: dot segments are not allowed",
  backslash: "invalid proxy path: backslashes are not allowed",
  malformed_encoding: "invalid proxy path: malformed percent-encoding",
  control_character: "invalid proxy path: control characters are not allowed",
};

export interface RuntimeRoute extends RoutePath {
  kind: "proxy";
  connectionId: string;
  /** Raw query string without "?", as received ("" when absent). */
  rawQuery: string;
}

/** null: not a runtime route (the caller answers it). */
export type RouteMatch = RuntimeRoute | McpRoute | null;

export function routeOf(target: string): Result<RouteMatch, ProxyDetail> {
  const q = target.indexOf("?");
  const rawPath = q === -1 ? target : target.slice(0, q);
  const rawQuery = q === -1 ? "" : target.slice(q + 1);
  const parsed = parseRoutePath(rawPath);
  const invalidMessage = rawPath.startsWith("/mcp") ? INVALID_MCP_PATH : INVALID_PROXY_PATH;
  if (!parsed.ok) {
    if (parsed.reason === "not_signed_route") return ok(null);
    if (parsed.reason === "unsafe_path")
      return deny("route", "PATH_TRAVERSAL", { message: UNSAFE_PATH_MESSAGES[parsed.unsafe] });
    return deny("route", "INVALID_REQUEST", { message: invalidMessage });
  }
  const { route, path } = parsed;
  if (!isSafeConnectionId(route.service))
    return deny("route", "INVALID_REQUEST", { message: invalidMessage });
  if (route.kind === "mcp") {
    const mcp = mcpRoute(route.service, path.segments, rawQuery);
    return mcp ? ok(mcp) : deny("route", "INVALID_REQUEST", { message: INVALID_MCP_PATH });
  }
  return ok({ kind: "proxy", connectionId: route.service, ...path, rawQuery });
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
