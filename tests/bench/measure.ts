/** Runs `fn` repeatedly for about `seconds` (after a short warm-up) and returns operations per second. */
export function opsPerSecond(fn: () => unknown, seconds = 1): number {
  const warmUntil = performance.now() + 150;
  while (performance.now() < warmUntil) fn();
  let count = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) fn();
    count += 50;
  }
  return count / ((performance.now() - start) / 1000);
}

export const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
export const ratio = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
