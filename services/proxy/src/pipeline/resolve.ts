import { GatewayError } from "@sigilum-gw/shared/errors";
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

/** The per-request part of a resolution: protocol of the route, rotation policy at this moment. */
function finishResolution(
  record: ConnectionRecord,
  credential: string,
  route: Protocol,
  opts: ResolveOptions,
): ResolvedConnection {
  if (route === "http" && record.protocol === "mcp") {
    throw new GatewayError("INVALID_REQUEST", "connection protocol is mcp; use /mcp/{connection_id}/...");
  }
  if (route === "mcp" && record.protocol !== "mcp") {
    throw new GatewayError("INVALID_REQUEST", "connection protocol is not mcp");
  }
  const overdue = rotationOverdueMessage(record, opts, (opts.now ?? Date.now)());
  if (overdue !== undefined) {
    if (opts.rotationEnforcement === "block") throw new GatewayError("ROTATION_REQUIRED", overdue);
    return { record, credential, rotationWarning: overdue };
  }
  return { record, credential };
}

interface Memo {
  record: ConnectionRecord;
  credential: string;
  revision: number;
  expiresAt: number;
}

/**
 * Connection resolution for the runtime path, with each successful load memoized (record and normalized
 * credential) for as long as the cache entries it came from are current: same cache revision (no connection or
 * variable event, no resubscribe since), cache live, within the TTL. A hit answers synchronously, with no
 * promise and no secret re-resolution; the protocol and rotation checks still run on every request, failures
 * are never memoized.
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

  resolve(connectionId: string, route: Protocol): ResolvedConnection | Promise<ResolvedConnection> {
    const cache = this.#cache;
    const hit = this.#memo.get(connectionId);
    if (hit !== undefined) {
      if (cache.live && hit.revision === cache.revision && hit.expiresAt > cache.now())
        return finishResolution(hit.record, hit.credential, route, this.#opts);
      this.#memo.delete(connectionId);
    }
    return this.#load(connectionId, route);
  }

  async #load(connectionId: string, route: Protocol): Promise<ResolvedConnection> {
    const cache = this.#cache;
    const revision = cache.revision;
    const { record, secrets } = await loadConnection(cache, connectionId);
    const credential = credentialOf(record, secrets);
    // Only what was loaded from a live cache with nothing changed meanwhile.
    if (cache.live && revision === cache.revision) {
      if (this.#memo.size >= this.#maxEntries) this.#memo.clear();
      this.#memo.set(connectionId, { record, credential, revision, expiresAt: cache.derivedExpiry() });
    }
    return finishResolution(record, credential, route, this.#opts);
  }
}

/**
 * The resolve stage: the route's connection, loaded and checked (memoized: a hit answers synchronously), and the
 * connection's path policy (an encoded `/` or `\` only where the connection allows it). A store outage is 503.
 */
export const resolve: ProxyStage<Authorized, Resolved> = (authorized, ctx) => {
  const { request } = authorized;
  let resolving: ResolvedConnection | Promise<ResolvedConnection>;
  try {
    resolving = ctx.resolver.resolve(request.connectionId, request.protocol);
  } catch (err) {
    return refused(authorized, err);
  }
  if (resolving instanceof Promise) {
    return resolving.then(
      (connection) => resolved(authorized, connection),
      (err: unknown) => refused(authorized, err),
    );
  }
  return resolved(authorized, resolving);
};

function resolved(authorized: Authorized, connection: ResolvedConnection): Result<Resolved, ProxyDetail> {
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

/** A GatewayError (or a Redis outage) is the agent's answer; anything else is a bug, answered INTERNAL_ERROR. */
function refused(authorized: Authorized, raw: unknown): Result<Resolved, ProxyDetail> {
  const err = asStoreError(raw);
  if (!(err instanceof GatewayError)) throw err;
  return deny("resolve", err.code, { message: err.message, detail: { identity: authorized.identity } });
}
