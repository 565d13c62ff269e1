import type { ErrorCode } from "./errors.ts";

/**
 * One set of size limits for what a signed request carries, checked before any signature work (verifier) and
 * before the request is relayed (proxy), so that nothing the verifier accepts can be refused later: the
 * x-sigilum-authz token the verifier mints for an accepted request always fits the token's own bounds, which
 * are derived from these numbers. A request over a limit is refused before its nonce is spent.
 */

/** Path plus query as received, in bytes: 414 REQUEST_TARGET_TOO_LONG above it. */
export const MAX_REQUEST_TARGET_BYTES = 8192;

/** The longest value of each Sigilum header line, in bytes: 431 REQUEST_HEADER_TOO_LARGE above it. */
export const SIGNING_HEADER_LIMITS = {
  "signature-input": 2048,
  signature: 512,
  "content-digest": 512,
  "sigilum-namespace": 64,
  "sigilum-subject": 1024,
  "sigilum-agent-id": 1024,
  "sigilum-agent-key": 256,
  "sigilum-agent-cert": 4096,
} as const;

export type RequestLimitCode =
  | "REQUEST_TARGET_TOO_LONG"
  | "REQUEST_HEADER_TOO_LARGE"
  | "REQUEST_HOST_INVALID";

export interface LimitViolation {
  code: ErrorCode & RequestLimitCode;
  message: string;
}

const HEADER_LIMITS = new Map<string, number>(Object.entries(SIGNING_HEADER_LIMITS));

/**
 * `target`: the request-target as received; `rawHeaders`: Node's flat [name, value, ...] list. One pass; the
 * first violation wins (target, then headers in order).
 */
export function checkRequestLimits(
  target: string,
  rawHeaders: readonly string[],
): LimitViolation | undefined {
  // Node decodes the request line and header values as latin1: one character per byte.
  if (target.length > MAX_REQUEST_TARGET_BYTES) {
    return {
      code: "REQUEST_TARGET_TOO_LONG",
      message: `request target (path and query) exceeds ${MAX_REQUEST_TARGET_BYTES} bytes`,
    };
  }
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (name === "host") {
      hosts++;
      continue;
    }
    const limit = HEADER_LIMITS.get(name);
    if (limit !== undefined && (rawHeaders[i + 1] as string).length > limit) {
      return { code: "REQUEST_HEADER_TOO_LARGE", message: `${name} exceeds ${limit} bytes` };
    }
  }
  if (hosts !== 1) {
    return {
      code: "REQUEST_HOST_INVALID",
      message: hosts === 0 ? "Host header is missing" : "Host header is repeated",
    };
  }
  return undefined;
}
