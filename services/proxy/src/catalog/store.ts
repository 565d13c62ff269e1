import type { Redis } from "ioredis";
import { DEFAULT_CATALOG } from "./defaults.ts";
import { catalogInput, normalizeCatalog, type ServiceCatalog } from "./schema.ts";

/**
 * The service catalog lives in Redis (one JSON value) so every replica serves the same catalog; the reference
 * keeps a file per gateway. Seeded with the default catalog on first read.
 */
export class CatalogStore {
  readonly #redis: Redis;
  readonly #key: string;

  constructor(redis: Redis, key: string) {
    this.#redis = redis;
    this.#key = key;
  }

  async get(): Promise<ServiceCatalog> {
    const raw = await this.#redis.get(this.#key);
    if (raw !== null) {
      const parsed = catalogInput.safeParse(JSON.parse(raw));
      if (!parsed.success) throw new Error("stored service catalog is corrupt");
      return normalizeCatalog(parsed.data);
    }
    const seeded = normalizeCatalog(DEFAULT_CATALOG);
    // NX: two replicas seeding at once agree on one value; a concurrent PUT wins over the default.
    await this.#redis.set(this.#key, JSON.stringify(seeded), "NX");
    return this.get();
  }

  async put(catalog: ServiceCatalog): Promise<ServiceCatalog> {
    await this.#redis.set(this.#key, JSON.stringify(catalog));
    return this.get();
  }
}
