/**
 * The ext_authz contract between the edge (Envoy, or the proxy in inline mode) and the verifier: which request
 * headers reach the verifier, which identity headers an allow answer sets upstream, which headers a denial
 * carries to the agent. The verifier, the proxy's inline authorizer and the generated Envoy configs
 * (envoy/envoy.yaml and the Helm chart's, written by deploy/envoy/generate.ts) all read these lists.
 */

/** The verifier's route: the edge calls `CHECK_PATH_PREFIX` + the agent's path and query. */
export const CHECK_PATH_PREFIX = "/check";

/** Agent headers the edge passes to the verifier as they came, besides Host and every `sigilum-*` header. */
export const AGENT_HEADERS_TO_VERIFIER = [
  "signature",
  "signature-input",
  "content-digest",
  "content-type",
] as const;

/** Every `sigilum-*` request header reaches the verifier (the signed identity components). */
export const SIGILUM_HEADER_PREFIX = "sigilum-";

/** Set by the edge itself, never copied from the agent: the verifier trusts them from its peer. */
export const EDGE_HEADERS_TO_VERIFIER = ["x-forwarded-proto", "x-forwarded-for", "x-request-id"] as const;

/** Identity headers set on allow; the edge copies exactly these upstream (overwriting any agent value). */
export const ALLOW_HEADERS = [
  "x-sigilum-namespace",
  "x-sigilum-subject",
  "x-sigilum-key-id",
  "x-sigilum-public-key",
  "x-sigilum-agent-id",
  "x-sigilum-request-id",
  "x-sigilum-authz",
] as const;

/** Headers a deny answer may carry to the agent (status and body always pass through). */
export const DENY_CLIENT_HEADERS = [
  "content-type",
  "cache-control",
  "x-request-id",
  "x-sigilum-code",
  "retry-after",
] as const;
