/**
 * libsodium's sealed box (`crypto_box_seal`), the format the gateway opens (packages/shared/src/sealed-box.ts):
 * an ephemeral X25519 key pair; nonce = BLAKE2b-192(ephemeral public key ‖ recipient public key); output =
 * ephemeral public key ‖ crypto_box(message, nonce, recipient, ephemeral secret). `nacl` is tweetnacl (its
 * `nacl.box` is crypto_box_easy), `blake2b` is @noble/hashes'. Plain ES module: the dashboard loads it with the
 * two libraries on the gateway page, tests run it in Node against sodium-native's crypto_box_seal_open.
 */

const KEY_BYTES = 32;
const NONCE_BYTES = 24;

function fromBase64(text) {
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function toBase64(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * @param {{ box: ((m: Uint8Array, n: Uint8Array, pk: Uint8Array, sk: Uint8Array) => Uint8Array) & { keyPair(): { publicKey: Uint8Array, secretKey: Uint8Array } } }} nacl
 * @param {(data: Uint8Array, opts: { dkLen: number }) => Uint8Array} blake2b
 * @returns {(plaintext: string, publicKeyBase64: string) => string} seals UTF-8 text, returns base64
 */
export function sealedBox(nacl, blake2b) {
  return (plaintext, publicKeyBase64) => {
    const recipient = fromBase64(publicKeyBase64);
    if (recipient.length !== KEY_BYTES) throw new Error("the gateway's public key must be 32 bytes");
    const ephemeral = nacl.box.keyPair();
    const nonce = blake2b(concat(ephemeral.publicKey, recipient), { dkLen: NONCE_BYTES });
    const boxed = nacl.box(new TextEncoder().encode(plaintext), nonce, recipient, ephemeral.secretKey);
    ephemeral.secretKey.fill(0);
    return toBase64(concat(ephemeral.publicKey, boxed));
  };
}
