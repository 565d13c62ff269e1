const STD_BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL_NOPAD_RE = /^[A-Za-z0-9_-]*$/;

/** Strict standard base64 (padded). Returns null on any malformed input instead of decoding leniently. */
export function decodeBase64Strict(text: string): Buffer | null {
  if (!STD_BASE64_RE.test(text)) return null;
  const decoded = Buffer.from(text, "base64");
  // Non-canonical trailing bits would give one byte string several accepted spellings.
  return decoded.toString("base64") === text ? decoded : null;
}

/** Strict base64url without padding: `=`, `+`, `/` and impossible lengths are rejected. */
export function decodeBase64UrlStrict(text: string): Buffer | null {
  if (!BASE64URL_NOPAD_RE.test(text) || text.length % 4 === 1) return null;
  const decoded = Buffer.from(text, "base64url");
  // Reject non-canonical trailing bits so one byte string has exactly one accepted encoding.
  return decoded.toString("base64url") === text ? decoded : null;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

export function toBytes(body: string | Uint8Array | ArrayBuffer | null | undefined): Uint8Array | null {
  if (body === null || body === undefined) return null;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError("body must be a string, Uint8Array, ArrayBuffer or null");
}
