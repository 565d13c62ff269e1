import { proxyRuntimeEnv } from "../../packages/shared/src/config.ts";
import {
  AGENT_HEADERS_TO_VERIFIER,
  ALLOW_HEADERS,
  CHECK_PATH_PREFIX,
  DENY_CLIENT_HEADERS,
  EDGE_HEADERS_TO_VERIFIER,
  SIGILUM_HEADER_PREFIX,
} from "../../packages/shared/src/ext-authz.ts";

/**
 * Envoy in front of the gateway (DESIGN.md §2), as one bootstrap object: docker compose and the Helm chart get
 * their envoy.yaml from this function (deploy/envoy/generate.ts writes both), so the header lists, the body
 * limit and the fail-closed settings cannot drift from what the verifier and the proxy implement. Every request
 * except health and the admin API is checked by the verifier through the ext_authz HTTP filter before it reaches
 * the proxy.
 */

/** Ports the services listen on in every deployment (their images' defaults). */
export const PORTS = {
  gateway: 38100,
  envoyReady: 38101,
  envoyAdmin: 38200,
  verifier: 38110,
  proxy: 38120,
} as const;

/** Where Envoy finds the verifier and the proxy: compose service names, or the chart's Service names. */
export interface EnvoyUpstreams {
  verifierHost: string;
  proxyHost: string;
  /**
   * "proxy": /api/admin/ reaches the proxy, which demands its admin token (compose: the CLI container may call
   * through Envoy). "closed": Envoy answers 404 (Kubernetes: only the pairing bridge and the CLI pod reach the
   * admin API, on the proxy's Service, as the NetworkPolicies enforce).
   */
  adminApi: "proxy" | "closed";
}

/** Routes on which ext_authz is off: health (the proxy answers) and the admin API (the proxy checks its token). */
export const HEALTH_PREFIX = "/health";
export const ADMIN_PREFIX = "/api/admin/";

/** The body Envoy buffers for the verifier is the body the verifier and the proxy accept. */
export const MAX_REQUEST_BYTES: number =
  proxyRuntimeEnv.shape.GATEWAY_MAX_REQUEST_BODY_BYTES.parse(undefined);

/** Longer than the verifier's own claims wait (VERIFIER_CLAIMS_WAIT_MS, 800 ms) so its answer always arrives. */
export const EXT_AUTHZ_TIMEOUT = "1s";

const exact = (names: readonly string[]) => names.map((name) => ({ exact: name }));
const typed = (type: string, fields: Record<string, unknown> = {}) => ({
  "@type": `type.googleapis.com/${type}`,
  ...fields,
});
const EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz";
const extAuthzOff = {
  [EXT_AUTHZ_FILTER]: typed("envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", {
    disabled: true,
  }),
};
const router = {
  name: "envoy.filters.http.router",
  typed_config: typed("envoy.extensions.filters.http.router.v3.Router"),
};

function cluster(name: string, host: string, port: number, connectTimeout: string, extra: object = {}) {
  return {
    name,
    // STRICT_DNS on a headless Service (or every compose replica): Envoy balances across all the pods itself.
    type: "STRICT_DNS",
    connect_timeout: connectTimeout,
    lb_policy: "ROUND_ROBIN",
    ...extra,
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }],
        },
      ],
    },
  };
}

const extAuthz = (verifierHost: string) => ({
  name: EXT_AUTHZ_FILTER,
  typed_config: typed("envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", {
    transport_api_version: "V3",
    failure_mode_allow: false,
    // A verifier 5xx (Redis or control plane down) reaches the agent as 503, not as a denial.
    status_on_error: { code: "ServiceUnavailable" },
    // First in the chain; nothing after it may clear the route cache.
    clear_route_cache: false,
    with_request_body: { max_request_bytes: MAX_REQUEST_BYTES, allow_partial_message: false },
    allowed_headers: {
      patterns: [
        ...exact([...AGENT_HEADERS_TO_VERIFIER, ...EDGE_HEADERS_TO_VERIFIER]),
        { prefix: SIGILUM_HEADER_PREFIX },
      ],
    },
    http_service: {
      server_uri: {
        uri: `http://${verifierHost}:${PORTS.verifier}`,
        cluster: "verifier",
        timeout: EXT_AUTHZ_TIMEOUT,
      },
      path_prefix: CHECK_PATH_PREFIX,
      authorization_response: {
        // Set (overwriting any client value) on the upstream request when the verifier allows.
        allowed_upstream_headers: { patterns: exact(ALLOW_HEADERS) },
        allowed_client_headers: { patterns: exact(DENY_CLIENT_HEADERS) },
      },
    },
  }),
});

const gatewayListener = ({ verifierHost, adminApi }: EnvoyUpstreams) => ({
  name: "gateway",
  address: { socket_address: { address: "0.0.0.0", port_value: PORTS.gateway } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: typed(
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            {
              stat_prefix: "gateway",
              codec_type: "AUTO",
              // Envoy is the edge: it appends the real peer to x-forwarded-for and sets x-forwarded-proto itself.
              // When TLS ends before Envoy, set GATEWAY_PUBLIC_URL on the verifier instead.
              use_remote_address: true,
              xff_num_trusted_hops: 0,
              // The agent signed the raw path: Envoy must not rewrite it. The verifier refuses dot segments.
              normalize_path: false,
              merge_slashes: false,
              path_with_escaped_slashes_action: "KEEP_UNCHANGED",
              generate_request_id: true,
              preserve_external_request_id: true,
              max_request_headers_kb: 64,
              stream_idle_timeout: "300s",
              request_timeout: "180s",
              upgrade_configs: [{ upgrade_type: "websocket" }],
              route_config: {
                name: "gateway",
                virtual_hosts: [
                  {
                    name: "gateway",
                    domains: ["*"],
                    routes: [
                      {
                        match: { prefix: HEALTH_PREFIX },
                        route: { cluster: "proxy", timeout: "5s" },
                        typed_per_filter_config: extAuthzOff,
                      },
                      {
                        match: { prefix: ADMIN_PREFIX },
                        ...(adminApi === "proxy"
                          ? { route: { cluster: "proxy", timeout: "20s" } }
                          : { direct_response: { status: 404 } }),
                        typed_per_filter_config: extAuthzOff,
                      },
                      { match: { prefix: "/" }, route: { cluster: "proxy", timeout: "120s" } },
                    ],
                  },
                ],
              },
              http_filters: [extAuthz(verifierHost), router],
            },
          ),
        },
      ],
    },
  ],
});

/**
 * Envoy's own readiness for container health checks and Kubernetes probes (the admin port stays on loopback):
 * `GET /ready` answers 200 while Envoy is up and not draining, without touching the services.
 */
const readyListener = {
  name: "ready",
  address: { socket_address: { address: "0.0.0.0", port_value: PORTS.envoyReady } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: typed(
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            {
              stat_prefix: "ready",
              route_config: { name: "ready", virtual_hosts: [{ name: "ready", domains: ["*"], routes: [] }] },
              http_filters: [
                {
                  name: "envoy.filters.http.health_check",
                  typed_config: typed("envoy.extensions.filters.http.health_check.v3.HealthCheck", {
                    pass_through_mode: false,
                    headers: [{ name: ":path", string_match: { exact: "/ready" } }],
                  }),
                },
                router,
              ],
            },
          ),
        },
      ],
    },
  ],
};

export function envoyBootstrap(upstreams: EnvoyUpstreams) {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: PORTS.envoyAdmin } } },
    static_resources: {
      listeners: [gatewayListener(upstreams), readyListener],
      clusters: [
        cluster("verifier", upstreams.verifierHost, PORTS.verifier, "1s", {
          circuit_breakers: {
            thresholds: [{ max_connections: 4096, max_pending_requests: 4096, max_requests: 4096 }],
          },
        }),
        cluster("proxy", upstreams.proxyHost, PORTS.proxy, "2s"),
      ],
    },
  };
}
