import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client, DiscoverResult, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { Redis } from "ioredis";
import { z } from "zod";
import { aad, type SecretBox } from "../store/crypto.ts";

/**
 * The upstream MCP state every proxy replica shares through Redis, one sealed value per connection: the protocol
 * era found for its server (a 2026-07-28 `server/discover` result, or "legacy") and, for a 2025 server, its session
 * (`Mcp-Session-Id`, the negotiated version, what `initialize` answered). Another replica then adopts the era
 * without probing and the session without a new `initialize`. Sealed under the master key: whoever holds a session
 * id may act in that session. Bound to the endpoint, credential fingerprint and era settings (`key`): a changed
 * connection ignores what was stored for the old one. A handshake is single-flight across replicas (a short lock):
 * the others wait for its result and adopt it, so an expired session is re-initialised once, not once per replica.
 * Redis failing only means each replica handshakes on its own.
 */

const sessionSchema = z.object({
  id: z.string().min(1),
  protocolVersion: z.string().min(1),
  capabilities: z.record(z.string(), z.unknown()),
  serverInfo: z.object({ name: z.string(), version: z.string() }).passthrough().optional(),
  instructions: z.string().optional(),
});

const stateSchema = z.object({
  key: z.string(),
  era: z.enum(["modern", "legacy"]),
  discover: z.record(z.string(), z.unknown()).optional(),
  session: sessionSchema.optional(),
});

export type SharedSession = z.infer<typeof sessionSchema>;
export type SharedState = z.infer<typeof stateSchema>;

/** A legacy verdict goes stale silently (an upgraded server still answers initialize): it is kept this long. */
const STATE_TTL_MS = 60 * 60 * 1000;
const POLL_MS = 25;
const RELEASE_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;

export interface SharedSessionOptions {
  redis: Redis;
  box: SecretBox;
  key(connectionId: string): string;
  lockKey(connectionId: string): string;
}

/** What a client connected by a handshake leaves for the other replicas. */
export function stateOf(key: string, client: Client, transport: StreamableHTTPClientTransport): SharedState {
  if (client.getProtocolEra() === "modern") {
    const discover = client.getDiscoverResult();
    return { key, era: "modern", ...(discover ? { discover: discover as Record<string, unknown> } : {}) };
  }
  const id = transport.sessionId;
  const protocolVersion = client.getNegotiatedProtocolVersion();
  if (!id || !protocolVersion) return { key, era: "legacy" };
  const serverInfo = client.getServerVersion();
  const instructions = client.getInstructions();
  return {
    key,
    era: "legacy",
    session: {
      id,
      protocolVersion,
      capabilities: (client.getServerCapabilities() ?? {}) as Record<string, unknown>,
      ...(serverInfo ? { serverInfo } : {}),
      ...(instructions ? { instructions } : {}),
    },
  };
}

/** The stored 2026-07-28 discover result, for `connect({ prior: { kind: "modern", discover } })`. */
export function discoverOf(state: SharedState): DiscoverResult | undefined {
  return state.discover as DiscoverResult | undefined;
}

/**
 * Gives a client connected to an existing 2025 session (transport built with its `sessionId`, so the SDK skips
 * `initialize`) what that `initialize` answered: the SDK keeps no record of it when it resumes, and without the
 * server's capabilities it would list no tools. These are the fields its own handshake fills.
 */
export function adoptSession(client: Client, session: SharedSession): void {
  Object.assign(client as unknown as Record<string, unknown>, {
    _serverCapabilities: session.capabilities,
    _serverVersion: session.serverInfo,
    _instructions: session.instructions,
    _negotiatedProtocolVersion: session.protocolVersion,
  });
}

export class SharedSessions {
  readonly #opts: SharedSessionOptions;

  constructor(opts: SharedSessionOptions) {
    this.#opts = opts;
  }

  /** The state stored for this connection and `key`; undefined when absent, for another key, or unreadable. */
  async read(connectionId: string, key: string): Promise<SharedState | undefined> {
    let raw: string | null;
    try {
      raw = await this.#opts.redis.get(this.#opts.key(connectionId));
    } catch {
      return undefined;
    }
    if (raw === null) return undefined;
    try {
      const state = stateSchema.parse(
        JSON.parse(this.#opts.box.open(JSON.parse(raw), aad.mcpUpstream(connectionId))),
      );
      return state.key === key ? state : undefined;
    } catch {
      return undefined; // corrupt, or sealed under another master key: handshake afresh
    }
  }

  async write(connectionId: string, state: SharedState): Promise<void> {
    const sealed = this.#opts.box.seal(JSON.stringify(state), aad.mcpUpstream(connectionId));
    await this.#opts.redis
      .set(this.#opts.key(connectionId), JSON.stringify(sealed), "PX", STATE_TTL_MS)
      .catch(() => {});
  }

  /**
   * Takes the handshake lock for `holdMs`; resolves with its release, or undefined when another replica holds it.
   * When Redis cannot say, the caller goes ahead alone (a no-op release).
   */
  async lock(connectionId: string, holdMs: number): Promise<(() => Promise<void>) | undefined> {
    const lockKey = this.#opts.lockKey(connectionId);
    const token = randomBytes(12).toString("hex");
    let taken: string | null;
    try {
      taken = await this.#opts.redis.set(lockKey, token, "PX", holdMs, "NX");
    } catch {
      return async () => {};
    }
    if (taken === null) return undefined;
    return async () => {
      await this.#opts.redis.eval(RELEASE_SCRIPT, 1, lockKey, token).catch(() => {});
    };
  }

  /** Polls until the stored state satisfies `ready` or `timeoutMs` passed (then undefined). */
  async waitFor(
    connectionId: string,
    key: string,
    ready: (state: SharedState) => boolean,
    timeoutMs: number,
  ): Promise<SharedState | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const state = await this.read(connectionId, key);
      if (state && ready(state)) return state;
      const held = await this.#opts.redis.exists(this.#opts.lockKey(connectionId)).catch(() => 0);
      if (held === 0) return this.read(connectionId, key).then((s) => (s && ready(s) ? s : undefined));
      await sleep(POLL_MS);
    }
    return undefined;
  }
}
