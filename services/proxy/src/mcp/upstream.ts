import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client, Tool } from "@modelcontextprotocol/client";
import CircuitBreaker from "opossum";
import { fetch as undiciFetch } from "undici";
import { isForbiddenAddressError, type UpstreamAddressGuard } from "../http/upstream-address.ts";
import type { ConnectionRecord } from "../model/connection/types.ts";
import { credentialFetch, type FetchLike, mcpEndpointUrl } from "./endpoint.ts";
import { isProtocolAnswer, isSessionGone, retryClass } from "./errors.ts";
import { clientOptionsFor } from "./protocol.ts";
import { cappedFetch } from "./response-cap.ts";
import { loadMcpSdk, type McpSdk } from "./sdk.ts";
import {
  adoptSession,
  discoverOf,
  type SharedSessions,
  type SharedState,
  stateOf,
} from "./shared-session.ts";

/**
 * The gateway's MCP client side: one official-SDK `Client` per connection (Streamable HTTP), reused across
 * requests. The SDK negotiates the protocol era per connection (2026-07-28 `server/discover`, or the 2025
 * `initialize` + `Mcp-Session-Id` handshake); this layer adds the credential, the MCP timeout, one transparent
 * re-initialisation when a 2025 server forgot our session, bounded retries with jittered backoff for retryable
 * failures only, and a circuit breaker per connection (opossum) that can be turned off.
 */

export interface UpstreamTarget {
  record: ConnectionRecord;
  /** Normalized credential ("" when the connection has none). */
  credential: string;
}

export interface DiscoveredTool {
  name: string;
  description?: string;
  /** Compact JSON of the tool's input schema (spec §5.1). */
  input_schema?: string;
}

export interface DiscoveredServer {
  server: { name?: string; version?: string; protocol_version?: string };
  tools: DiscoveredTool[];
  /** The tools/list result's own freshness (2026-07-28 `ttlMs`), when the server gave one. */
  ttlMs?: number;
}

export interface BreakerSettings {
  /** Failures within the rolling window before the circuit opens; 0 turns the breaker off. */
  failures: number;
  cooldownMs: number;
}

export interface UpstreamOptions {
  timeoutMs: number;
  breaker: BreakerSettings;
  /** Attempts per operation for retryable failures (default 2). */
  attempts?: number;
  /** Base backoff before a retry (default 100 ms, ±20 % jitter). */
  backoffMs?: number;
  /** Link-local / metadata upstreams refused (GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS): the same guard as HTTP. */
  guard: UpstreamAddressGuard;
  /** The era and 2025 sessions shared with the other replicas (without it, each process keeps its own). */
  shared?: SharedSessions;
}

/** The breaker is open: the operation was refused without any network call. */
export class CircuitOpenError extends Error {
  constructor(connectionId: string) {
    super(`mcp circuit breaker open for connection ${connectionId}`);
  }
}

const CLIENT_INFO = { name: "sigilum-gateway", version: "0.1.0" };
/** Failures are counted over this window; the circuit opens when more than half of them failed. */
const ROLLING_WINDOW_MS = 30_000;

interface Session {
  key: string;
  /** The connected client (the SDK is loaded, then the era negotiated or the session initialised). */
  ready: Promise<Client>;
  /** Dropped because the server forgot its session. */
  forgotten?: boolean;
}

/** What a client for one version of a connection is built from. */
interface Connectable {
  url: URL;
  options: ReturnType<typeof clientOptionsFor>;
  key: string;
  fetch: FetchLike;
}

function closeSession(session: Session): void {
  session.ready.then((client) => client.close()).catch(() => {});
}

function fingerprint(credential: string): string {
  return createHash("sha256").update(credential).digest("hex").slice(0, 16);
}

/** 100 ms ± 20 % (uniform). */
export function jitteredDelay(baseMs: number): number {
  return baseMs * (0.8 + Math.random() * 0.4);
}

export function normalizeTools(tools: readonly Tool[]): DiscoveredTool[] {
  const byName = new Map<string, DiscoveredTool>();
  for (const tool of tools) {
    const name = typeof tool.name === "string" ? tool.name.trim() : "";
    if (name === "" || byName.has(name)) continue;
    const out: DiscoveredTool = { name };
    const description = typeof tool.description === "string" ? tool.description.trim() : "";
    if (description !== "") out.description = description;
    if (tool.inputSchema !== undefined) {
      try {
        out.input_schema = JSON.stringify(tool.inputSchema);
      } catch {
        // An unserializable schema is dropped, the tool is kept.
      }
    }
    byName.set(name, out);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export class McpUpstreams {
  readonly #opts: Required<Omit<UpstreamOptions, "shared">> & Pick<UpstreamOptions, "shared">;
  /** Per connection, the session id the server last said it forgot (never adopted again). */
  readonly #gone = new Map<string, string>();
  readonly #fetch: FetchLike;
  readonly #sessions = new Map<string, Session>();
  readonly #breakers = new Map<string, CircuitBreaker<[() => Promise<unknown>], unknown>>();
  readonly #keys = new WeakMap<
    ConnectionRecord,
    { credential: string; url: URL; options: ReturnType<typeof clientOptionsFor>; key: string }
  >();

  constructor(opts: UpstreamOptions) {
    this.#opts = { attempts: 2, backoffMs: 100, ...opts };
    const { dispatcher } = opts.guard;
    this.#fetch = (url, init) =>
      undiciFetch(url, { ...(init as object), dispatcher }) as unknown as Promise<Response>;
  }

  /** Era negotiation (or initialize) + tools/list. */
  discover(target: UpstreamTarget): Promise<DiscoveredServer> {
    return this.#run(target, async (client) => {
      const listed = await client.listTools(undefined, {
        timeout: this.#opts.timeoutMs,
        cacheMode: "bypass",
      });
      const version = client.getServerVersion();
      const server: DiscoveredServer["server"] = {};
      if (version?.name?.trim()) server.name = version.name.trim();
      if (version?.version?.trim()) server.version = version.version.trim();
      const negotiated = client.getNegotiatedProtocolVersion();
      if (negotiated) server.protocol_version = negotiated;
      const discovered: DiscoveredServer = { server, tools: normalizeTools(listed.tools) };
      const ttl = (listed as { ttlMs?: unknown }).ttlMs;
      if (typeof ttl === "number" && Number.isFinite(ttl)) discovered.ttlMs = Math.max(0, ttl);
      return discovered;
    });
  }

  callTool(target: UpstreamTarget, name: string, args: Record<string, unknown>): Promise<unknown> {
    return this.#run(target, (client) =>
      client.callTool({ name, arguments: args }, { timeout: this.#opts.timeoutMs }),
    );
  }

  /** Forgets a connection's client (deleted or changed connection). */
  forget(connectionId: string): void {
    this.#gone.delete(connectionId);
    const session = this.#sessions.get(connectionId);
    if (session) {
      this.#sessions.delete(connectionId);
      closeSession(session);
    }
  }

  async close(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const breaker of this.#breakers.values()) breaker.shutdown();
    this.#breakers.clear();
    await Promise.allSettled(sessions.map((s) => s.ready.then((client) => client.close())));
  }

  async #run<T>(target: UpstreamTarget, op: (client: Client) => Promise<T>): Promise<T> {
    // Refused before the breaker and any network call (an IP literal; a name is refused by the guarded lookup).
    this.#opts.guard.check(this.#keyed(target).url);
    const breaker = this.#breaker(target.record.id);
    if (!breaker) return this.#withRetries(target, op);
    try {
      return (await breaker.fire(() => this.#withRetries(target, op))) as T;
    } catch (err) {
      if ((err as { code?: unknown }).code === "EOPENBREAKER") throw new CircuitOpenError(target.record.id);
      throw err;
    }
  }

  #breaker(connectionId: string) {
    const { failures, cooldownMs } = this.#opts.breaker;
    if (failures <= 0) return undefined;
    let breaker = this.#breakers.get(connectionId);
    if (!breaker) {
      breaker = new CircuitBreaker((work: () => Promise<unknown>) => work(), {
        timeout: false,
        resetTimeout: cooldownMs,
        volumeThreshold: failures,
        errorThresholdPercentage: 50,
        rollingCountTimeout: Math.max(ROLLING_WINDOW_MS, cooldownMs),
        rollingPercentilesEnabled: false,
        // A JSON-RPC error answer means the server is up, a refused address that it was never asked: neither
        // counts as a failure.
        errorFilter: (err: unknown) => isProtocolAnswer(err) || isForbiddenAddressError(err),
      });
      this.#breakers.set(connectionId, breaker);
    }
    return breaker;
  }

  async #withRetries<T>(target: UpstreamTarget, op: (client: Client) => Promise<T>): Promise<T> {
    let recovered = false;
    for (let attempt = 1; ; attempt++) {
      let session: Session | undefined;
      let connected = false;
      try {
        session = this.#session(target);
        const client = await session.ready;
        connected = true;
        return await op(client);
      } catch (err) {
        // A failed handshake, or a session the server forgot, is started afresh; any other failure keeps the client.
        const gone = connected && isSessionGone(err);
        // A request in flight on a client whose session the server forgot (closed under it by a concurrent request
        // that saw the 404) was not served either: it is sent again, like the one that saw the 404.
        const closedWithSession = connected && !gone && session?.forgotten === true;
        if (gone && session) {
          session.forgotten = true;
          // Never adopted again from the shared state, whichever replica stored it.
          const forgotten = (await session.ready).transport?.sessionId;
          if (forgotten) this.#gone.set(target.record.id, forgotten);
        }
        if (session && (!connected || gone)) this.#drop(target.record.id, session);
        if (!recovered && (gone || closedWithSession)) {
          // The server forgot our session (restart, expiry): one fresh handshake, then the same request again.
          recovered = true;
          attempt--;
          continue;
        }
        if (attempt >= this.#opts.attempts || retryClass(err) === undefined) throw err;
        await sleep(jitteredDelay(this.#opts.backoffMs));
      }
    }
  }

  #drop(connectionId: string, session: Session): void {
    if (this.#sessions.get(connectionId) !== session) return;
    this.#sessions.delete(connectionId);
    closeSession(session);
  }

  /** Records and credentials are memoized by the resolver: this is computed once per version of them. */
  #keyed(target: UpstreamTarget) {
    const { record, credential } = target;
    let keyed = this.#keys.get(record);
    if (keyed?.credential !== credential) {
      const url = mcpEndpointUrl(record);
      const options = clientOptionsFor(record);
      keyed = { credential, url, options, key: `${url}\n${fingerprint(credential)}\n${options.label}` };
      this.#keys.set(record, keyed);
    }
    return keyed;
  }

  #session(target: UpstreamTarget): Session {
    const { record, credential } = target;
    const { url, options, key } = this.#keyed(target);
    const existing = this.#sessions.get(record.id);
    if (existing?.key === key) return existing;
    if (existing) this.#drop(record.id, existing);
    const fetchWithCredential = cappedFetch(credentialFetch(record, credential, this.#fetch));
    const session: Session = {
      key,
      ready: loadMcpSdk().then((sdk) =>
        this.#open(sdk, record.id, { url, options, key, fetch: fetchWithCredential }),
      ),
    };
    session.ready.catch(() => {});
    this.#sessions.set(record.id, session);
    return session;
  }

  /**
   * A connected client: adopting what another replica stored (the era, a 2025 session) when it can, else a
   * handshake — single-flight across replicas, the others waiting to adopt its result — stored for them.
   */
  async #open(sdk: McpSdk, connectionId: string, how: Connectable): Promise<Client> {
    const shared = this.#opts.shared;
    const gone = this.#gone.get(connectionId);
    const adoptable = (s: SharedState) =>
      (s.era === "modern" && s.discover !== undefined) || (s.session !== undefined && s.session.id !== gone);
    let state = await shared?.read(connectionId, how.key);
    let release: (() => Promise<void>) | undefined;
    // A 2025 server without sessions is simply initialised by each replica: nothing to wait for.
    const sessionless = state?.era === "legacy" && state.session === undefined;
    if (shared && !(state && adoptable(state)) && !sessionless) {
      release = await shared.lock(connectionId, this.#opts.timeoutMs + 1000);
      // With the lock taken, read again: another replica may have finished its handshake (and released the lock)
      // between our read and our lock, and a second initialize would replace the session it stored.
      state = release
        ? await shared.read(connectionId, how.key)
        : await shared.waitFor(connectionId, how.key, adoptable, this.#opts.timeoutMs + 1000);
    }
    try {
      if (state && adoptable(state)) {
        try {
          return await this.#adopt(sdk, how, state);
        } catch {
          // What was stored no longer fits this client (e.g. no common modern version): handshake afresh.
        }
      }
      const transport = this.#transport(sdk, how);
      const client = new sdk.Client(CLIENT_INFO, how.options.client);
      const knownLegacy = state?.era === "legacy" && how.options.label === "auto";
      await client.connect(transport, {
        timeout: this.#opts.timeoutMs,
        ...how.options.connect,
        ...(knownLegacy ? { prior: { kind: "legacy" } as const } : {}),
      });
      await shared?.write(connectionId, stateOf(how.key, client, transport));
      return client;
    } finally {
      await release?.();
    }
  }

  async #adopt(sdk: McpSdk, how: Connectable, state: SharedState): Promise<Client> {
    const client = new sdk.Client(CLIENT_INFO, how.options.client);
    const { session } = state;
    if (session) {
      // The transport carries the session id: the SDK skips initialize; adoptSession gives it what it answered.
      const transport = this.#transport(sdk, how, session.id, session.protocolVersion);
      await client.connect(transport, { timeout: this.#opts.timeoutMs, prior: { kind: "legacy" } });
      adoptSession(client, session);
      return client;
    }
    const discover = discoverOf(state)!;
    await client.connect(this.#transport(sdk, how), {
      timeout: this.#opts.timeoutMs,
      prior: { kind: "modern", discover },
    });
    return client;
  }

  #transport(sdk: McpSdk, how: Connectable, sessionId?: string, protocolVersion?: string) {
    return new sdk.StreamableHTTPClientTransport(how.url, {
      fetch: how.fetch,
      redirectPolicy: "same-origin",
      ...(sessionId ? { sessionId, protocolVersion } : {}),
    });
  }
}
