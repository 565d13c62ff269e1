import { notFound } from "../model/errors.ts";
import { type VariableRecord, variableRecordSchema } from "../model/variable.ts";
import { aad } from "./crypto.ts";
import { parseJson, parseStored, SealedHashStore } from "./sealed-store.ts";
import { casDone, casRetry, listIndexed, withCasRetry } from "./versioned-hash.ts";

/** Shared credential variables: one hash per key, `meta` in clear, `value` sealed (AAD binds the key). */

const META = "meta";
const VALUE = "value";

export class VariableStore extends SealedHashStore {
  list(): Promise<VariableRecord[]> {
    const keys = this.keys;
    return listIndexed(
      this.redis,
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
    const [sealed, rev] = await this.redis.hmget(this.keys.variable(key), VALUE, "rev");
    if (sealed == null || rev == null) return null;
    return { value: this.box.open(parseJson(sealed), aad.variable(key)), rev };
  }

  /** Create or replace; keeps the original created_at and created_by_subject (filled only if empty). */
  async upsert(key: string, value: string, subject: string, now: number): Promise<VariableRecord> {
    const hashKey = this.keys.variable(key);
    const sealed = JSON.stringify(this.box.seal(value, aad.variable(key)));
    await this.redis.sadd(this.keys.variableIndex, key);
    const record = await withCasRetry<VariableRecord>(async () => {
      const snapshot = await this.hash.read(hashKey);
      const meta = snapshot?.fields[META];
      if (!snapshot || meta === undefined) {
        const created: VariableRecord = {
          key,
          created_at: now,
          updated_at: now,
          created_by_subject: subject,
        };
        const ok = await this.hash.create(hashKey, { [META]: JSON.stringify(created), [VALUE]: sealed });
        return ok ? casDone(created) : casRetry();
      }
      const current = parseMeta(meta);
      const next: VariableRecord = {
        ...current,
        updated_at: now,
        created_by_subject: current.created_by_subject || subject,
      };
      const result = await this.hash.compareAndSet(hashKey, snapshot.rev, {
        [META]: JSON.stringify(next),
        [VALUE]: sealed,
      });
      return result === "ok" ? casDone(next) : casRetry();
    });
    await this.events.publish({ type: "variable.changed", id: key });
    return record;
  }

  async delete(key: string): Promise<void> {
    const deleted = await this.hash.delete(this.keys.variable(key));
    await this.redis.srem(this.keys.variableIndex, key);
    if (!deleted) throw notFound("credential variable not found");
    await this.events.publish({ type: "variable.changed", id: key });
  }

  /** Master-key rotation: re-seals values still sealed with a previous key. */
  async reencryptStale(): Promise<number> {
    let rewritten = 0;
    for (const key of await this.redis.smembers(this.keys.variableIndex)) {
      const hashKey = this.keys.variable(key);
      rewritten += await withCasRetry<number>(async () => {
        const snapshot = await this.hash.read(hashKey);
        const raw = snapshot?.fields[VALUE];
        if (!snapshot || raw === undefined) return casDone(0);
        const resealed = this.resealIfStale(raw, aad.variable(key));
        if (resealed === null) return casDone(0);
        const result = await this.hash.compareAndSet(hashKey, snapshot.rev, { [VALUE]: resealed });
        if (result === "missing") return casDone(0);
        return result === "ok" ? casDone(1) : casRetry();
      });
    }
    return rewritten;
  }
}

function parseMeta(raw: string): VariableRecord {
  return parseStored(variableRecordSchema, raw, "credential variable metadata");
}
