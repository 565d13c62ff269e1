import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from "node:crypto";
import { createRequire } from "node:module";
import * as noble from "@noble/ed25519";

/**
 * One small interface over three Ed25519 implementations. Public keys are imported once into a
 * backend-specific handle so the hot path never re-parses key material (DER/JWK import per call halves
 * node:crypto's rate).
 */
export interface Ed25519Backend {
  readonly name: Ed25519BackendName;
  importPublicKey(raw: Uint8Array): Ed25519PublicKey;
  verify(key: Ed25519PublicKey, message: Uint8Array, signature: Uint8Array): boolean;
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  publicKeyFromSeed(seed: Uint8Array): Uint8Array;
}

export const ED25519_BACKEND_NAMES = ["sodium-native", "node-crypto", "noble"] as const;
export type Ed25519BackendName = (typeof ED25519_BACKEND_NAMES)[number];

/** Opaque prepared key; `raw` is always the 32 public key bytes. */
export interface Ed25519PublicKey {
  readonly raw: Uint8Array;
  readonly prepared: unknown;
}

const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const SEED_BYTES = 32;

function assertLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`);
}

interface SodiumNative {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_PUBLICKEYBYTES: number;
  crypto_sign_SECRETKEYBYTES: number;
}

function loadSodium(): SodiumNative | null {
  try {
    return createRequire(import.meta.url)("sodium-native") as SodiumNative;
  } catch {
    return null;
  }
}

function sodiumBackend(sodium: SodiumNative): Ed25519Backend {
  const keypair = memoBySeed((seed) => {
    assertLength(seed, SEED_BYTES, "seed");
    const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
    const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
    sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
    return { publicKey, secretKey };
  });
  return {
    name: "sodium-native",
    importPublicKey(raw) {
      assertLength(raw, PUBLIC_KEY_BYTES, "public key");
      return { raw, prepared: raw };
    },
    verify(key, message, signature) {
      if (signature.length !== SIGNATURE_BYTES) return false;
      return sodium.crypto_sign_verify_detached(signature, message, key.prepared as Uint8Array);
    },
    sign(seed, message) {
      const signature = Buffer.alloc(SIGNATURE_BYTES);
      sodium.crypto_sign_detached(signature, message, keypair(seed).secretKey);
      return signature;
    },
    publicKeyFromSeed: (seed) => keypair(seed).publicKey,
  };
}

/**
 * Per-seed memo of derived key material: a signer (the gateway signing every usage event, an agent every request)
 * keeps one seed for its life, and deriving the key costs as much as the signature. Keyed by the seed array, whose
 * bytes callers never change.
 */
function memoBySeed<T>(derive: (seed: Uint8Array) => T): (seed: Uint8Array) => T {
  const derived = new WeakMap<Uint8Array, T>();
  return (seed) => {
    let value = derived.get(seed);
    if (value === undefined) {
      value = derive(seed);
      derived.set(seed, value);
    }
    return value;
  };
}

const nodePrivateKey = memoBySeed((seed): KeyObject => {
  assertLength(seed, SEED_BYTES, "seed");
  // PKCS#8 prefix for an Ed25519 private key followed by the 32-byte seed.
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
});

function nodeCryptoBackend(): Ed25519Backend {
  return {
    name: "node-crypto",
    importPublicKey(raw) {
      assertLength(raw, PUBLIC_KEY_BYTES, "public key");
      const jwk = { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") };
      return { raw, prepared: createPublicKey({ key: jwk, format: "jwk" }) };
    },
    verify(key, message, signature) {
      if (signature.length !== SIGNATURE_BYTES) return false;
      return nodeVerify(null, message, key.prepared as KeyObject, signature);
    },
    sign: (seed, message) => new Uint8Array(nodeSign(null, message, nodePrivateKey(seed))),
    publicKeyFromSeed(seed) {
      const jwk = createPublicKey(nodePrivateKey(seed)).export({ format: "jwk" });
      return new Uint8Array(Buffer.from(jwk.x as string, "base64url"));
    },
  };
}

let nobleHashReady = false;
function nobleBackend(): Ed25519Backend {
  if (!nobleHashReady) {
    noble.hashes.sha512 = (message: Uint8Array) =>
      new Uint8Array(createHash("sha512").update(message).digest());
    nobleHashReady = true;
  }
  return {
    name: "noble",
    importPublicKey(raw) {
      assertLength(raw, PUBLIC_KEY_BYTES, "public key");
      return { raw, prepared: raw };
    },
    verify(key, message, signature) {
      if (signature.length !== SIGNATURE_BYTES) return false;
      try {
        return noble.verify(signature, message, key.prepared as Uint8Array);
      } catch {
        return false;
      }
    },
    sign: (seed, message) => noble.sign(message, seed),
    publicKeyFromSeed: (seed) => noble.getPublicKey(seed),
  };
}

const backends = new Map<Ed25519BackendName, Ed25519Backend | null>();

/** Returns the named backend, or null when it cannot load on this machine (sodium-native without a prebuild). */
export function getEd25519Backend(name: Ed25519BackendName): Ed25519Backend | null {
  if (!backends.has(name)) {
    const sodium = name === "sodium-native" ? loadSodium() : null;
    const backend =
      name === "sodium-native"
        ? sodium
          ? sodiumBackend(sodium)
          : null
        : name === "node-crypto"
          ? nodeCryptoBackend()
          : nobleBackend();
    backends.set(name, backend);
  }
  return backends.get(name) ?? null;
}

/**
 * The server-side default: sodium-native when it loads (about twice node:crypto's verify rate), else node:crypto.
 * Pure-JS noble is an order of magnitude slower and is never chosen implicitly. `preferred` is a service's
 * SIGILUM_ED25519_BACKEND (ed25519Env); it wins when it loads on this machine.
 */
export function defaultEd25519Backend(preferred?: Ed25519BackendName): Ed25519Backend {
  if (preferred) {
    const chosen = getEd25519Backend(preferred);
    if (chosen) return chosen;
  }
  return getEd25519Backend("sodium-native") ?? (getEd25519Backend("node-crypto") as Ed25519Backend);
}

export function availableEd25519Backends(): Ed25519Backend[] {
  return ED25519_BACKEND_NAMES.map((name) => getEd25519Backend(name)).filter(
    (b): b is Ed25519Backend => b !== null,
  );
}
