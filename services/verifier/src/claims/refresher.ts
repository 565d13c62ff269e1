import type { ClaimsCache } from "./cache.ts";

/**
 * The background refresh loop of the claims cache. Ticks are aligned to multiples of the interval on the
 * cache's clock, so every replica ticks together: one takes the Redis lock and fetches, the others adopt its
 * fresh copy. Each replica's data is then never older than about one interval, and the feed sees one fetch per
 * service per interval however many replicas run. Until the cache is warm, each tick loads `preload` first.
 */
export class ClaimsRefresher {
  readonly #cache: ClaimsCache;
  readonly #intervalMs: number;
  #timer: { cancel(): void } | undefined;
  #running = false;

  constructor(cache: ClaimsCache, intervalMs: number) {
    this.#cache = cache;
    this.#intervalMs = intervalMs;
  }

  start(preload: readonly string[]): void {
    if (this.#running) return;
    this.#running = true;
    const tick = async () => {
      if (!this.#cache.warm) await this.#cache.warmUp(preload).catch(() => false);
      await this.#cache.refreshActive().catch(() => undefined);
    };
    const clock = this.#cache.clock;
    const schedule = () => {
      if (!this.#running) return;
      this.#timer = clock.setTimeout(
        () => {
          void tick();
          schedule();
        },
        this.#intervalMs - (clock.now() % this.#intervalMs),
      );
    };
    void tick();
    schedule();
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
