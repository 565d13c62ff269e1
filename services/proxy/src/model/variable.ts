import { z } from "zod";
import { badRequest } from "./errors.ts";
import { formatTime } from "./time.ts";
import { hasUnsafeHeaderChars } from "./wire.ts";

/** Shared credential variables (spec §5.7): referenced from a secret as exactly `{{KEY}}`. */

export const VARIABLE_KEY_RE = /^[A-Za-z0-9._-]{2,128}$/;
export const MAX_VARIABLE_VALUE_BYTES = 16384;

export interface VariableRecord {
  key: string;
  created_at: number;
  updated_at: number;
  created_by_subject: string;
}

export const variableRecordSchema = z.object({
  key: z.string(),
  created_at: z.number(),
  updated_at: z.number(),
  created_by_subject: z.string(),
}) satisfies z.ZodType<VariableRecord>;

export const upsertVariableInput = z.object({
  key: z.string().nullish(),
  value: z.string().nullish(),
  created_by_subject: z.string().nullish(),
});

export function validateVariableKey(raw: string | null | undefined): string {
  const key = (raw ?? "").trim();
  if (key === "") throw badRequest("key is required");
  if (!VARIABLE_KEY_RE.test(key)) throw badRequest("key must contain only letters, numbers, ., _, or -");
  return key;
}

export function validateVariableValue(raw: string | null | undefined): string {
  const value = (raw ?? "").trim();
  if (value === "") throw badRequest("value is required");
  if (Buffer.byteLength(value, "utf8") > MAX_VARIABLE_VALUE_BYTES) {
    throw badRequest(`value exceeds ${MAX_VARIABLE_VALUE_BYTES} bytes`);
  }
  if (hasUnsafeHeaderChars(value)) throw badRequest("value contains control characters");
  return value;
}

/** `{{KEY}}` as the whole (trimmed) secret value → KEY; anything else (`prefix-{{X}}`, `{{var:X}}`) is literal. */
export function variableReference(secret: string): string | undefined {
  const match = /^\{\{(.*)\}\}$/s.exec(secret.trim());
  if (!match) return undefined;
  const key = match[1]!.trim();
  return VARIABLE_KEY_RE.test(key) ? key : undefined;
}

export function toVariableJson(v: VariableRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    key: v.key,
    created_at: formatTime(v.created_at),
    updated_at: formatTime(v.updated_at),
  };
  if (v.created_by_subject) out["created_by_subject"] = v.created_by_subject;
  return out;
}
