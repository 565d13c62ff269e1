import type { Clock } from "@sigilum-gw/shared/clock";

interface Timer {
  at: number;
  ms: number;
  seq: number;
  callback: () => void;
}

/**
 * A clock that moves only when the test says so: time windows are checked exactly, with no sleep and no race
 * against a loaded machine. Starts at the real time, so stamps it produces look like ordinary ones.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];
  #watchers: { ms: number; resolve: () => void }[] = [];

  constructor(start = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): { cancel(): void } {
    const timer: Timer = { at: this.#now + Math.max(0, ms), ms, seq: this.#seq++, callback };
    this.#timers.push(timer);
    for (const watcher of this.#watchers.filter((w) => w.ms === ms)) watcher.resolve();
    this.#watchers = this.#watchers.filter((w) => w.ms !== ms);
    return {
      cancel: () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
      },
    };
  }

  /** Moves time forward, firing every timer that falls due on the way, in order, each at its own time. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.callback();
    }
    this.#now = target;
  }

  /** Milliseconds until the next multiple of `intervalMs` (where interval-aligned timers fire). */
  untilNextMultiple(intervalMs: number): number {
    return intervalMs - (this.#now % intervalMs);
  }

  /** Resolves once a timer of exactly `ms` is pending (set by the code under test). */
  timerSet(ms: number): Promise<void> {
    if (this.#timers.some((t) => t.ms === ms)) return Promise.resolve();
    return new Promise((resolve) => this.#watchers.push({ ms, resolve }));
  }
}
