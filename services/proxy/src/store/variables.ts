import type { Redis } from "ioredis";
import { notFound } from "../model/errors.ts";
import { type VariableRecord, variableRecordSchema } from "../model/variable.ts";
import { StoredRecordError } from "./connections.ts";
import { aad, type SecretBox, sealedRecordSchema } from "./crypto.ts";
import type { EventPublisher } from "./events.ts";
import type { ProxyKeys } from "./keys.ts";
import { casDone, casRetry, listIndexed, VersionedHash, withCasRetry } from "./versioned-hash.ts";

/** Shared credential variables: one hash per key, `meta` in clear, `value` sealed (AAD binds the key). */

const META = "meta";
const VALUE = "value";

export class VariableStore {
  readonly #redis: Redis;
  readonly #hash: VersionedHash;
  readonly #keys: ProxyKeys;
  readonly #box: SecretBox;
  readonly #events: EventPublisher;

  constructor(opts: { redis: Redis; keys: ProxyKeys; box: SecretBox; events: EventPublisher }) {
    this.#redis = opts.redis;
    this.#hash = new VersionedHash(opts.redis);
    this.#keys = opts.keys;
    this.#box = opts.box;
    this.#events = opts.events;
  }

  list(): Promise<VariableRecord[]> {
    const keys = this.#keys;
    return listIndexed(
      this.#redis,
      keys.variableIndex,
      (key) => keys.variable(key),
      META,
      parseMeta,
      (v) => v.key,
    );
  }

  /** The decrypted value, or undefined when the variable does not exist. */
  async getValue(key: string): Promise<string | undefined> {
    return (await this.getVersioned(key))?.value;
  }

  /** The decrypted value with the record's revision; null when missing. */
  async getVersioned(key: string): Promise<{ value: string; rev: string } | null> {
    const [sealed, rev] = await this.#redis.hmget(this.#keys.variable(key), VALUE, "rev");
    if (sealed == null || rev == null) return null;
    return { value: this.#box.open(safeJson(sealed), aad.variable(key)), rev };
  }

  /** Create or replace; keeps the original created_at and created_by_subject (filled only if empty). */
  async upsert(key: string, value: string, subject: string, now: number): Promise<VariableRecord> {
    const hashKey = this.#keys.variable(key);
    const sealed = JSON.stringify(this.#box.seal(value, aad.variable(key)));
    await this.#redis.sadd(this.#keys.variableIndex, key);
    const record = await withCasRetry<VariableRecord>(async () => {
      const snapshot = await this.#hash.read(hashKey);
      const meta = snapshot?.fields[META];
      if (!snapshot || meta === undefined) {
        const created: VariableRecord = {
          key,
          created_at: now,
          updated_at: now,
          created_by_subject: subject,
        };
        const ok = await this.#hash.create(hashKey, { [META]: JSON.stringify(created), [VALUE]: sealed });
        return ok ? casDone(created) : casRetry();
      }
      const current = parseMeta(meta);
      const next: VariableRecord = {
        ...current,
        updated_at: now,
        created_by_subject: current.created_by_subject || subject,
      };
      const result = await this.#hash.compareAndSet(hashKey, snapshot.rev, {
        [META]: JSON.stringify(next),
        [VALUE]: sealed,
      });
      return result === "ok" ? casDone(next) : casRetry();
    });
    await this.#events.publish({ type: "variable.changed", id: key });
    return record;
  }

  async delete(key: string): Promise<void> {
    const deleted = await this.#hash.delete(this.#keys.variable(key));
    await this.#redis.srem(this.#keys.variableIndex, key);
    if (!deleted) throw notFound("credential variable not found");
    await this.#events.publish({ type: "variable.changed", id: key });
  }

  /** Master-key rotation: re-seals values still sealed with a previous key. */
  async reencryptStale(): Promise<number> {
    let rewritten = 0;
    for (const key of await this.#redis.smembers(this.#keys.variableIndex)) {
      const hashKey = this.#keys.variable(key);
      rewritten += await withCasRetry<number>(async () => {
        const snapshot = await this.#hash.read(hashKey);
        const raw = snapshot?.fields[VALUE];
        if (!snapshot || raw === undefined) return casDone(0);
        const sealed = sealedRecordSchema.safeParse(safeJson(raw));
        if (!sealed.success || !this.#box.isStale(sealed.data)) return casDone(0);
        const resealed = this.#box.seal(this.#box.open(sealed.data, aad.variable(key)), aad.variable(key));
        const result = await this.#hash.compareAndSet(hashKey, snapshot.rev, {
          [VALUE]: JSON.stringify(resealed),
        });
        if (result === "missing") return casDone(0);
        return result === "ok" ? casDone(1) : casRetry();
      });
    }
    return rewritten;
  }
}

function parseMeta(raw: string): VariableRecord {
  const parsed = variableRecordSchema.safeParse(safeJson(raw));
  if (!parsed.success) throw new StoredRecordError("stored credential variable metadata is corrupt");
  return parsed.data;
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
