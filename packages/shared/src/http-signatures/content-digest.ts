import { createHash } from "node:crypto";

/** `sha-256=:<base64 sha256(body)>:` as the Sigilum SDKs send it. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash("sha256").update(body).digest("base64")}:`;
}
