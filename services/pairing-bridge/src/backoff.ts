/**
 * Reconnect delays: exponential from `minMs` doubling up to `maxMs`, with "equal jitter" (each delay is drawn
 * from the upper half of its step), so replicas of a fleet do not reconnect in lockstep after an outage and the
 * delays still grow visibly. `reset()` after a connection that opened.
 */
export class Backoff {
  private attempt = 0;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(minMs: number, maxMs: number, random: () => number = Math.random) {
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.random = random;
  }

  next(): number {
    const step = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(step / 2 + this.random() * (step / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}
