import { type ErrorCode, GatewayError } from "@sigilum-gw/shared/errors";
import { deny, ok, type Result } from "@sigilum-gw/shared/stage";
import type { ConnectionRecord, Protocol, SecretMap } from "../model/connection/types.ts";
import { DAY_MS, formatTimeSeconds } from "../model/time.ts";
import { variableReference } from "../model/variable.ts";
import type { ConnectionCache } from "../store/cache.ts";
import { SecretCryptoError } from "../store/crypto.ts";
import { asStoreError } from "../store/redis-errors.ts";
import type { Authorized, ProxyDetail, ProxyStage, Resolved } from "./exchange.ts";

/**
 * Connection resolution on the runtime path (spec §5.8), after authorization: load (cached), status, secrets with
 * `{{KEY}}` variables resolved, the configured auth secret present, protocol, rotation policy.
 */

export type RotationEnforcement = "off" | "warn" | "block";

export interface ResolveOptions {
  rotationEnforcement: RotationEnforcement;
  rotationGraceDays: number;
  now?: () => number;
}

export interface ResolvedConnection {
  record: ConnectionRecord;
  /** The credential to inject, normalized (spec §5.5); "" only for connections without an auth secret. */
  credential: string;
  /** Set when rotation is overdue and enforcement is `warn`. */
  rotationWarning?: string;
}

export interface SecretSource {
  variable(key: string): Promise<string | undefined>;
}

/** Resolves `{{KEY}}` references in every secret; a missing or empty variable is an error, never "". */
export async function resolveSecrets(secrets: SecretMap, source: SecretSource): Promise<SecretMap> {
  const out: SecretMap = {};
  for (const [name, value] of Object.entries(secrets)) {
    const key = variableReference(value);
    if (key === undefined) {
      out[name] = value;
      continue;
    }
    const resolved = (await source.variable(key))?.trim();
    if (resolved === undefined) {
      throw new GatewayError(
        "CREDENTIAL_VARIABLE_MISSING",
        `resolve secret "${name}": credential variable not found`,
      );
    }
    if (resolved === "")
      throw new GatewayError("CREDENTIAL_VARIABLE_MISSING", `credential variable "${key}" has empty value`);
    out[name] = resolved;
  }
  return out;
}

/** Trim; drop the configured prefix and then `Bearer` when the stored secret already carries them. */
export function normalizeCredential(secret: string, prefix: string): string {
  let value = secret.trim();
  value = stripLeadingWord(value, prefix.trim());
  value = stripLeadingWord(value, "Bearer");
  return value.trim();
}

function stripLeadingWord(value: string, word: string): string {
  if (word === "" || value.length < word.length) return value;
  if (value.slice(0, word.length).toLowerCase() !== word.toLowerCase()) return value;
  if (value.length === word.length) return "";
  const next = value[word.length];
  return next === " " || next === "\t" ? value.slice(word.length) : value;
}

export function rotationOverdueMessage(
  record: ConnectionRecord,
  opts: ResolveOptions,
  now: number,
): string | undefined {
  if (opts.rotationEnforcement === "off" || record.next_rotation_due_at === null) return undefined;
  if (now <= record.next_rotation_due_at + opts.rotationGraceDays * DAY_MS) return undefined;
  return `connection "${record.id}" secret rotation is overdue (due ${formatTimeSeconds(record.next_rotation_due_at)})`;
}

/** Steps 1-4 of §5.8 (shared with the admin `test`): the record and its resolved secrets. */
export async function loadConnection(
  cache: ConnectionCache,
  connectionId: string,
): Promise<{ record: ConnectionRecord; secrets: SecretMap }> {
  let loaded: Awaited<ReturnType<ConnectionCache["connection"]>>;
  try {
    loaded = await cache.connection(connectionId);
  } catch (err) {
    if (err instanceof SecretCryptoError) {
      throw new GatewayError("INTERNAL_ERROR", `connection secrets cannot be decrypted: ${err.message}`);
    }
    throw err;
  }
  if (!loaded) throw new GatewayError("CONNECTION_NOT_FOUND", "connection not found");
  const { record } = loaded;
  if (record.status !== "active")
    throw new GatewayError("CONNECTION_NOT_FOUND", `connection "${record.id}" is disabled`);
  const secrets = await resolveSecrets(loaded.secrets, cache);
  if (record.auth_secret_key !== "" && !secrets[record.auth_secret_key]) {
    throw new GatewayError(
      "INVALID_REQUEST",
      `connection "${record.id}" missing configured secret key "${record.auth_secret_key}"`,
    );
  }
  return { record, secrets };
}

export function credentialOf(record: ConnectionRecord, secrets: SecretMap): string {
  if (record.auth_secret_key === "") return "";
  const credential = normalizeCredential(secrets[record.auth_secret_key] ?? "", record.auth_prefix);
  if (credential === "") {
    // A stored value that is only a prefix ("Bearer") would inject an empty credential: refuse instead.
    throw new GatewayError(
      "INVALID_REQUEST",
      `connection "${record.id}" secret "${record.auth_secret_key}" is empty`,
    );
  }
  return credential;
}

/** What a resolution answers: the connection, or why not (a code of the catalogue, for the resolve stage). */
export type Resolution = Result<ResolvedConnection>;

const refusal = (code: ErrorCode, message: string): Resolution => deny("resolve", code, { message });

/** The per-request part of a resolution: protocol of the route, rotation policy at this moment. */
function finishResolution(memo: Memo, route: Protocol, opts: ResolveOptions): Resolution {
  const { record } = memo;
  if (route === "http" && record.protocol === "mcp") {
    return refusal("INVALID_REQUEST", "connection protocol is mcp; use /mcp/{connection_id}/...");
  }
  if (route === "mcp" && record.protocol !== "mcp") {
    return refusal("INVALID_REQUEST", "connection protocol is not mcp");
  }
  const overdue = rotationOverdueMessage(record, opts, (opts.now ?? Date.now)());
  if (overdue === undefined) return memo.resolved;
  if (opts.rotationEnforcement === "block") return refusal("ROTATION_REQUIRED", overdue);
  return ok({ record, credential: memo.credential, rotationWarning: overdue });
}

interface Memo {
  record: ConnectionRecord;
  credential: string;
  /** The answer for a request without a rotation warning, built once. */
  resolved: Resolution;
  revision: number;
  expiresAt: number;
}

/**
 * Connection resolution for the runtime path, with each successful load memoized (record and normalized
 * credential) for as long as the cache entries it came from are current: same cache revision (no connection or
 * variable event, no resubscribe since), cache live, within the TTL. `cached` answers a memo hit synchronously,
 * with no promise and no secret re-resolution, `load` everything else; the protocol and rotation checks run on
 * every request, failures are never memoized. Expected failures (unknown or disabled connection, missing
 * variable, store outage, ...) are answers, not exceptions; only a bug rejects.
 */
export class ConnectionResolver {
  readonly #cache: ConnectionCache;
  readonly #opts: ResolveOptions;
  readonly #memo = new Map<string, Memo>();
  readonly #maxEntries: number;

  constructor(cache: ConnectionCache, opts: ResolveOptions, maxEntries = 10_000) {
    this.#cache = cache;
    this.#opts = opts;
    this.#maxEntries = maxEntries;
  }

  /** The memoized resolution, while current; undefined when the connection must be loaded. */
  cached(connectionId: string, route: Protocol): Resolution | undefined {
    const cache = this.#cache;
    const hit = this.#memo.get(connectionId);
    if (hit === undefined) return undefined;
    if (cache.live && hit.revision === cache.revision && hit.expiresAt > cache.now())
      return finishResolution(hit, route, this.#opts);
    this.#memo.delete(connectionId);
    return undefined;
  }

  async load(connectionId: string, route: Protocol): Promise<Resolution> {
    const cache = this.#cache;
    const revision = cache.revision;
    let memo: Memo;
    try {
      const { record, secrets } = await loadConnection(cache, connectionId);
      const credential = credentialOf(record, secrets);
      memo = { record, credential, resolved: ok({ record, credential }), revision, expiresAt: 0 };
    } catch (raw) {
      // A GatewayError (or a Redis outage) is the agent's answer; anything else is a bug, answered INTERNAL_ERROR.
      const err = asStoreError(raw);
      if (err instanceof GatewayError) return refusal(err.code, err.message);
      throw err;
    }
    // Only what was loaded from a live cache with nothing changed meanwhile.
    if (cache.live && revision === cache.revision) {
      if (this.#memo.size >= this.#maxEntries) this.#memo.clear();
      memo.expiresAt = cache.derivedExpiry();
      this.#memo.set(connectionId, memo);
    }
    return finishResolution(memo, route, this.#opts);
  }
}

/**
 * The resolve stage: the route's connection, loaded and checked (memoized: a hit answers synchronously), and the
 * connection's path policy (an encoded `/` or `\` only where the connection allows it). A store outage is 503.
 * The only place the resolver's memo and its loads meet.
 */
export const resolve: ProxyStage<Authorized, Resolved> = (authorized, ctx) => {
  const { connectionId, protocol } = authorized.request;
  const hit = ctx.resolver.cached(connectionId, protocol);
  if (hit !== undefined) return resolved(authorized, hit);
  return ctx.resolver.load(connectionId, protocol).then((resolution) => resolved(authorized, resolution));
};

function resolved(authorized: Authorized, resolution: Resolution): Result<Resolved, ProxyDetail> {
  if (!resolution.ok) {
    const { code, message } = resolution.denial;
    return deny("resolve", code, { message, detail: { identity: authorized.identity } });
  }
  const connection = resolution.value;
  if (authorized.request.encodedSeparator && !connection.record.allow_encoded_slashes) {
    return deny("resolve", "PATH_TRAVERSAL", {
      message: "invalid proxy path: encoded slashes are not allowed for this connection",
      detail: { identity: authorized.identity },
    });
  }
  return ok({
    request: authorized.request,
    body: authorized.body,
    identity: authorized.identity,
    connection,
  });
}
