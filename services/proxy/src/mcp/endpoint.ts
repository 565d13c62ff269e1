import type { ConnectionRecord } from "../model/connection/types.ts";

/**
 * Where an MCP connection's server listens and how its credential travels (spec §6.1, §5.5): `mcp_endpoint` is a
 * full URL when absolute, else a path joined under `base_url`'s path (its query kept); the credential is set on
 * every request the MCP client makes — as the connection's header, or as its query parameter (replacing any
 * placeholder such as `{{__API_KEY__}}`). Nothing the agent sent ever reaches this client.
 */

export function mcpEndpointUrl(record: ConnectionRecord): URL {
  const endpoint = record.mcp_endpoint.trim() || "/";
  if (/^https?:\/\//i.test(endpoint)) {
    const url = new URL(endpoint);
    if (url.hostname === "") throw new Error("mcp endpoint must include scheme and host");
    return url;
  }
  const base = new URL(record.base_url);
  const relative = new URL(endpoint, "http://endpoint.invalid");
  const parts = [base.pathname, relative.pathname]
    .map((p) => p.trim().replace(/^\/+|\/+$/g, ""))
    .filter((p) => p !== "");
  const url = new URL(`/${parts.join("/")}`, base.origin);
  for (const [key, value] of relative.searchParams) url.searchParams.set(key, value);
  return url;
}

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** A fetch for the MCP client that adds the connection's credential (and nothing else) to every request. */
export function credentialFetch(
  record: ConnectionRecord,
  credential: string,
  base: FetchLike = fetch,
): FetchLike {
  if (credential === "") return base;
  const value = record.auth_prefix + credential;
  if (record.auth_mode === "query_param") {
    return (url, init) => {
      const target = new URL(url);
      target.searchParams.set(record.auth_header_name, value);
      return base(target, init);
    };
  }
  return (url, init) => {
    const headers = new Headers(init?.headers);
    headers.set(record.auth_header_name, value);
    return base(url, { ...init, headers });
  };
}
