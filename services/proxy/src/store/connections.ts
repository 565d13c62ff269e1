import { connectionRecordSchema } from "../model/connection/schemas.ts";
import type { ConnectionRecord, SecretMap } from "../model/connection/types.ts";
import { connectionExists, connectionNotFound } from "../model/errors.ts";
import { aad, SecretCryptoError } from "./crypto.ts";
import { parseJson, parseStored, SealedHashStore } from "./sealed-store.ts";
import { casDone, casRetry, listIndexed, withCasRetry } from "./versioned-hash.ts";

/**
 * Durable connection store. One hash per connection: `meta` (the metadata JSON; never a secret), `rev`, and one
 * `secret:<version>` field per secret version, each an AES-256-GCM record bound to (connection id, version).
 * Every change is published on the events channel so every replica drops its cached copy.
 */

const META = "meta";
const secretField = (version: number) => `secret:${version}`;

export interface ConnectionWithSecrets {
  record: ConnectionRecord;
  secrets: SecretMap;
}

export interface VersionedConnection extends ConnectionWithSecrets {
  /** The record's revision (a fresh random value on every write). */
  rev: string;
}

export class ConnectionStore extends SealedHashStore {
  list(): Promise<ConnectionRecord[]> {
    const keys = this.keys;
    return listIndexed(
      this.redis,
      keys.connectionIndex,
      (id) => keys.connection(id),
      META,
      parseMeta,
      (c) => c.id,
    );
  }

  /** Cheap readiness probe: the store can be listed. */
  async ping(): Promise<void> {
    await this.redis.scard(this.keys.connectionIndex);
  }

  async get(id: string): Promise<ConnectionRecord | null> {
    const meta = await this.redis.hget(this.keys.connection(id), META);
    return meta === null ? null : parseMeta(meta);
  }

  /** Metadata plus the decrypted current secret version; null when the connection (or that version) is missing. */
  async getWithSecrets(id: string): Promise<VersionedConnection | null> {
    const snapshot = await this.hash.read(this.keys.connection(id));
    if (!snapshot) return null;
    const opened = this.#open(id, snapshot.fields);
    return opened ? { ...opened, rev: snapshot.rev } : null;
  }

  async create(record: ConnectionRecord, secrets: SecretMap): Promise<void> {
    const key = this.keys.connection(record.id);
    // Index first: a crash between the two leaves an index entry that list() skips, never an unlisted record.
    await this.redis.sadd(this.keys.connectionIndex, record.id);
    const created = await this.hash.create(key, {
      [META]: JSON.stringify(record),
      [secretField(record.secret_version)]: this.#seal(record.id, record.secret_version, secrets),
    });
    if (!created) throw connectionExists();
    await this.#publish(record.id);
  }

  /** Applies `change` to the current metadata (secrets untouched) atomically. */
  async update(
    id: string,
    change: (current: ConnectionRecord) => ConnectionRecord,
  ): Promise<ConnectionRecord> {
    const key = this.keys.connection(id);
    const updated = await withCasRetry<ConnectionRecord>(async () => {
      const snapshot = await this.hash.read(key);
      const meta = snapshot?.fields[META];
      if (!snapshot || meta === undefined) throw connectionNotFound();
      const next = change(parseMeta(meta));
      const result = await this.hash.compareAndSet(key, snapshot.rev, { [META]: JSON.stringify(next) });
      if (result === "missing") throw connectionNotFound();
      return result === "ok" ? casDone(next) : casRetry();
    });
    await this.#publish(id);
    return updated;
  }

  /** Writes a new secret version computed from the current one, with its metadata, atomically. */
  async rotate(
    id: string,
    change: (current: ConnectionWithSecrets) => ConnectionWithSecrets,
  ): Promise<ConnectionRecord> {
    const key = this.keys.connection(id);
    const rotated = await withCasRetry<ConnectionRecord>(async () => {
      const snapshot = await this.hash.read(key);
      if (!snapshot) throw connectionNotFound();
      const current = this.#open(id, snapshot.fields);
      if (!current) throw connectionNotFound();
      const next = change(current);
      const result = await this.hash.compareAndSet(key, snapshot.rev, {
        [META]: JSON.stringify(next.record),
        [secretField(next.record.secret_version)]: this.#seal(id, next.record.secret_version, next.secrets),
      });
      if (result === "missing") throw connectionNotFound();
      return result === "ok" ? casDone(next.record) : casRetry();
    });
    await this.#publish(id);
    return rotated;
  }

  /** Removes the connection and every secret version. */
  async delete(id: string): Promise<boolean> {
    const deleted = await this.hash.delete(this.keys.connection(id));
    await this.redis.srem(this.keys.connectionIndex, id);
    if (deleted) await this.events.publish({ type: "connection.deleted", id });
    return deleted;
  }

  /**
   * Master-key rotation: re-seals every secret version still sealed with a previous key under the current key.
   * Returns how many records were rewritten.
   */
  async reencryptStale(): Promise<number> {
    let rewritten = 0;
    for (const id of await this.redis.smembers(this.keys.connectionIndex)) {
      const key = this.keys.connection(id);
      rewritten += await withCasRetry<number>(async () => {
        const snapshot = await this.hash.read(key);
        if (!snapshot) return casDone(0);
        const updates: Record<string, string> = {};
        for (const [field, value] of Object.entries(snapshot.fields)) {
          const match = /^secret:(\d+)$/.exec(field);
          if (!match) continue;
          const resealed = this.resealIfStale(value, aad.connectionSecret(id, Number(match[1]!)));
          if (resealed !== null) updates[field] = resealed;
        }
        const count = Object.keys(updates).length;
        if (count === 0) return casDone(0);
        const result = await this.hash.compareAndSet(key, snapshot.rev, updates);
        if (result === "missing") return casDone(0);
        return result === "ok" ? casDone(count) : casRetry();
      });
    }
    return rewritten;
  }

  #seal(id: string, version: number, secrets: SecretMap): string {
    return JSON.stringify(this.box.seal(JSON.stringify(secrets), aad.connectionSecret(id, version)));
  }

  #open(id: string, fields: Record<string, string>): ConnectionWithSecrets | null {
    const meta = fields[META];
    if (meta === undefined) return null;
    const record = parseMeta(meta);
    const sealed = fields[secretField(record.secret_version)];
    if (sealed === undefined) return null;
    const plaintext = this.box.open(parseJson(sealed), aad.connectionSecret(id, record.secret_version));
    const secrets = parseJson(plaintext);
    if (!isStringMap(secrets)) throw new SecretCryptoError("decrypted secrets are not a string map");
    return { record, secrets };
  }

  async #publish(id: string): Promise<void> {
    await this.events.publish({ type: "connection.changed", id });
  }
}

function parseMeta(raw: string): ConnectionRecord {
  return parseStored(connectionRecordSchema, raw, "connection metadata");
}

function isStringMap(value: unknown): value is SecretMap {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string")
  );
}
