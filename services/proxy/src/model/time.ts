/** Go's zero time, which the reference emits for never-set timestamps (the fields are not omitted). */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** RFC 3339 UTC with the fractional seconds trimmed of trailing zeros (Go RFC3339Nano), or the zero time. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return ZERO_TIME;
  const iso = new Date(ms).toISOString();
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac.length > 0 ? `.${frac}Z` : "Z"));
}

/** RFC 3339 UTC at seconds precision (rotation messages). */
export function formatTimeSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

export const DAY_MS = 24 * 60 * 60 * 1000;
