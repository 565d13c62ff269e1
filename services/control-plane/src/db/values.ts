/** Timestamps leave the API as ISO strings with milliseconds, like the reference (`...T00:00:00.000Z`). */
export function iso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const d = value instanceof Date ? value : new Date(String(value));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Integers from COUNT()/SUM() arrive as string (pg int8), bigint (PGlite) or number. */
export function int(value: unknown): number {
  if (value === null || value === undefined) return 0;
  return Number(value);
}
