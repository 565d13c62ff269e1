import { createHash } from "node:crypto";
import { decodeBase64Strict, encodeBase64 } from "../encoding.ts";

export const PUBLIC_KEY_PREFIX = "ed25519:";

export function didFor(namespace: string): string {
  return `did:sigilum:${namespace}`;
}

/** keyId = did + "#ed25519-" + first 8 bytes of sha256(raw public key), hex. */
export function keyIdFor(did: string, rawPublicKey: Uint8Array): string {
  const fingerprint = createHash("sha256").update(rawPublicKey).digest("hex").slice(0, 16);
  return `${did}#ed25519-${fingerprint}`;
}

export function formatPublicKey(raw: Uint8Array): string {
  return PUBLIC_KEY_PREFIX + encodeBase64(raw);
}

/** `ed25519:<standard base64 of 32 bytes>` → raw bytes, or null when malformed. */
export function parsePublicKey(text: string): Buffer | null {
  if (!text.startsWith(PUBLIC_KEY_PREFIX)) return null;
  const raw = decodeBase64Strict(text.slice(PUBLIC_KEY_PREFIX.length));
  return raw && raw.length === 32 ? raw : null;
}
