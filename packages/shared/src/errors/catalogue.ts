/**
 * Every error code the gateway answers with. Sigilum's codes (spec/gateway.md §8.3) keep their status and message;
 * the ones marked "ours" come from this design (DESIGN.md §2, §4). docs/errors.md is generated from this table
 * (`npm run docs:errors`).
 */
export interface ErrorSpec {
  status: number;
  /** Default `error` text of the envelope. */
  message: string;
  /** When the gateway answers with it. */
  when: string;
  /** What the caller or operator should do next. */
  remedy: string;
  /** New or changed in this implementation (not as in the Sigilum gateway). */
  ours?: boolean;
}

export const ERROR_CATALOGUE = {
  // Auth (verifier; the proxy for the x-sigilum-authz token)
  AUTH_HEADERS_INVALID: {
    status: 403,
    message: "invalid or duplicate signed headers",
    when: "A signing header (signature-input, signature, sigilum-*) appears on more than one header line.",
    remedy:
      "Send each signing header exactly once; check that no proxy between agent and gateway duplicates them.",
  },
  AUTH_SIGNATURE_INVALID: {
    status: 403,
    message: "request signature verification failed",
    when: "The request is unsigned, or its RFC 9421 signature, certificate, content digest or `created` time fails.",
    remedy:
      "Sign with the Sigilum SDK against the exact URL you call (scheme, host, path, query), keep the clock in sync, and do not alter the body after signing.",
  },
  AUTH_SIGNED_COMPONENTS_INVALID: {
    status: 403,
    message: "invalid signed component set",
    when: "signature-input does not list exactly one of the component sets of the Sigilum profile.",
    remedy: "Use the Sigilum SDK's component set; do not add or drop covered components.",
  },
  AUTH_IDENTITY_INVALID: {
    status: 403,
    message: "invalid Sigilum identity headers",
    when: "sigilum-namespace, sigilum-subject or sigilum-agent-key is missing, or sigilum-agent-id is sent unsigned.",
    remedy: "Send all Sigilum identity headers and cover sigilum-agent-id in the signature when you send it.",
  },
  AUTH_NONCE_INVALID: {
    status: 403,
    message: "invalid signature nonce",
    when: 'signature-input has no usable nonce="..." parameter.',
    remedy: "Sign every request with a fresh random nonce (the SDK does this).",
  },
  AUTH_REPLAY_DETECTED: {
    status: 403,
    message: "replay detected",
    when: "The nonce was already used by this namespace within the replay window.",
    remedy: "Never resend a signed request as is: sign again (new nonce, new created time) for every retry.",
  },
  AUTH_REPLAY_WINDOW_RESET: {
    status: 403,
    message: "signature predates the replay window; sign the request again",
    ours: true,
    when: "The signature's `created` is earlier than the moment the replay window's current Redis data set began (Redis restarted, was restored from an older snapshot, or lost its data): such a request could be a replay the window forgot. The verifier and the control plane (its signed routes, nonces in Redis) both refuse it.",
    remedy:
      "Sign the request again (new nonce, current time) and resend; right after a Redis restart allow a few seconds (the tolerated clock skew).",
  },
  AUTH_CLAIMS_UNAVAILABLE: {
    status: 503,
    message: "claims authorization cache is unavailable",
    ours: true,
    when: "The approved-claims feed could not be read and the cached approvals are past their TTL, so the gateway fails closed (Sigilum answers 403; a 503 tells the agent to retry).",
    remedy:
      "Retry later; operators: check that the control plane (SIGILUM_REGISTRY_URL) and Redis are reachable and the service API key is valid.",
  },
  AUTH_CLAIMS_LOOKUP_FAILED: {
    status: 403,
    message: "claims lookup failed",
    when: "The approved-claims feed answered with an error, or no service API key is configured for the connection.",
    remedy:
      "Operators: set SIGILUM_SERVICE_API_KEY_<CONNECTION> (or SIGILUM_SERVICE_API_KEY) to a valid key and check the control plane.",
  },
  AUTH_CLAIM_REQUIRED: {
    status: 403,
    message: "sigilum authorization required",
    when: "The agent's key is not approved for this service; the body is Markdown (not this envelope) with the claim details.",
    remedy: "Ask the namespace owner to approve the pending authorization in the dashboard, then retry.",
  },
  AUTH_CLAIM_SUBMIT_RATE_LIMITED: {
    status: 429,
    message: "claim registration rate limit exceeded for this connection and namespace; retry in one minute",
    when: "Too many unapproved requests submitted authorization requests for this connection and namespace this minute.",
    remedy:
      "Wait a minute before retrying; get the pending authorization approved instead of retrying in a loop.",
  },
  AUTH_FORBIDDEN: {
    status: 403,
    message: "forbidden",
    when: "Generic authorization refusal.",
    remedy: "Check the agent's identity and its approval for this service.",
  },
  AUTH_HOST_NOT_ALLOWED: {
    status: 403,
    message: "request is addressed to a host this gateway does not serve",
    ours: true,
    when: "No GATEWAY_PUBLIC_URL is set and the Host (the authority of the signed `@target-uri`) is neither a loopback name nor in GATEWAY_ALLOWED_HOSTS: a request signed for another service replayed here.",
    remedy:
      "Call the gateway under its own name; operators reaching it under another name: set GATEWAY_PUBLIC_URL or add the name to GATEWAY_ALLOWED_HOSTS.",
  },
  AUTH_AUTHZ_TOKEN_INVALID: {
    status: 403,
    message: "missing or invalid gateway authorization token",
    ours: true,
    when: "The proxy got a runtime request without a valid x-sigilum-authz token (it did not pass through the verifier, or the token is forged, expired or for another request).",
    remedy:
      "Call the gateway's public address (Envoy or inline mode), never the proxy port directly; operators: give verifier and proxy the same GATEWAY_INTERNAL_SECRET and synced clocks.",
  },
  AUTH_PARTIAL_BODY: {
    status: 413,
    message: "request body was only partially received by the authorizer",
    ours: true,
    when: "Envoy forwarded a truncated body to the verifier, so the content digest cannot be checked.",
    remedy:
      "Send a smaller body; operators: set Envoy's with_request_body.max_request_bytes to GATEWAY_MAX_REQUEST_BODY_BYTES and allow_partial_message to false.",
  },

  // Admin
  ADMIN_TOKEN_NOT_CONFIGURED: {
    status: 500,
    message: "admin token mode requires GATEWAY_ADMIN_TOKEN",
    when: "GATEWAY_ADMIN_ACCESS_MODE=token but no GATEWAY_ADMIN_TOKEN is set.",
    remedy: "Operators: set GATEWAY_ADMIN_TOKEN, or choose another GATEWAY_ADMIN_ACCESS_MODE, and restart.",
  },
  ADMIN_TOKEN_REQUIRED: {
    status: 403,
    message: "admin endpoints require a valid admin token",
    when: "Token mode and no valid admin token was presented.",
    remedy: "Send the admin token as `Authorization: Bearer <token>` or `X-Sigilum-Admin-Token`.",
  },
  ADMIN_LOOPBACK_REQUIRED: {
    status: 403,
    message: "admin endpoints require loopback client access",
    when: "Loopback mode and the caller is not on the gateway host.",
    remedy: "Call the admin API from the gateway host (127.0.0.1 or ::1); tokens are ignored in this mode.",
  },
  ADMIN_TOKEN_OR_LOOPBACK_REQUIRED: {
    status: 403,
    message: "admin endpoints require loopback access or a valid admin token",
    when: "Hybrid mode and the caller is neither on loopback nor presents the admin token.",
    remedy: "Call from the gateway host, or send the admin token as `Authorization: Bearer <token>`.",
  },

  ADMIN_HOST_NOT_ALLOWED: {
    status: 403,
    message: "admin endpoints answer only to the gateway's own host names",
    ours: true,
    when: "The Host header is not a loopback name (localhost, 127.0.0.1, [::1]) nor a configured public name: a DNS-rebinding page, or a name the operator has not listed.",
    remedy:
      "Call the admin API as http://127.0.0.1:<port>; operators reaching it under another name: add the name to GATEWAY_ALLOWED_HOSTS (control plane: CONTROL_PLANE_ALLOWED_HOSTS) or set the public URL.",
  },
  ADMIN_CROSS_SITE_REFUSED: {
    status: 403,
    message: "cross-site browser requests are refused",
    ours: true,
    when: "The browser marked the request `Sec-Fetch-Site: cross-site`: a page from another site tried to drive the API.",
    remedy:
      "Use the CLI or the dashboard served by the gateway; a web page elsewhere cannot call the admin API.",
  },
  ADMIN_ORIGIN_NOT_ALLOWED: {
    status: 403,
    message: "request origin is not allowed",
    ours: true,
    when: "The request carries an Origin header that is neither in the allowed origins nor the service's own origin. The control plane's pairing WebSocket refuses any Origin: only the pairing bridge, which sends none, opens it.",
    remedy:
      "Operators: add the dashboard's origin to GATEWAY_ALLOWED_ORIGINS (control plane: ALLOWED_ORIGINS); scripts should send no Origin header.",
  },
  DASHBOARD_HEADER_REQUIRED: {
    status: 403,
    message: "dashboard changes must carry X-Sigilum-Dashboard: 1",
    ours: true,
    when: "A request authenticated by the dashboard's session cookie changes something without the X-Sigilum-Dashboard header: a form or a script on another page of the same site.",
    remedy:
      "Use the dashboard; scripts should send `Authorization: Bearer <owner token>` (`sigilum auth login`) instead of the cookie.",
  },
  ADMIN_CONTENT_TYPE_UNSUPPORTED: {
    status: 415,
    message: "request body must be application/json",
    ours: true,
    when: "The request has a body (or a Content-Type) that is not `application/json`; form and text bodies are what a foreign page can send without a preflight.",
    remedy: "Send `Content-Type: application/json` with a JSON body, or no body and no Content-Type.",
  },

  // Runtime and MCP
  UPSTREAM_ERROR: {
    status: 502,
    message: "upstream request failed",
    when: "The provider could not be reached (DNS, connection, TLS) or the connection broke mid-request.",
    remedy:
      "Retry with a freshly signed request; operators: check the connection's base URL and the provider's status.",
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    message: "upstream request timed out",
    ours: true,
    when: "The provider did not answer within GATEWAY_PROXY_TIMEOUT_SECONDS (MCP: GATEWAY_MCP_TIMEOUT_SECONDS).",
    remedy:
      "Retry later with a freshly signed request; operators: raise the timeout if the provider is slow by design.",
  },
  UPSTREAM_ADDRESS_FORBIDDEN: {
    status: 403,
    message: "connection points at a link-local or cloud metadata address",
    ours: true,
    when: "The connection's base URL (or its MCP endpoint, given as a full URL) is, or resolves to, a link-local address (169.254.0.0/16, fe80::/10) or a cloud metadata address, and GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS is not true: refused by the admin API when the connection is created or changed, and by forwarding for a record stored where it was allowed.",
    remedy:
      "Operators: point the connection at the provider's real address; set GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS=true only if a link-local upstream is intended.",
  },
  ROTATION_REQUIRED: {
    status: 403,
    message: "connection credentials must be rotated before use",
    when: "The connection's secret is past its rotation deadline and GATEWAY_ROTATION_ENFORCEMENT=block.",
    remedy: "Operators: rotate the connection's secret (POST /api/admin/connections/<id>/rotate) and retry.",
  },
  INVALID_REFRESH_MODE: {
    status: 400,
    message: "invalid refresh mode: expected auto|force",
    when: "The `refresh` query parameter of an MCP discovery is not auto or force.",
    remedy: "Use `refresh=auto` (default) or `refresh=force`.",
  },
  CREDENTIAL_VARIABLE_MISSING: {
    status: 424,
    message: "credential variable not found",
    ours: true,
    when: "The connection's secret references a {{VARIABLE}} that is not defined on the gateway.",
    remedy:
      "Operators: create the shared credential variable the connection references (admin API /api/admin/credential-variables), then retry.",
  },
  MCP_DISCOVERY_FAILED: {
    status: 502,
    message: "mcp discovery failed",
    when: "The MCP server's tool list could not be fetched and no usable cached list exists.",
    remedy:
      "Retry later; operators: check the MCP endpoint and its credentials (POST /api/admin/connections/<id>/test).",
  },
  MCP_TOOL_FORBIDDEN: {
    status: 403,
    message: "tool is not allowed for subject",
    when: "The tool is not exposed to this subject by the connection's tool policy.",
    remedy: "List the allowed tools (GET /mcp/<connection>/tools) or ask the operator to allow this tool.",
  },
  MCP_TOOL_RATE_LIMITED: {
    status: 429,
    message: "mcp tool call rate limit exceeded for this connection and namespace; retry in one minute",
    when: "More tool calls this minute than GATEWAY_MCP_TOOL_CALL_RATE_LIMIT_PER_MINUTE.",
    remedy: "Wait for the next minute and slow down tool calls.",
  },
  MCP_CIRCUIT_OPEN: {
    status: 503,
    message: "mcp upstream circuit breaker is open after repeated failures; retry after cooldown",
    when: "The MCP server failed repeatedly; calls are refused until the cooldown ends.",
    remedy: "Retry after GATEWAY_MCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS; operators: check the MCP server.",
  },
  MCP_TOOL_CALL_FAILED: {
    status: 502,
    message: "mcp tool call failed",
    when: "The MCP server answered the tool call with an error, or could not be reached.",
    remedy: "Check the tool arguments; retry later if the MCP server is failing.",
  },

  // Health and readiness
  NOT_READY: {
    status: 503,
    message: "gateway dependencies are not ready",
    when: "Readiness check: a dependency (Redis, the connection store, the verifier) is not usable yet.",
    remedy: "Wait and retry; operators: check the service's logs for the dependency that is down.",
  },
  SERVICE_UNAVAILABLE: {
    status: 503,
    message: "service temporarily unavailable",
    ours: true,
    when: "The service is shutting down or a dependency it needs for this request is down.",
    remedy: "Retry with backoff (with a freshly signed request).",
  },
  REDIS_UNAVAILABLE: {
    status: 503,
    message: "shared state store is unavailable",
    ours: true,
    when: "Redis (replay window, connections, caches) could not be reached; the gateway fails closed.",
    remedy: "Retry with backoff; operators: check REDIS_URL and that Redis is up.",
  },

  // Generic and operator
  METHOD_NOT_ALLOWED: {
    status: 405,
    message: "method not allowed",
    when: "The route exists but not for this HTTP method.",
    remedy: "Use a method the route supports (see the API reference).",
  },
  NOT_FOUND: {
    status: 404,
    message: "not found",
    when: "Unknown route or admin/MCP action.",
    remedy: "Check the path against the API reference.",
  },
  REQUEST_BODY_TOO_LARGE: {
    status: 413,
    message: "request body exceeds configured limit",
    when: "The body is larger than GATEWAY_MAX_REQUEST_BODY_BYTES.",
    remedy: "Send a smaller body; operators may raise GATEWAY_MAX_REQUEST_BODY_BYTES.",
  },
  REQUEST_TARGET_TOO_LONG: {
    status: 414,
    message: "request target is too long",
    ours: true,
    when: "The path and query exceed 8192 bytes; refused before the signature is checked, so the nonce stays unused.",
    remedy: "Send long data in the body instead of the URL.",
  },
  REQUEST_HEADER_TOO_LARGE: {
    status: 431,
    message: "a Sigilum header exceeds its size limit",
    ours: true,
    when: "A signing header is longer than its limit (sigilum-subject 1024 bytes, sigilum-agent-cert 4096, signature-input 2048, ...; docs/protocol.md); refused before the nonce is spent.",
    remedy: "Use a shorter subject or agent id; the SDK's own headers always fit.",
  },
  REQUEST_HOST_INVALID: {
    status: 400,
    message: "missing or repeated Host header",
    ours: true,
    when: "The request has no Host header or more than one.",
    remedy: "Send exactly one Host header (every HTTP client does this by itself).",
  },
  INVALID_REQUEST: {
    status: 400,
    message: "invalid request",
    ours: true,
    when: "The request body or parameters fail validation (the message says which field).",
    remedy: "Fix the field named in the message and resend.",
  },
  PATH_TRAVERSAL: {
    status: 400,
    message: "invalid path",
    ours: true,
    when: "The path contains dot segments, empty segments (double slashes), encoded slashes or other sequences that could escape the connection's base path.",
    remedy: "Send a normalized path without `..`, `.` or empty segments and without encoded `/` and `\\`.",
  },
  CONNECTION_NOT_FOUND: {
    status: 404,
    message: "connection not found",
    ours: true,
    when: "No connection with this id exists on this gateway (or it is disabled); agents get it for `/proxy/{id}/...` and `/mcp/{id}/...` too.",
    remedy:
      "Check the id in the URL: `sigilum service list` (or GET /api/admin/connections) shows the connections; `sigilum service add <id>` creates one.",
  },
  CONNECTION_EXISTS: {
    status: 409,
    message: "connection already exists",
    ours: true,
    when: "A connection with this id already exists.",
    remedy: "Choose another id, or update the existing connection (PATCH).",
  },
  INTERNAL_ERROR: {
    status: 500,
    message: "internal error",
    ours: true,
    when: "An unexpected failure; details are in the service log under the request id.",
    remedy: "Retry once; if it persists, report the request_id to the operator.",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, value);
}
