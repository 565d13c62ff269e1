import { GatewayError } from "@sigilum-gw/shared/errors";
import { SEALED_BOX_ALGORITHM } from "@sigilum-gw/shared/pairing-frames";
import {
  type BoxKeyPair,
  boxPublicKeyOf,
  generateBoxKeyPair,
  openSealed,
  SealedBoxError,
} from "@sigilum-gw/shared/sealed-box";
import { openSealedValues } from "@sigilum-gw/shared/sealed-fields";
import type { Redis } from "ioredis";
import type { SecretBox } from "./crypto.ts";
import { parseJson } from "./sealed-store.ts";

/**
 * The gateway's X25519 key pair for sealed secret fields (the pairing relay): one per gateway, shared by every
 * replica through Redis, its secret key sealed at rest under GATEWAY_MASTER_KEY exactly like connection secrets
 * (AAD `pairing-key:secret`). Created on first use; the first replica to store it wins (SET NX).
 */

const AAD = "pairing-key:secret";

export class PairingKeyStore {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #box: SecretBox;
  #pair: Promise<BoxKeyPair> | undefined;

  constructor(redis: Redis, key: string, box: SecretBox) {
    this.#redis = redis;
    this.#key = key;
    this.#box = box;
  }

  #load(): Promise<BoxKeyPair> {
    this.#pair ??= this.#loadOrCreate().catch((err: unknown) => {
      this.#pair = undefined; // retry on the next call (Redis may be back)
      throw err;
    });
    return this.#pair;
  }

  async #loadOrCreate(): Promise<BoxKeyPair> {
    const fresh = generateBoxKeyPair();
    const sealed = JSON.stringify(this.#box.seal(fresh.secretKey.toString("base64"), AAD));
    await this.#redis.set(this.#key, sealed, "NX");
    const stored = await this.#redis.get(this.#key);
    if (stored === null) throw new Error("pairing key vanished from Redis");
    const secretKey = Buffer.from(this.#box.open(parseJson(stored), AAD), "base64");
    return { secretKey, publicKey: boxPublicKeyOf(secretKey) };
  }

  async publicJson(): Promise<{ public_key: string; algorithm: string }> {
    const pair = await this.#load();
    return { public_key: pair.publicKey.toString("base64"), algorithm: SEALED_BOX_ALGORITHM };
  }

  /** `json` with every `{"sealed": …}` value opened; one that does not open is a 400, never a stored blob. */
  async unseal(json: unknown): Promise<unknown> {
    if (!JSON.stringify(json ?? null).includes('"sealed"')) return json;
    const pair = await this.#load();
    try {
      return openSealedValues(json, (sealed) => openSealed(sealed, pair));
    } catch (err) {
      if (err instanceof SealedBoxError)
        throw new GatewayError("INVALID_REQUEST", `invalid sealed value: ${err.message}`);
      throw err;
    }
  }
}
