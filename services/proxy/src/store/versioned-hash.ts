import { randomUUID } from "node:crypto";
import { setTimeout } from "node:timers/promises";
import type { Redis } from "ioredis";

/**
 * One record = one Redis hash with a `rev` field. Writers read, compute, and commit with a compare-and-set on
 * `rev` (a single-key Lua script), so two replicas updating the same record never lose a write and a record is
 * never half-written (metadata and its secret land together). Every write sets a fresh random `rev`, so a rev
 * never repeats, even across delete and re-create (caches validate against it).
 */

const CREATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'rev', unpack(ARGV))
return 1`;

const CAS_SCRIPT = `
local rev = redis.call('HGET', KEYS[1], 'rev')
if not rev then return -1 end
if rev ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rev', unpack(ARGV, 2))
return 1`;

const newRev = () => randomUUID();

export interface HashSnapshot {
  rev: string;
  fields: Record<string, string>;
}

export type CasResult = "ok" | "conflict" | "missing";

export class VersionedHash {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async read(key: string): Promise<HashSnapshot | null> {
    const fields = await this.#redis.hgetall(key);
    const rev = fields["rev"];
    if (rev === undefined) return null;
    delete fields["rev"];
    return { rev, fields };
  }

  async readFields(key: string, names: string[]): Promise<(string | null)[]> {
    return this.#redis.hmget(key, ...names);
  }

  /** Creates the record with these fields; false when it already exists. */
  async create(key: string, fields: Record<string, string>): Promise<boolean> {
    const result = await this.#redis.eval(CREATE_SCRIPT, 1, key, newRev(), ...Object.entries(fields).flat());
    return result === 1;
  }

  /** Sets these fields only if the record is still at `rev`. */
  async compareAndSet(key: string, rev: string, fields: Record<string, string>): Promise<CasResult> {
    const result = await this.#redis.eval(
      CAS_SCRIPT,
      1,
      key,
      rev,
      newRev(),
      ...Object.entries(fields).flat(),
    );
    if (result === 1) return "ok";
    return result === 0 ? "conflict" : "missing";
  }

  async delete(key: string): Promise<boolean> {
    return (await this.#redis.del(key)) === 1;
  }
}

export type CasStep<T> = { done: true; value: T } | { done: false };

export const casDone = <T>(value: T): CasStep<T> => ({ done: true, value });
export const casRetry = <T>(): CasStep<T> => ({ done: false });

/** Retries a read-compute-CAS cycle under contention, with a little jitter so writers stop colliding. */
export async function withCasRetry<T>(attempt: () => Promise<CasStep<T>>): Promise<T> {
  for (let i = 0; i < 32; i++) {
    const outcome = await attempt();
    if (outcome.done) return outcome.value;
    await setTimeout(Math.random() * Math.min(50, 2 ** i));
  }
  throw new Error("record is being modified concurrently; retry");
}

/**
 * Every record named in an index set: one pipelined HGET of `field` per member, parsed, sorted by `sortKey`. An
 * index entry without a record (a create that never completed, or a finished delete) is skipped.
 */
export async function listIndexed<T>(
  redis: Redis,
  index: string,
  recordKey: (member: string) => string,
  field: string,
  parse: (value: string) => T,
  sortKey: (record: T) => string,
): Promise<T[]> {
  const members = await redis.smembers(index);
  if (members.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const member of members) pipeline.hget(recordKey(member), field);
  const out: T[] = [];
  for (const [err, value] of (await pipeline.exec()) ?? []) {
    if (err) throw err;
    if (typeof value === "string") out.push(parse(value));
  }
  return out.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
}
