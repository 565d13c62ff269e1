import type { Redis } from "ioredis";
import type { z } from "zod";
import { type SecretBox, sealedRecordSchema } from "./crypto.ts";
import type { EventPublisher } from "./events.ts";
import type { ProxyKeys } from "./keys.ts";
import { VersionedHash } from "./versioned-hash.ts";

export class StoredRecordError extends Error {
  override name = "StoredRecordError";
}

export interface SealedStoreDeps {
  redis: Redis;
  keys: ProxyKeys;
  box: SecretBox;
  events: EventPublisher;
}

/** What the connection and variable stores share: versioned hashes in Redis, sealed fields, change events. */
export abstract class SealedHashStore {
  protected readonly redis: Redis;
  protected readonly hash: VersionedHash;
  protected readonly keys: ProxyKeys;
  protected readonly box: SecretBox;
  protected readonly events: EventPublisher;

  constructor(deps: SealedStoreDeps) {
    this.redis = deps.redis;
    this.hash = new VersionedHash(deps.redis);
    this.keys = deps.keys;
    this.box = deps.box;
    this.events = deps.events;
  }

  /** The field sealed again under the current master key, or null when it already is (or is not a sealed record). */
  protected resealIfStale(raw: string, aad: string): string | null {
    const sealed = sealedRecordSchema.safeParse(parseJson(raw));
    if (!sealed.success || !this.box.isStale(sealed.data)) return null;
    return JSON.stringify(this.box.seal(this.box.open(sealed.data, aad), aad));
  }
}

/** A stored JSON document checked against its schema; a corrupt one is an error, never a default. */
export function parseStored<T>(schema: z.ZodType<T>, raw: string, what: string): T {
  const parsed = schema.safeParse(parseJson(raw));
  if (!parsed.success) throw new StoredRecordError(`stored ${what} is corrupt`);
  return parsed.data;
}

export function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
