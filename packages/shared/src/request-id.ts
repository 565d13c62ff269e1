import { randomBytes } from "node:crypto";

export const REQUEST_ID_HEADER = "x-request-id";
export const MAX_REQUEST_ID_LENGTH = 128;

/*
 * Sigilum reuses any incoming X-Request-Id (any length, any charset). We accept it only when it is short and made of
 * safe characters: the value is client-controlled and lands in logs, envelopes, response headers, usage events and
 * upstream requests, so an unchecked one allows log injection (newlines, control chars), header smuggling and
 * unbounded log lines. A rejected id is replaced, never "cleaned" (a cleaned id would no longer correlate anyway).
 */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]+$/;

/** 16 random bytes as lower-case hex, formatted 8-4-4-4-12 (no UUID version bits, as Sigilum). */
export function generateRequestId(): string {
  const hex = randomBytes(16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function isAcceptableRequestId(value: string): boolean {
  return value.length > 0 && value.length <= MAX_REQUEST_ID_LENGTH && SAFE_REQUEST_ID.test(value);
}

/** The caller's x-request-id when it is acceptable (trimmed), else a fresh one. */
export function requestIdFrom(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
): string {
  const raw = headers[REQUEST_ID_HEADER];
  // Several x-request-id lines: ambiguous, so none of them is trusted.
  const value = typeof raw === "string" ? raw.trim() : raw?.length === 1 ? raw[0]!.trim() : "";
  return isAcceptableRequestId(value) ? value : generateRequestId();
}
