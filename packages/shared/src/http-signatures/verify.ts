import { LRUCache } from "lru-cache";
import { defaultEd25519Backend, type Ed25519Backend, type Ed25519PublicKey } from "../ed25519.ts";
import { checkCertificateHeader, type SigilumCertificate } from "../identity/certificate.ts";
import { contentDigest } from "./content-digest.ts";
import {
  isAllowedComponentKey,
  parseProfileSignatureInput,
  profileSignatureBase64,
  SIGNING_HEADERS,
} from "./profile.ts";
import { buildSignatureBase, firstHeader, type HeaderInput } from "./rfc9421.ts";

export type SignatureAuthCode =
  | "AUTH_HEADERS_INVALID"
  | "AUTH_SIGNATURE_INVALID"
  | "AUTH_SIGNED_COMPONENTS_INVALID"
  | "AUTH_IDENTITY_INVALID"
  | "AUTH_NONCE_INVALID";

export interface SignedRequestInput {
  method: string;
  /** The `@target-uri` as rebuilt by the receiver (scheme://host + raw request-target); a fragment is ignored. */
  targetUri: string;
  /** Lower-case names; pass Node's `req.headersDistinct` so repeated field lines are visible. */
  headers: HeaderInput;
  body?: Uint8Array | null;
}

export interface VerifiedIdentity {
  ok: true;
  namespace: string;
  subject: string;
  keyId: string;
  publicKey: string;
  agentId?: string;
  nonce: string;
  created: number;
}

/** Failures a receiver may answer with its own code; match these, never the reason text. */
export type VerificationFailureKind = "expired" | "not_yet_valid" | "digest_mismatch";

export interface VerificationFailure {
  ok: false;
  code: SignatureAuthCode;
  /** For people: what failed, never a secret. */
  reason: string;
  kind?: VerificationFailureKind;
}

export type VerifyResult = VerifiedIdentity | VerificationFailure;

export interface SigilumVerifierOptions {
  backend?: Ed25519Backend;
  /** Oldest accepted `created`, in seconds (SIGILUM_TIMESTAMP_TOLERANCE_SECONDS). */
  maxAgeSeconds?: number;
  /** Tolerated clock skew for a `created` in the future, in seconds. */
  futureSkewSeconds?: number;
  /** Unix seconds; injectable for tests and vectors. */
  now?: () => number;
  certCacheSize?: number;
  /** Accept the Go SDK / OpenClaw variant that signs `sigilum-agent-id` (the gateway does; the TS SDK does not). */
  allowAgentIdComponent?: boolean;
}

export interface SigilumVerifier {
  verify(request: SignedRequestInput): VerifyResult;
  readonly backend: Ed25519Backend;
}

type CachedCertificate =
  | { ok: true; certificate: SigilumCertificate; key: Ed25519PublicKey }
  | { ok: false; reason: string };

const fail = (
  code: SignatureAuthCode,
  reason: string,
  kind?: VerificationFailureKind,
): VerificationFailure => (kind ? { ok: false, code, reason, kind } : { ok: false, code, reason });

type SingleLineHeader = (typeof SIGNING_HEADERS)[number];
const SINGLE_LINE_INDEX = new Map<string, number>(SIGNING_HEADERS.map((name, i) => [name, i]));
const indexOf = (name: SingleLineHeader) => SINGLE_LINE_INDEX.get(name) as number;
const SIGNATURE_INPUT = indexOf("signature-input");
const SIGNATURE = indexOf("signature");
const NAMESPACE = indexOf("sigilum-namespace");
const SUBJECT = indexOf("sigilum-subject");
const AGENT_ID = indexOf("sigilum-agent-id");
const AGENT_KEY = indexOf("sigilum-agent-key");
const AGENT_CERT = indexOf("sigilum-agent-cert");
const CONTENT_DIGEST = indexOf("content-digest");
/** Tolerated clock skew for a `created` in the future, unless the caller sets another. */
export const DEFAULT_FUTURE_SKEW_SECONDS = 5;
const CREATED_RE = /^[1-9]\d{0,11}$/;

/**
 * Builds the profile verifier. Checks run cheapest first; the only per-request Ed25519 operation is the
 * request signature, because certificate proofs are cached by the exact header value.
 */
export function createSigilumVerifier(options: SigilumVerifierOptions = {}): SigilumVerifier {
  const backend = options.backend ?? defaultEd25519Backend();
  const maxAge = options.maxAgeSeconds ?? 300;
  const futureSkew = options.futureSkewSeconds ?? DEFAULT_FUTURE_SKEW_SECONDS;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const allowAgentId = options.allowAgentIdComponent ?? true;
  const certificates = new LRUCache<string, CachedCertificate>({ max: options.certCacheSize ?? 10_000 });

  function certificateFor(header: string): CachedCertificate {
    let cached = certificates.get(header);
    if (cached === undefined) {
      const check = checkCertificateHeader(backend, header);
      cached = check.ok
        ? { ok: true, certificate: check.certificate, key: backend.importPublicKey(check.rawPublicKey) }
        : { ok: false, reason: check.reason };
      certificates.set(header, cached);
    }
    return cached;
  }

  function verify(request: SignedRequestInput): VerifyResult {
    const { headers } = request;
    // Each signing header is read once: duplicate lines refused, first line trimmed (as firstHeader).
    const single = new Array<string | undefined>(SIGNING_HEADERS.length);
    for (let i = 0; i < SIGNING_HEADERS.length; i++) {
      const name = SIGNING_HEADERS[i] as SingleLineHeader;
      const value = headers[name];
      if (typeof value === "string") single[i] = value.trim();
      else if (value !== undefined) {
        if (value.length > 1) return fail("AUTH_HEADERS_INVALID", `duplicate ${name} header`);
        single[i] = value[0]?.trim();
      }
    }
    const inputHeader = single[SIGNATURE_INPUT];
    const signatureHeader = single[SIGNATURE];
    if (!inputHeader || !signatureHeader) {
      return fail("AUTH_SIGNATURE_INVALID", "missing Signature-Input or Signature header");
    }
    const input = parseProfileSignatureInput(inputHeader);
    if (!input) return fail("AUTH_SIGNATURE_INVALID", "Signature-Input is not in the Sigilum profile format");
    if (input.alg !== "ed25519")
      return fail("AUTH_SIGNATURE_INVALID", `unsupported signature algorithm "${input.alg}"`);
    if (!CREATED_RE.test(input.created)) return fail("AUTH_SIGNATURE_INVALID", "invalid created timestamp");
    const created = Number(input.created);
    const age = now() - created;
    if (age > maxAge)
      return fail(
        "AUTH_SIGNATURE_INVALID",
        `signature expired (created ${age}s ago, limit ${maxAge}s)`,
        "expired",
      );
    if (age < -futureSkew)
      return fail("AUTH_SIGNATURE_INVALID", "signature created in the future", "not_yet_valid");
    const signatureBase64 = profileSignatureBase64(signatureHeader);
    if (signatureBase64 === null)
      return fail("AUTH_SIGNATURE_INVALID", "Signature header is not sig1=:<base64 Ed25519 signature>:");

    const body = request.body;
    const hasBody = body !== undefined && body !== null && body.length > 0;
    if (!input.components.includes("sigilum-subject")) {
      return fail("AUTH_SIGNED_COMPONENTS_INVALID", "sigilum-subject is not a signed component");
    }
    if (!isAllowedComponentKey(input.componentsKey, hasBody, allowAgentId)) {
      return fail(
        "AUTH_SIGNED_COMPONENTS_INVALID",
        `invalid signed component set for a request ${hasBody ? "with" : "without"} body`,
      );
    }

    const certHeader = single[AGENT_CERT];
    if (!certHeader) return fail("AUTH_IDENTITY_INVALID", "missing sigilum-agent-cert header");
    const cert = certificateFor(certHeader);
    if (!cert.ok) return fail("AUTH_IDENTITY_INVALID", `invalid agent certificate: ${cert.reason}`);
    const namespace = single[NAMESPACE];
    if (!namespace || namespace !== cert.certificate.namespace) {
      return fail("AUTH_IDENTITY_INVALID", "sigilum-namespace does not match the agent certificate");
    }
    const subject = single[SUBJECT];
    if (!subject) return fail("AUTH_IDENTITY_INVALID", "missing sigilum-subject header");
    const publicKey = single[AGENT_KEY];
    if (!publicKey || publicKey !== cert.certificate.publicKey) {
      return fail("AUTH_IDENTITY_INVALID", "sigilum-agent-key does not match the agent certificate");
    }
    if (input.keyId !== cert.certificate.keyId)
      return fail("AUTH_IDENTITY_INVALID", "keyid does not match the agent certificate");
    const agentId = single[AGENT_ID];
    if (agentId && !input.components.includes("sigilum-agent-id")) {
      return fail("AUTH_IDENTITY_INVALID", "sigilum-agent-id is present but not signed");
    }
    const digestHeader = single[CONTENT_DIGEST];
    if (hasBody && digestHeader !== contentDigest(body)) {
      return fail("AUTH_SIGNATURE_INVALID", "content-digest does not match the body", "digest_mismatch");
    }

    const hash = request.targetUri.indexOf("#");
    const targetUri = hash === -1 ? request.targetUri : request.targetUri.slice(0, hash);
    const method = request.method.toLowerCase();
    const built = buildSignatureBase(
      input.components,
      (name) => {
        switch (name) {
          case "@method":
            return method;
          case "@target-uri":
            return targetUri;
          default: {
            const index = SINGLE_LINE_INDEX.get(name);
            return (index === undefined ? firstHeader(headers, name) : single[index]) || null;
          }
        }
      },
      input.signatureParams,
    );
    if (!built.ok) return fail("AUTH_SIGNATURE_INVALID", `missing required signed header ${built.missing}`);
    const signatureBytes = Buffer.from(signatureBase64, "base64");
    if (!backend.verify(cert.key, Buffer.from(built.base, "utf8"), signatureBytes)) {
      return fail("AUTH_SIGNATURE_INVALID", "signature verification failed");
    }
    const nonce = input.nonce.trim();
    if (!nonce) return fail("AUTH_NONCE_INVALID", "signature nonce is blank");
    return {
      ok: true,
      namespace,
      subject,
      keyId: input.keyId,
      publicKey,
      nonce,
      created,
      ...(agentId ? { agentId } : {}),
    };
  }

  return { verify, backend };
}
