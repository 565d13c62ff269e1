/**
 * Which fields of a relayed admin command are secret, and the JSON shape of a sealed one: `{"sealed": "<base64
 * crypto_box_seal of the UTF-8 value>"}` in place of the string. The owner's client seals them, the control plane
 * and the bridge refuse a command carrying one in clear, the proxy's admin API opens them.
 *
 * Secret fields: `secrets.<name>` of `POST /api/admin/connections` and `POST /api/admin/connections/<id>/rotate`,
 * and `value` of `POST /api/admin/credential-variables`.
 */

export interface SealedValue {
  sealed: string;
}

export function isSealedValue(value: unknown): value is SealedValue {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === "sealed" && typeof (value as SealedValue).sealed === "string";
}

type Kind = "secrets-map" | "value";

function secretKind(method: string, path: string): Kind | null {
  const p = path.split("?")[0]!.replace(/\/+$/, "");
  if (method === "POST" && p === "/api/admin/connections") return "secrets-map";
  if (method === "POST" && /^\/api\/admin\/connections\/[^/]+\/rotate$/.test(p)) return "secrets-map";
  if (method === "POST" && p === "/api/admin/credential-variables") return "value";
  return null;
}

function parseObject(body: string | null): Record<string, unknown> | null {
  if (body === null) return null;
  try {
    const json: unknown = JSON.parse(body);
    return typeof json === "object" && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Each secret field present in the body as something other than a sealed value (empty when all are sealed). */
export function clearSecretFields(method: string, path: string, body: string | null): string[] {
  const kind = secretKind(method, path);
  const json = kind ? parseObject(body) : null;
  if (!kind || !json) return [];
  if (kind === "value") return json.value == null || isSealedValue(json.value) ? [] : ["value"];
  const secrets = json.secrets;
  if (secrets == null) return [];
  if (typeof secrets !== "object" || Array.isArray(secrets)) return ["secrets"];
  return Object.entries(secrets)
    .filter(([, v]) => !isSealedValue(v))
    .map(([k]) => `secrets.${k}`);
}

/** The body with every secret field replaced by `seal(value)` (the owner's side, before relaying). */
export function sealSecretFields(
  method: string,
  path: string,
  body: Record<string, unknown>,
  seal: (plaintext: string) => string,
): Record<string, unknown> {
  const kind = secretKind(method, path);
  const wrap = (v: unknown) => (typeof v === "string" ? { sealed: seal(v) } : v);
  if (kind === "value") return { ...body, value: wrap(body.value) };
  if (kind === "secrets-map" && typeof body.secrets === "object" && body.secrets !== null) {
    const secrets = Object.fromEntries(Object.entries(body.secrets).map(([k, v]) => [k, wrap(v)]));
    return { ...body, secrets };
  }
  return body;
}

/** Replaces every sealed value anywhere in `json` with `open(sealed)` (the gateway's side). */
export function openSealedValues(json: unknown, open: (sealed: string) => string, depth = 0): unknown {
  if (depth > 32 || typeof json !== "object" || json === null) return json;
  if (isSealedValue(json)) return open(json.sealed);
  if (Array.isArray(json)) return json.map((v) => openSealedValues(v, open, depth + 1));
  return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, openSealedValues(v, open, depth + 1)]));
}
