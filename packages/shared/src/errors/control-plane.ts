import { ERROR_CATALOGUE, type ErrorSpec } from "./catalogue.ts";
import { docsUrlFor, ERROR_DOCS_BASE_URL, rfc3339Now } from "./envelope.ts";

/**
 * The control plane's own codes (those the gateway does not also answer with). The control plane answers every error
 * with the same envelope as the gateway, `{error, code, request_id, timestamp, docs_url}` (plus `details` for field
 * errors); docs/errors.md lists these under "Control plane errors".
 */
export const CONTROL_PLANE_ERRORS = {
  VALIDATION_ERROR: {
    status: 400,
    message: "Validation failed",
    when: "A field of the body, path or query is missing or invalid; `details` lists each field and why.",
    remedy: "Fix the fields named in `details` and resend.",
  },
  INVALID_JSON: {
    status: 400,
    message: "Request body must be valid JSON",
    when: "The body is not JSON.",
    remedy: "Send a JSON body with `content-type: application/json`.",
  },
  BAD_REQUEST: {
    status: 400,
    message: "Malformed request",
    when: "The request could not be read (aborted body, bad encoding, undecodable path).",
    remedy: "Resend a well-formed request.",
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    message: "Request body too large",
    when: "The body is larger than the control plane accepts.",
    remedy: "Send a smaller body (usage events in batches).",
  },
  UNAUTHORIZED: {
    status: 401,
    message: "Authentication required",
    when: "No valid owner token (session cookie or `Authorization: Bearer`), or no valid service API key.",
    remedy: "Log in (`sigilum auth login`), or pass the service API key issued by `sigilum service add`.",
  },
  TOKEN_EXPIRED: {
    status: 401,
    message: "Invalid or expired token",
    when: "The owner token is expired, malformed or signed with another secret.",
    remedy: "Get a new token: `sigilum auth refresh` (or log in again in the dashboard).",
  },
  FORBIDDEN: {
    status: 403,
    message: "Forbidden",
    when: "Authenticated, but not allowed: another namespace's resource, or a revoked service API key.",
    remedy: "Act on your own namespace; issue a new key with `sigilum service add <slug> --force`.",
  },
  CONFLICT: {
    status: 409,
    message: "Conflict",
    when: "The resource already exists (e.g. a service slug), or the change conflicts with its current state.",
    remedy: "Use another slug, or update the existing resource.",
  },
  SIGNATURE_MISSING: {
    status: 401,
    message: "Missing required signed-auth headers",
    when: "A signed route got a request without the Sigilum signature headers.",
    remedy: "Sign the request with a Sigilum identity (the SDK or `sigilum request`).",
  },
  SIGNATURE_INVALID: {
    status: 401,
    message: "Invalid signature",
    when: "The RFC 9421 signature or the agent certificate does not verify.",
    remedy: "Sign the exact URL, method and body you send, with the identity's own key.",
  },
  SIGNATURE_EXPIRED: {
    status: 401,
    message: "Signature expired or not yet valid",
    when: "The signature's `created` time is outside the freshness window.",
    remedy: "Sign right before sending; check the clock (`sigilum doctor` reports the skew).",
  },
  SIGNATURE_DIGEST_MISMATCH: {
    status: 401,
    message: "Content digest mismatch",
    when: "The body does not match its signed `content-digest`.",
    remedy: "Send exactly the body that was signed.",
  },
  SIGNATURE_COMPONENTS_INVALID: {
    status: 401,
    message: "Invalid signed component set",
    when: "The signature does not cover the components the Sigilum profile requires.",
    remedy: "Sign with a Sigilum SDK, which covers the required components.",
  },
  SIGNATURE_NAMESPACE_MISMATCH: {
    status: 403,
    message: "Namespace does not match request",
    when: "The signer's namespace is not the one the request acts for (claims bind the gateway to its owner's namespace).",
    remedy:
      "Run the gateway in its owner's namespace (`sigilum up --namespace <ns>`), or sign as that namespace.",
  },
  SIGNATURE_KEY_MISMATCH: {
    status: 403,
    message: "Public key does not match request",
    when: "The signing key is not the public key the request names.",
    remedy: "Sign with the key the request names.",
  },
  SIGNATURE_NONCE_REPLAY: {
    status: 409,
    message: "Signature nonce has already been used",
    when: "A signed request was sent twice.",
    remedy: "Sign every request anew (a fresh nonce each time).",
  },
  NONCE_REPLAY: {
    status: 409,
    message: "Claim nonce has already been used",
    when: "A claim submission reused its nonce.",
    remedy: "Submit each claim with a fresh nonce.",
  },
  NONCE_STORE_UNAVAILABLE: {
    status: 503,
    message: "Nonce store unavailable",
    when: "The replay window (Redis or the database) cannot be reached, so signed requests are refused.",
    remedy: "Retry shortly; operators: check Redis (`sigilum doctor`).",
  },
  DB_UNAVAILABLE: {
    status: 503,
    message: "Authorization store unavailable",
    when: "The control plane's database cannot be reached.",
    remedy: "Retry shortly; operators: check PostgreSQL (`DATABASE_URL`) or the embedded database's logs.",
  },
  SERVICE_LIMIT_REACHED: {
    status: 403,
    message: "Service limit reached",
    when: "The namespace already has its maximum number of services (or approved agents for a service).",
    remedy: "Delete a service or revoke an approval, or raise the namespace's limit in its settings.",
  },
  AGENT_LIMIT_REACHED: {
    status: 409,
    message: "Agent limit reached",
    when: "The service already has its maximum number of approved agents.",
    remedy: "Revoke an approval first, or raise the limit in the namespace settings.",
  },
  KEY_LIMIT_REACHED: {
    status: 400,
    message: "API key limit reached",
    when: "The service already has its maximum number of active API keys.",
    remedy: "Revoke an old key first.",
  },
  LAST_PASSKEY: {
    status: 400,
    message: "Cannot remove the last passkey",
    when: "The owner tried to remove their only passkey.",
    remedy: "Register another passkey first.",
  },
  INVALID_CREDENTIAL: {
    status: 400,
    message: "Invalid passkey credential",
    when: "The WebAuthn credential sent is malformed or not acceptable.",
    remedy: "Retry the passkey ceremony in the dashboard.",
  },
  CHALLENGE_EXPIRED: {
    status: 400,
    message: "Passkey challenge expired",
    when: "The WebAuthn challenge is unknown or expired.",
    remedy: "Start the sign-up or login again.",
  },
  VERIFICATION_FAILED: {
    status: 400,
    message: "Passkey verification failed",
    when: "A passkey registration (WebAuthn attestation) did not verify.",
    remedy: "Retry with the same passkey; register a new one if it keeps failing.",
  },
  PASSKEY_SIGN_IN_FAILED: {
    status: 401,
    message: "Passkey sign-in could not be verified",
    when: "A passkey sign-in (WebAuthn assertion) did not verify: unknown credential, wrong signature or counter.",
    remedy:
      "Sign in with a passkey registered for this namespace, or use a one-time login link from the CLI.",
  },
  LOGIN_LINK_INVALID: {
    status: 401,
    message: "Login link invalid or expired",
    when: "The one-time login link was used, expired or forged.",
    remedy: "Get a new one: `sigilum auth login --open`.",
  },
  CREDENTIAL_NOT_FOUND: {
    status: 401,
    message: "Passkey not found",
    when: "No owner has this passkey.",
    remedy: "Use a passkey registered for this namespace, or sign up.",
  },
  SIGNUP_DISABLED: {
    status: 403,
    message: "Sign-up is disabled",
    when: "This control plane does not accept new namespaces.",
    remedy: "Ask the operator to create the namespace.",
  },
  NAMESPACE_ALREADY_REGISTERED: {
    status: 409,
    message: "Namespace already registered",
    when: "Sign-up for a namespace that has an owner.",
    remedy: "Log in instead, or choose another namespace.",
  },
  EMAIL_ALREADY_REGISTERED: {
    status: 409,
    message: "Email already registered",
    when: "Sign-up with an email another owner uses.",
    remedy: "Log in with that account, or use another email.",
  },
  USER_NOT_FOUND: {
    status: 401,
    message: "User not found",
    when: "The session names an owner that no longer exists.",
    remedy: "Log in again.",
  },
  PAIRING_UNAVAILABLE: {
    status: 503,
    message: "Gateway pairing needs Redis: set REDIS_URL",
    when: "A pairing route was called on a control plane running without Redis (commands cross replicas through it).",
    remedy: "Set REDIS_URL on every control-plane replica.",
  },
  PAIR_SESSION_NOT_FOUND: {
    status: 404,
    message: "Pair session not found",
    when: "A pairing bridge dialled a session id that does not exist.",
    remedy: "Start a new session (`sigilum pairing start`) and rerun the bridge with its id and code.",
  },
  PAIR_SESSION_EXPIRED: {
    status: 410,
    message: "Pair session expired",
    when: "The pairing session's time ran out before a bridge connected (or after it left).",
    remedy: "Start a new session (`sigilum pairing start`) and rerun the bridge with its id and code.",
  },
  PAIR_SESSION_LOCKED: {
    status: 403,
    message: "Pair session locked after too many wrong codes",
    when: "Ten wrong pair codes were tried on the session; it no longer opens, even with the right code.",
    remedy: "Start a new session; check who else tried to pair with it.",
  },
  PAIR_CODE_INVALID: {
    status: 403,
    message: "Invalid pair code",
    when: "The bridge's pair code does not match the session's.",
    remedy: "Copy the code `sigilum pairing start` printed (8 characters, no I, O, 0 or 1).",
  },
  NAMESPACE_MISMATCH: {
    status: 403,
    message: "Namespace mismatch",
    when: "The bridge named another namespace than the session's.",
    remedy: "Pass the namespace `sigilum pairing start` printed, or leave --namespace out.",
  },
  UPGRADE_REQUIRED: {
    status: 426,
    message: "Expected websocket upgrade",
    when: "The pairing connect route was called without a WebSocket upgrade.",
    remedy: "Only the pairing bridge calls this route; point it at the control plane's URL.",
  },
  GATEWAY_NOT_CONNECTED: {
    status: 503,
    message: "Gateway is not connected",
    when: "A command was relayed to a session whose pairing bridge is not connected to any replica.",
    remedy: "Start (or restart) `sigilum gateway pair` on the gateway host and wait for `connected: true`.",
  },
  GATEWAY_RELAY_FAILED: {
    status: 504,
    message: "Gateway relay command failed",
    when: "The paired gateway did not answer the relayed command in time, or disconnected first (`details.reason`).",
    remedy: "Check the bridge and the proxy on the gateway host; raise `timeout_ms` for slow commands.",
  },
  SECRET_NOT_SEALED: {
    status: 400,
    message: "Secret fields must be sealed to the gateway's public key",
    when: "A relayed command carries a secret field in clear (`details.fields` names them).",
    remedy:
      'Seal each secret to `gateway_public_key` from the pairing status: `{"sealed": <crypto_box_seal, base64>}`.',
  },
  SERVICE_NOT_FOUND: {
    status: 404,
    message: "Service not found",
    when: "A webhook was created for a service that does not exist or belongs to another owner.",
    remedy: "Use an id from `GET /v1/services`.",
  },
  INVALID_WEBHOOK_URL: {
    status: 400,
    message: "Invalid webhook URL",
    when: "The webhook target is not http(s), is localhost, carries credentials, does not resolve, or resolves to a private, loopback or link-local address.",
    remedy:
      "Use a public http(s) URL, or set WEBHOOK_ALLOW_PRIVATE_TARGETS=true for a private network you trust.",
  },
  WEBHOOK_INACTIVE: {
    status: 409,
    message: "Webhook is inactive",
    when: "A test event or a redelivery was asked of a webhook that was deactivated (its target was refused at delivery).",
    remedy: "Delete the webhook and add it again with a target the control plane may reach.",
  },
  WEBHOOK_LIMIT_REACHED: {
    status: 400,
    message: "Webhook limit reached",
    when: "The service already has MAX_WEBHOOKS_PER_SERVICE active webhooks.",
    remedy: "Delete a webhook first, or raise MAX_WEBHOOKS_PER_SERVICE.",
  },
  WEBHOOKS_UNAVAILABLE: {
    status: 503,
    message: "Webhook delivery needs Redis: set REDIS_URL",
    when: "A webhook was created on a control plane running without Redis (deliveries go through a bullmq queue).",
    remedy: "Set REDIS_URL on the control plane.",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ControlPlaneErrorCode = keyof typeof CONTROL_PLANE_ERRORS;
export const CONTROL_PLANE_ERROR_CODES = Object.keys(CONTROL_PLANE_ERRORS) as ControlPlaneErrorCode[];
export const CONTROL_PLANE_DOCS_ANCHOR = "control-plane-errors";

/** A code the control plane may answer with: its own, or one it shares with the gateway. */
export type ControlPlaneCode = keyof typeof CONTROL_PLANE_ERRORS | keyof typeof ERROR_CATALOGUE;

/** Status, message and meaning of a control-plane code. */
export function controlPlaneErrorSpec(code: ControlPlaneCode): ErrorSpec {
  return code in CONTROL_PLANE_ERRORS
    ? CONTROL_PLANE_ERRORS[code as keyof typeof CONTROL_PLANE_ERRORS]
    : ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE];
}

/** Whether a code is documented: the control plane's own, or one it shares with the gateway. */
export function isDocumentedControlPlaneCode(code: string): boolean {
  return code in CONTROL_PLANE_ERRORS || code in ERROR_CATALOGUE;
}

export interface ControlPlaneErrorEnvelope {
  error: string;
  code: string;
  request_id: string;
  timestamp: string;
  docs_url: string;
  details?: unknown;
}

export function controlPlaneEnvelope(
  error: { message: string; code: string; status: number; details?: unknown },
  requestId: string,
  now?: Date,
): ControlPlaneErrorEnvelope {
  const docsUrl =
    error.code in CONTROL_PLANE_ERRORS
      ? `${ERROR_DOCS_BASE_URL}#${CONTROL_PLANE_DOCS_ANCHOR}`
      : docsUrlFor(error.code, error.status);
  return {
    error: error.message,
    code: error.code,
    request_id: requestId,
    timestamp: rfc3339Now(now),
    docs_url: docsUrl,
    ...(error.details === undefined ? {} : { details: error.details }),
  };
}
