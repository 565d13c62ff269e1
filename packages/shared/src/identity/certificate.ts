import { z } from "zod";
import type { Ed25519Backend } from "../ed25519.ts";
import { decodeBase64UrlStrict, encodeBase64Url } from "../encoding.ts";
import { parsePublicKey } from "./keys.ts";

export const certificateSchema = z
  .object({
    version: z.literal(1),
    namespace: z.string().min(1),
    did: z.string().min(1),
    keyId: z.string().min(1),
    publicKey: z.string().min(1),
    issuedAt: z.string(),
    expiresAt: z.string().nullable(),
    proof: z.looseObject({ alg: z.literal("ed25519"), sig: z.string().min(1) }),
  })
  .loose();

/** The self-signed agent certificate. Unknown fields (e.g. `issuedBy`) are kept so re-encoding is faithful. */
export type SigilumCertificate = z.infer<typeof certificateSchema>;

export type CertificateFields = Pick<
  SigilumCertificate,
  "namespace" | "did" | "keyId" | "publicKey" | "issuedAt" | "expiresAt"
>;

/** The seven-line canonical text the proof signs (no trailing newline). */
export function certificatePayload(fields: CertificateFields): string {
  return [
    "sigilum-certificate-v1",
    `namespace:${fields.namespace}`,
    `did:${fields.did}`,
    `key-id:${fields.keyId}`,
    `public-key:${fields.publicKey}`,
    `issued-at:${fields.issuedAt}`,
    `expires-at:${fields.expiresAt ?? ""}`,
  ].join("\n");
}

export function issueCertificate(
  backend: Ed25519Backend,
  seed: Uint8Array,
  fields: CertificateFields,
): SigilumCertificate {
  const sig = backend.sign(seed, Buffer.from(certificatePayload(fields), "utf8"));
  return {
    version: 1,
    namespace: fields.namespace,
    did: fields.did,
    keyId: fields.keyId,
    publicKey: fields.publicKey,
    issuedAt: fields.issuedAt,
    expiresAt: fields.expiresAt,
    proof: { alg: "ed25519", sig: encodeBase64Url(sig) },
  };
}

/** `sigilum-agent-cert` header value: base64url (no padding) of the compact JSON. */
export function encodeCertificateHeader(certificate: SigilumCertificate): string {
  return Buffer.from(JSON.stringify(certificate), "utf8").toString("base64url");
}

export type CertificateCheck =
  | { ok: true; certificate: SigilumCertificate; rawPublicKey: Buffer }
  | { ok: false; reason: string; stage: "decode" | "proof" };

/** Decodes a certificate header and checks its self-signed proof. Never throws. */
export function checkCertificateHeader(backend: Ed25519Backend, header: string): CertificateCheck {
  const json = decodeBase64UrlStrict(header);
  if (!json || json.length === 0)
    return { ok: false, stage: "decode", reason: "certificate header is not base64url" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString("utf8"));
  } catch {
    return { ok: false, stage: "decode", reason: "certificate header is not JSON" };
  }
  const result = certificateSchema.safeParse(parsed);
  if (!result.success) return { ok: false, stage: "decode", reason: "certificate has an invalid shape" };
  return verifyCertificate(backend, result.data);
}

export function verifyCertificate(
  backend: Ed25519Backend,
  certificate: SigilumCertificate,
): CertificateCheck {
  const rawPublicKey = parsePublicKey(certificate.publicKey);
  if (!rawPublicKey) return { ok: false, stage: "proof", reason: "certificate public key is malformed" };
  const sig = decodeBase64UrlStrict(certificate.proof.sig);
  if (sig?.length !== 64) return { ok: false, stage: "proof", reason: "certificate proof is malformed" };
  const valid = backend.verify(
    backend.importPublicKey(rawPublicKey),
    Buffer.from(certificatePayload(certificate), "utf8"),
    sig,
  );
  return valid
    ? { ok: true, certificate, rawPublicKey }
    : { ok: false, stage: "proof", reason: "certificate proof does not verify" };
}
