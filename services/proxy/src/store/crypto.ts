import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { z } from "zod";

/**
 * Secrets at rest: AES-256-GCM under a key derived (HKDF-SHA256) from GATEWAY_MASTER_KEY.
 * Every record carries the id of the key that sealed it, so a master-key rotation can
 * keep reading old records (GATEWAY_MASTER_KEY_PREVIOUS) while every write uses the current key.
 * The additional authenticated data names the record and field, so a ciphertext copied
 * into another record (or another field of the same record) fails to open.
 */

const HKDF_SALT = Buffer.from("sigilum-gateway/secrets-at-rest", "utf8");
const HKDF_INFO = Buffer.from("aes-256-gcm v1", "utf8");
const IV_BYTES = 12;
const TAG_BYTES = 16;

export const sealedRecordSchema = z.object({
  v: z.literal(1),
  kid: z.string().regex(/^[0-9a-f]{8}$/),
  iv: z.base64(),
  ct: z.base64(),
  tag: z.base64(),
});
export type SealedRecord = z.infer<typeof sealedRecordSchema>;

export class SecretCryptoError extends Error {
  override name = "SecretCryptoError";
}

interface DerivedKey {
  readonly id: string;
  readonly key: Buffer;
}

function deriveKey(masterKey: string): DerivedKey {
  if (masterKey.length === 0) throw new SecretCryptoError("master key is empty");
  const key = Buffer.from(hkdfSync("sha256", Buffer.from(masterKey, "utf8"), HKDF_SALT, HKDF_INFO, 32));
  const id = createHash("sha256").update(key).digest("hex").slice(0, 8);
  return { id, key };
}

export interface SecretBox {
  /** Id of the key every new record is sealed with. */
  readonly currentKeyId: string;
  seal(plaintext: string, aad: string): SealedRecord;
  open(record: unknown, aad: string): string;
  /** True when the record was sealed with a key other than the current one (needs re-encryption). */
  isStale(record: SealedRecord): boolean;
}

export function createSecretBox(opts: {
  masterKey: string;
  previousMasterKey?: string | undefined;
}): SecretBox {
  const current = deriveKey(opts.masterKey);
  const keys = new Map<string, Buffer>([[current.id, current.key]]);
  if (opts.previousMasterKey) {
    const previous = deriveKey(opts.previousMasterKey);
    if (!keys.has(previous.id)) keys.set(previous.id, previous.key);
  }

  return {
    currentKeyId: current.id,
    seal(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", current.key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(aad, "utf8"));
      const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return {
        v: 1,
        kid: current.id,
        iv: iv.toString("base64"),
        ct: ct.toString("base64"),
        tag: cipher.getAuthTag().toString("base64"),
      };
    },
    open(raw, aad) {
      const parsed = sealedRecordSchema.safeParse(raw);
      if (!parsed.success) throw new SecretCryptoError("sealed secret record is malformed");
      const record = parsed.data;
      const key = findKey(keys, record.kid);
      if (!key) throw new SecretCryptoError(`no master key with id ${record.kid} is configured`);
      const iv = Buffer.from(record.iv, "base64");
      const tag = Buffer.from(record.tag, "base64");
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new SecretCryptoError("sealed secret record is malformed");
      }
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(aad, "utf8"));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(Buffer.from(record.ct, "base64")), decipher.final()]).toString(
          "utf8",
        );
      } catch {
        throw new SecretCryptoError("secret record failed authentication (wrong key or tampered record)");
      }
    },
    isStale(record) {
      return record.kid !== current.id;
    },
  };
}

function findKey(keys: Map<string, Buffer>, kid: string): Buffer | undefined {
  // Key ids are public (they are stored beside the ciphertext); the lookup need not be constant time,
  // but we compare explicitly so a lookup never depends on Map key coercion.
  for (const [id, key] of keys) {
    if (id.length === kid.length && timingSafeEqual(Buffer.from(id), Buffer.from(kid))) return key;
  }
  return undefined;
}

/** AAD builders: one place, so writers and readers cannot disagree. */
export const aad = {
  connectionSecret: (connectionId: string, version: number) => `conn:${connectionId}:secret:${version}`,
  variable: (key: string) => `var:${key}:value`,
  mcpUpstream: (connectionId: string) => `mcp-upstream:${connectionId}`,
};
