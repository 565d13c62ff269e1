import sodium from "sodium-native";

/**
 * libsodium sealed boxes (`crypto_box_seal`: X25519 + XSalsa20-Poly1305, anonymous sender) through sodium-native.
 * Owners seal secret fields to the gateway's public key; only the gateway (proxy) holds the secret key that opens
 * them. In a browser, libsodium-wrappers' `crypto_box_seal` produces the same bytes format.
 */

export const SEALED_BOX_KEY_BYTES = 32;

export class SealedBoxError extends Error {
  override name = "SealedBoxError";
}

export interface BoxKeyPair {
  publicKey: Buffer;
  secretKey: Buffer;
}

export function generateBoxKeyPair(): BoxKeyPair {
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  const secretKey = sodium.sodium_malloc(sodium.crypto_box_SECRETKEYBYTES);
  sodium.crypto_box_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

/** The public key of a stored secret key (X25519 base point multiplication). */
export function boxPublicKeyOf(secretKey: Buffer): Buffer {
  if (secretKey.length !== SEALED_BOX_KEY_BYTES) throw new SealedBoxError("secret key must be 32 bytes");
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return publicKey;
}

function publicKeyBytes(publicKeyBase64: string): Buffer {
  const key = Buffer.from(publicKeyBase64, "base64");
  if (key.length !== SEALED_BOX_KEY_BYTES || key.toString("base64") !== publicKeyBase64) {
    throw new SealedBoxError("public key must be 32 bytes of standard base64");
  }
  return key;
}

/** Seals UTF-8 text to a base64 public key; returns base64. */
export function sealToKey(plaintext: string, publicKeyBase64: string): string {
  const message = Buffer.from(plaintext, "utf8");
  const out = Buffer.alloc(message.length + sodium.crypto_box_SEALBYTES);
  sodium.crypto_box_seal(out, message, publicKeyBytes(publicKeyBase64));
  return out.toString("base64");
}

/** Opens a base64 sealed box; throws SealedBoxError when it was not sealed to this key pair or was altered. */
export function openSealed(ciphertextBase64: string, keys: BoxKeyPair): string {
  const ciphertext = Buffer.from(ciphertextBase64, "base64");
  if (ciphertext.length < sodium.crypto_box_SEALBYTES) throw new SealedBoxError("sealed value is too short");
  const message = Buffer.alloc(ciphertext.length - sodium.crypto_box_SEALBYTES);
  if (!sodium.crypto_box_seal_open(message, ciphertext, keys.publicKey, keys.secretKey)) {
    throw new SealedBoxError(
      "sealed value does not open with the gateway key (sealed to another key, or altered)",
    );
  }
  return message.toString("utf8");
}
