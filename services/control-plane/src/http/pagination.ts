import { z } from "zod";

export interface Page {
  limit: number;
  offset: number;
}

export interface Pagination extends Page {
  total: number;
  has_more: boolean;
}

const MAX_OFFSET = 1_000_000_000;

/** limit: whole number ≥ 1, capped at `max`; offset: whole number ≥ 0. Anything else is a 400. */
export function pageSchema(defaultLimit: number, max: number) {
  return {
    limit: z
      .string()
      .regex(/^\d{1,9}$/, "limit must be a whole number")
      .transform(Number)
      .refine((n) => n >= 1, "limit must be at least 1")
      .transform((n) => Math.min(n, max))
      .optional()
      .transform((n) => n ?? defaultLimit),
    offset: z
      .string()
      .regex(/^\d{1,10}$/, "offset must be a whole number")
      .transform(Number)
      .refine((n) => n <= MAX_OFFSET, "offset too large")
      .optional()
      .transform((n) => n ?? 0),
  };
}

export function pagination(page: Page, total: number): Pagination {
  return { limit: page.limit, offset: page.offset, total, has_more: page.offset + page.limit < total };
}
