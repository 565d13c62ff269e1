import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

/** The ext_authz settings of envoy/envoy.yaml, so tests send what Envoy sends and check what Envoy copies. */

type Pattern = { exact?: string; prefix?: string };

export interface EnvoyExtAuthz {
  pathPrefix: string;
  maxRequestBytes: number;
  allowPartial: boolean;
  failureModeAllow: boolean;
  allowedHeaders: Pattern[];
  upstreamHeaders: Pattern[];
  clientHeaders: Pattern[];
  /** Route prefixes on which ext_authz is disabled. */
  disabledPrefixes: string[];
  raw: Record<string, unknown>;
}

export const ENVOY_YAML = fileURLToPath(new URL("../../../../envoy/envoy.yaml", import.meta.url));

export function matches(patterns: Pattern[], name: string): boolean {
  const lower = name.toLowerCase();
  return patterns.some((p) =>
    p.exact !== undefined ? p.exact === lower : p.prefix !== undefined && lower.startsWith(p.prefix),
  );
}

// biome-ignore lint/suspicious/noExplicitAny: walking untyped YAML
type Any = any;

export function loadEnvoyExtAuthz(): EnvoyExtAuthz {
  const doc: Any = parse(readFileSync(ENVOY_YAML, "utf8"));
  const hcm: Any = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const filter: Any = hcm.http_filters.find((f: Any) => f.name === "envoy.filters.http.ext_authz");
  const cfg: Any = filter.typed_config;
  const routes: Any[] = hcm.route_config.virtual_hosts[0].routes;
  return {
    pathPrefix: cfg.http_service.path_prefix,
    maxRequestBytes: cfg.with_request_body.max_request_bytes,
    allowPartial: cfg.with_request_body.allow_partial_message,
    failureModeAllow: cfg.failure_mode_allow,
    allowedHeaders: cfg.allowed_headers.patterns,
    upstreamHeaders: cfg.http_service.authorization_response.allowed_upstream_headers.patterns,
    clientHeaders: cfg.http_service.authorization_response.allowed_client_headers.patterns,
    disabledPrefixes: routes
      .filter((r) => r.typed_per_filter_config?.["envoy.filters.http.ext_authz"]?.disabled === true)
      .map((r) => r.match.prefix),
    raw: cfg,
  };
}
