import { didFor, parsePublicKey } from "@sigilum-gw/shared/identity";
import type { Queryable } from "../db/db.ts";
import { iso } from "../db/values.ts";
import { NAMESPACE_MIXED_RE } from "./owners.ts";

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

export function base58btc(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = "";
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

/** `did:sigilum:<ns>` (anything after `#`, `?` or `/` ignored) → namespace, or undefined. */
export function parseSigilumDid(did: string): string | undefined {
  const text = did.trim();
  if (!text.startsWith("did:sigilum:")) return undefined;
  const ns = text.slice("did:sigilum:".length).split(/[#?/]/, 1)[0] ?? "";
  return NAMESPACE_MIXED_RE.test(ns) ? ns : undefined;
}

/** Service id token: the slug lower-cased, runs outside [a-z0-9._-] → "-", trimmed of "-". */
function serviceToken(slug: string): string {
  return (
    slug
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, "-")
      .replace(/^-+|-+$/g, "") || "service"
  );
}

export type DidResolution =
  | { ok: false; error: "invalidDid" | "notFound"; message: string }
  | {
      ok: true;
      document: Record<string, unknown>;
      metadata: { created: string | null; updated: string | null; deactivated: false };
    };

/**
 * The public DID document of a namespace: one Ed25519VerificationKey2020 per distinct approved key
 * (`publicKeyMultibase` = "z" + base58btc of the raw key, no multicodec prefix, as the reference) and
 * one AgentEndpoint per service slug, pointing at /v1/verify on this control plane.
 */
export async function resolveDid(db: Queryable, did: string, origin: string): Promise<DidResolution> {
  const ns = parseSigilumDid(did);
  if (!ns)
    return {
      ok: false,
      error: "invalidDid",
      message: "Invalid DID format. Expected did:sigilum:<namespace>",
    };
  const owner = await db.query<{ created_at: Date; updated_at: Date }>(
    "SELECT created_at, updated_at FROM users WHERE namespace = $1",
    [ns],
  );
  if (!owner.rows[0]) return { ok: false, error: "notFound", message: "DID not found" };
  const { rows } = await db.query<{ public_key: string; service: string }>(
    `SELECT public_key, service FROM authorizations WHERE namespace = $1 AND status = 'approved'
      ORDER BY approved_at DESC, created_at DESC`,
    [ns],
  );
  const id = didFor(ns);
  const keys: string[] = [];
  for (const r of rows)
    if (!keys.includes(r.public_key) && parsePublicKey(r.public_key)) keys.push(r.public_key);
  const methods = keys.map((k, i) => ({
    id: `${id}#key-${i + 1}`,
    type: "Ed25519VerificationKey2020",
    controller: id,
    publicKeyMultibase: `z${base58btc(parsePublicKey(k)!)}`,
  }));
  const slugs = [...new Set(rows.map((r) => r.service))].sort((a, b) => a.localeCompare(b));
  const services = slugs.map((slug) => ({
    id: `${id}#agent-runtime-${serviceToken(slug)}`,
    type: "AgentEndpoint",
    serviceEndpoint: `${origin}/v1/verify?namespace=${encodeURIComponent(ns)}&service=${encodeURIComponent(slug)}`,
  }));
  const ids = methods.map((m) => m.id);
  return {
    ok: true,
    document: {
      "@context": "https://www.w3.org/ns/did/v1",
      id,
      controller: id,
      verificationMethod: methods,
      authentication: ids,
      assertionMethod: ids,
      ...(services.length > 0 ? { service: services } : {}),
    },
    metadata: {
      created: iso(owner.rows[0].created_at),
      updated: iso(owner.rows[0].updated_at ?? owner.rows[0].created_at),
      deactivated: false,
    },
  };
}
