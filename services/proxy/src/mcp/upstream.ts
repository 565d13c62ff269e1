import { createHash } from "node:crypto";
import type { Client, Tool } from "@modelcontextprotocol/client";
import CircuitBreaker from "opossum";
import { fetch as undiciFetch } from "undici";
import type { ConnectionRecord } from "../model/connection/types.ts";
import { isForbiddenAddressError, type UpstreamAddressGuard } from "../pipeline/upstream-address.ts";
import { credentialFetch, type FetchLike, mcpEndpointUrl } from "./endpoint.ts";
import { isProtocolAnswer, isSessionGone, retryClass } from "./errors.ts";
import { clientOptionsFor } from "./protocol.ts";
import { cappedFetch } from "./response-cap.ts";
import { loadMcpSdk } from "./sdk.ts";

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
  readonly #opts: Required<UpstreamOptions>;
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
        if (session && (!connected || gone)) this.#drop(target.record.id, session);
        if (!recovered && gone) {
          // The server forgot our session (restart, expiry): one fresh handshake, then the same request again.
          recovered = true;
          attempt--;
          continue;
        }
        if (attempt >= this.#opts.attempts || retryClass(err) === undefined) throw err;
        await new Promise((resolve) => setTimeout(resolve, jitteredDelay(this.#opts.backoffMs)));
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
      ready: loadMcpSdk().then(async (sdk) => {
        const client = new sdk.Client(CLIENT_INFO, options.client);
        const transport = new sdk.StreamableHTTPClientTransport(url, {
          fetch: fetchWithCredential,
          redirectPolicy: "same-origin",
        });
        await client.connect(transport, { timeout: this.#opts.timeoutMs, ...options.connect });
        return client;
      }),
    };
    session.ready.catch(() => {});
    this.#sessions.set(record.id, session);
    return session;
  }
}
