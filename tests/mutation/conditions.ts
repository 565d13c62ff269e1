/**
 * Security conditions the mutation check flips one at a time (`npm run mutation`). Each names the source line it
 * breaks (an exact, unique snippet and its replacement) and the tests whose titles name the condition: every one
 * of them must pass unmutated and fail mutated.
 */

export interface Condition {
  name: string;
  file: string;
  find: string;
  replace: string;
  /** Test file → a regular expression matching the title of the test expected to catch the mutation. */
  caughtBy: [file: string, titlePattern: string][];
}

const VERIFY = "packages/shared/src/http-signatures/verify.ts";
const IMPERSONATION = "packages/shared/test/impersonation.test.ts";
const HTTP_IMPERSONATION = "services/verifier/test/impersonation.test.ts";
const ADMIN_ACCESS = "packages/shared/src/admin-access.ts";
const ADMIN_TEST = "services/proxy/test/admin.test.ts";
const CLIENT_IP = "packages/shared/src/client-ip.ts";
const AUTHZ = "packages/shared/src/authz-token.ts";
const AUTHZ_TEST = "packages/shared/test/authz-token.test.ts";

export const CONDITIONS: Condition[] = [
  {
    name: "signature expiry (created older than the limit)",
    file: VERIFY,
    find: "if (age > maxAge)",
    replace: "if (false)",
    caughtBy: [
      [IMPERSONATION, "^signature expiry check"],
      [HTTP_IMPERSONATION, "^signature expiry check"],
    ],
  },
  {
    name: "signature created in the future beyond the skew",
    file: VERIFY,
    find: "if (age < -futureSkew)",
    replace: "if (false)",
    caughtBy: [[IMPERSONATION, "^future skew check"]],
  },
  {
    name: "sigilum-namespace must match the agent certificate",
    file: VERIFY,
    find: "if (!namespace || namespace !== cert.certificate.namespace) {",
    replace: "if (!namespace) {",
    caughtBy: [
      [IMPERSONATION, "^namespace↔certificate check"],
      [HTTP_IMPERSONATION, "^namespace↔certificate check"],
    ],
  },
  {
    name: "sigilum-agent-key must match the agent certificate",
    file: VERIFY,
    find: "if (!publicKey || publicKey !== cert.certificate.publicKey) {",
    replace: "if (!publicKey) {",
    caughtBy: [
      [IMPERSONATION, "^agent-key↔certificate check"],
      [HTTP_IMPERSONATION, "^agent-key↔certificate check"],
    ],
  },
  {
    name: "keyid must match the agent certificate",
    file: VERIFY,
    find: "if (input.keyId !== cert.certificate.keyId)",
    replace: "if (false)",
    caughtBy: [[IMPERSONATION, "^keyid↔certificate check"]],
  },
  {
    name: "a present sigilum-agent-id must be signed",
    file: VERIFY,
    find: 'if (agentId && !input.components.includes("sigilum-agent-id")) {',
    replace: "if (false) {",
    caughtBy: [
      [IMPERSONATION, "^unsigned agent-id check"],
      [HTTP_IMPERSONATION, "^unsigned agent-id check"],
    ],
  },
  {
    name: "content-digest must match the body",
    file: VERIFY,
    find: "if (hasBody && digestHeader !== contentDigest(body)) {",
    replace: "if (false) {",
    caughtBy: [[IMPERSONATION, "^content-digest check"]],
  },
  {
    name: "the Ed25519 request signature must verify",
    file: VERIFY,
    find: "if (!backend.verify(cert.key,",
    replace: "if (false && !backend.verify(cert.key,",
    caughtBy: [[IMPERSONATION, "^signature check"]],
  },
  {
    name: "a repeated signing header is refused",
    file: VERIFY,
    find: 'if (value.length > 1) return fail("AUTH_HEADERS_INVALID"',
    replace: 'if (false) return fail("AUTH_HEADERS_INVALID"',
    caughtBy: [
      [
        "services/verifier/test/hot-path.test.ts",
        "repeated single-line signing header.*AUTH_HEADERS_INVALID",
      ],
    ],
  },
  {
    name: "any admin token accepted",
    file: ADMIN_ACCESS,
    find: "return timingSafeEqual(a, b);",
    replace: "return true;",
    caughtBy: [
      [ADMIN_TEST, "^hybrid: a remote caller needs the admin token"],
      [ADMIN_TEST, "^decideAdminAccess table"],
    ],
  },
  {
    name: "loopback mode allows any caller",
    file: ADMIN_ACCESS,
    find: 'return loopback\n        ? { allowed: true, via: "loopback" }',
    replace: 'return true\n        ? { allowed: true, via: "loopback" }',
    caughtBy: [
      [ADMIN_TEST, "^loopback mode: a remote caller is refused"],
      [ADMIN_TEST, "^decideAdminAccess table"],
    ],
  },
  {
    name: "token mode lets loopback callers in without the token",
    file: ADMIN_ACCESS,
    find: 'return hasToken ? { allowed: true, via: "token" } : { allowed: false, code: "ADMIN_TOKEN_REQUIRED" };',
    replace:
      'return hasToken || loopback ? { allowed: true, via: "token" } : { allowed: false, code: "ADMIN_TOKEN_REQUIRED" };',
    caughtBy: [
      [ADMIN_TEST, "^token mode: loopback does not help"],
      [ADMIN_TEST, "^decideAdminAccess table"],
    ],
  },
  {
    name: "hybrid mode lets a remote caller in without a token",
    file: ADMIN_ACCESS,
    find: 'if (loopback) return { allowed: true, via: "loopback" };',
    replace: 'if (true) return { allowed: true, via: "loopback" };',
    caughtBy: [
      [ADMIN_TEST, "^hybrid: a remote caller needs the admin token"],
      [ADMIN_TEST, "^decideAdminAccess table"],
    ],
  },
  {
    name: "X-Forwarded-For honoured only from a trusted proxy peer",
    file: CLIENT_IP,
    find: "if (!forwardedFor || !peerTrusted) return direct;",
    replace: "if (!forwardedFor) return direct;",
    caughtBy: [
      ["packages/shared/test/client-ip.test.ts", "^x-forwarded-for counts only from a trusted peer"],
      [ADMIN_TEST, "untrusted peer's X-Forwarded-For is ignored"],
    ],
  },
  {
    name: "only the right-most X-Forwarded-For entry (the one the trusted proxy appended) counts",
    file: CLIENT_IP,
    find: 'const last = unmapIPv4(entries[entries.length - 1]?.trim() ?? "");',
    replace: 'const last = unmapIPv4(entries[0]?.trim() ?? "");',
    caughtBy: [
      ["packages/shared/test/client-ip.test.ts", "only the entry that peer appended"],
      [
        ADMIN_TEST,
        "^X-Forwarded-For is honoured only from GATEWAY_TRUSTED_PROXY_CIDRS, right-most entry only",
      ],
    ],
  },
  {
    name: "replay stage: a Redis error is not a fresh nonce",
    file: "services/verifier/src/pipeline/replay.ts",
    find: '  } catch {\n    return deny("replay_detection", "REDIS_UNAVAILABLE", { detail });\n  }',
    replace: "  } catch {\n    fresh = true;\n  }",
    // Only a Redis that hangs reaches this line: with Redis stopped the replay-window check before it answers 503
    // first ("fails closed with a 503 envelope" stays green under this mutation, rightly).
    caughtBy: [["services/verifier/test/redis-outage.test.ts", "^nonce checks answer 503"]],
  },
  {
    name: "a reused nonce is a replay (SET NX answer honoured)",
    file: "packages/shared/src/replay.ts",
    find: 'return result === "OK";',
    replace: "return true;",
    caughtBy: [["packages/shared/test/replay.test.ts", "replay refused"]],
  },
  {
    name: "x-sigilum-authz MAC must verify",
    file: AUTHZ,
    find: "if (given.length !== wanted.length || !timingSafeEqual(given, wanted))",
    replace: "if (given.length !== wanted.length)",
    caughtBy: [[AUTHZ_TEST, "^tampered payload, signature, version or secret is refused"]],
  },
  {
    name: "x-sigilum-authz expiry",
    file: AUTHZ,
    find: 'if (t >= payload.exp) return { ok: false, reason: "expired" };',
    replace: 'if (false) return { ok: false, reason: "expired" };',
    caughtBy: [[AUTHZ_TEST, "^expires after 30 s at most"]],
  },
  {
    name: "x-sigilum-authz bound to the method",
    file: AUTHZ,
    find: 'if (payload.m !== expected.method.toUpperCase()) return { ok: false, reason: "method_mismatch" };',
    replace: 'if (false) return { ok: false, reason: "method_mismatch" };',
    caughtBy: [[AUTHZ_TEST, "^method is compared case-insensitively, path exactly"]],
  },
  {
    name: "x-sigilum-authz bound to the path",
    file: AUTHZ,
    find: 'if (payload.p !== expected.path) return { ok: false, reason: "path_mismatch" };',
    replace: 'if (false) return { ok: false, reason: "path_mismatch" };',
    caughtBy: [[AUTHZ_TEST, "^method is compared case-insensitively, path exactly"]],
  },
  {
    name: "the URL grammar refuses encoded dot segments (the proxy's route check, before the verifier, and the verifier's)",
    file: "packages/shared/src/gateway-route.ts",
    find: 'for (const part of value.split(/[/\\\\]/)) if (DOT_SEGMENT.test(part)) return "dot_segment";',
    replace: 'for (const part of value.split(/[/\\\\]/)) if (false) return "dot_segment";',
    caughtBy: [
      [
        "services/proxy/test/inline.test.ts",
        "^path traversal with a valid signature is refused by the proxy's own route check",
      ],
      ["services/verifier/test/envoy-contract.test.ts", "dot segments are refused"],
    ],
  },
  {
    name: "verifier's route check refuses unsafe paths",
    file: "services/verifier/src/pipeline/route.ts",
    find: 'if (parsed.reason === "unsafe_path") return deny("route", "PATH_TRAVERSAL");',
    replace: 'if (false) return deny("route", "PATH_TRAVERSAL");',
    caughtBy: [["services/verifier/test/envoy-contract.test.ts", "dot segments are refused"]],
  },
];
