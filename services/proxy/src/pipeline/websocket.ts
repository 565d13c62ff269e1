import { type IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { clientIp, forwardedScheme, peerIp, type TrustedProxies } from "@sigilum-gw/shared/client-ip";
import type { ErrorCode } from "@sigilum-gw/shared/errors";
import { checkRequestLimits } from "@sigilum-gw/shared/limits";
import type { Logger } from "@sigilum-gw/shared/logger";
import { WebSocket, WebSocketServer } from "ws";
import { FORBIDDEN_ADDRESS_CODE, forbiddenLiteral, guardedLookup } from "../http/upstream-address.ts";
import { recordUsage, type UsageRecording, usageEvent } from "../usage/event.ts";
import type { AuthorizedIdentity } from "./authorize.ts";
import { writeDenial, writeError } from "./errors.ts";
import type { GatewayRequest, ProxyContext } from "./exchange.ts";
import { buildUpstreamHeaders, buildUpstreamTarget } from "./inject.ts";
import { routeOf } from "./route.ts";
import { upgradeStages } from "./run.ts";

/**
 * WebSocket upgrades on `/proxy/{id}/...`: the upgrade request is authorized exactly like any runtime request
 * (signed, same verifier token), the connection resolved, and the upstream handshake made with the credential
 * injected (and none of the agent's Sigilum headers). Only once the upstream accepted is the agent's handshake
 * completed; frames are then relayed both ways, text as text and binary as binary, with backpressure: a side
 * stops being read while the other side's send buffer is over the high-water mark. Sessions are kept per
 * connection so that a revoked claim closes them (1008). Each session is one usage event (action `websocket`,
 * status 101, its duration and the bytes relayed to the agent), recorded when it ends, on the same path as HTTP.
 */

const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;

export interface WebSocketDeps {
  /** The runtime stages' context (authorize → resolve). */
  stages: ProxyContext;
  trustedProxies: TrustedProxies;
  logger: Logger;
  handshakeTimeoutMs: number;
  maxPayloadBytes: number;
  /** GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS (upstream-address.ts). */
  allowLinkLocal: boolean;
  usage: UsageRecording;
}

/** What a session's usage event needs besides what it measures. */
interface SessionFacts {
  connectionId: string;
  identity: AuthorizedIdentity | null;
  requestId: string;
  path: string;
  remoteIp: string;
}

interface Session {
  connectionId: string;
  identity: AuthorizedIdentity | null;
  close(code: number, reason: string): void;
}

/** A ServerResponse on the raw upgrade socket, so refusals are the same JSON envelopes as everywhere else. */
function responseOn(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as never);
  res.once("finish", () => socket.end());
  return res;
}

/** Relays one direction; pauses `from` while `to` has too much buffered. Calls `relayed` with each frame's size. */
function pipe(from: WebSocket, to: WebSocket, relayed?: (bytes: number) => void): void {
  let paused = false;
  from.on("message", (data, isBinary) => {
    if (to.readyState !== WebSocket.OPEN) return;
    relayed?.(frameBytes(data));
    to.send(data, { binary: isBinary }, () => {
      if (paused && to.bufferedAmount < LOW_WATER) {
        paused = false;
        from.resume();
      }
    });
    if (!paused && to.bufferedAmount > HIGH_WATER) {
      paused = true;
      from.pause();
    }
  });
}

function frameBytes(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((n, part) => n + part.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

/** Close codes that may be sent on the wire (1005/1006/1015 may not). */
function sendableCode(code: number): number {
  return code === 1000 ||
    (code >= 1001 && code <= 1014 && ![1004, 1005, 1006].includes(code)) ||
    (code >= 3000 && code <= 4999)
    ? code
    : 1000;
}

export class WebSocketRelay {
  readonly #deps: WebSocketDeps;
  readonly #server: WebSocketServer;
  readonly #sessions = new Set<Session>();
  /** The subprotocol the upstream chose, answered to the agent. */
  readonly #protocols = new WeakMap<IncomingMessage, string>();

  constructor(deps: WebSocketDeps) {
    this.#deps = deps;
    this.#server = new WebSocketServer({
      noServer: true,
      maxPayload: deps.maxPayloadBytes,
      perMessageDeflate: false,
      handleProtocols: (_offered, req) => this.#protocols.get(req) ?? false,
    });
  }

  /** Open sessions (for revocation checks). */
  sessions(): readonly Session[] {
    return [...this.#sessions];
  }

  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string): Promise<void> {
    const fail = (code: ErrorCode, message?: string) =>
      writeError(responseOn(req, socket), code, requestId, { message });
    socket.on("error", () => socket.destroy());
    const target = req.url ?? "/";
    const overLimit = checkRequestLimits(target, req.rawHeaders);
    if (overLimit) return void fail(overLimit.code, overLimit.message);
    const routed = routeOf(target);
    if (!routed.ok) return void writeDenial(responseOn(req, socket), routed.denial, requestId);
    const route = routed.value;
    if (route?.kind !== "proxy")
      return void fail("NOT_FOUND", "websocket upgrades are served on /proxy/{connection_id}/...");
    if ((req.method ?? "GET") !== "GET") return void fail("METHOD_NOT_ALLOWED");
    if ((req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
      return void fail("INVALID_REQUEST", "only websocket upgrades are supported");
    }

    const ip = clientIp(req, this.#deps.trustedProxies);
    const request: GatewayRequest = {
      req,
      requestId,
      method: "GET",
      target,
      scheme: forwardedScheme(req, this.#deps.trustedProxies),
      clientIp: ip,
      connectionId: route.connectionId,
      protocol: "http",
      encodedSeparator: route.encodedSeparator,
    };
    const admitted = await upgradeStages.result({ request, body: null }, this.#deps.stages);
    if (!admitted.ok) return void writeDenial(responseOn(req, socket), admitted.denial, requestId);
    const { connection: resolved, identity } = admitted.value;
    const upstreamTarget = buildUpstreamTarget(resolved.record, route, resolved.credential);
    const headers = buildUpstreamHeaders(req.rawHeaders, {
      record: resolved.record,
      credential: resolved.credential,
      requestId,
      peerIp: peerIp(req),
      host: upstreamTarget.host,
      bodyLength: undefined,
    });
    const upstreamHeaders: Record<string, string> = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      if (name.startsWith("sec-websocket-") || name === "host" || name === "content-length") continue;
      upstreamHeaders[name] = headers[i + 1]!;
    }
    const protocols = (req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p !== "");
    const url = `${upstreamTarget.origin.replace(/^http/, "ws")}${upstreamTarget.path}`;
    const guarded = !this.#deps.allowLinkLocal;
    if (guarded && forbiddenLiteral(new URL(upstreamTarget.origin).hostname)) {
      return void fail("UPSTREAM_ADDRESS_FORBIDDEN");
    }
    const upstream = new WebSocket(url, protocols, {
      ...(guarded ? { lookup: guardedLookup } : {}),
      headers: upstreamHeaders,
      handshakeTimeout: this.#deps.handshakeTimeoutMs,
      perMessageDeflate: false,
      maxPayload: this.#deps.maxPayloadBytes,
      followRedirects: false,
    });
    let opened = false;
    upstream.once("unexpected-response", (_request, response) => {
      response.resume();
      upstream.terminate();
      fail("UPSTREAM_ERROR", `upstream refused the websocket upgrade (http ${response.statusCode})`);
    });
    upstream.once("error", (err: NodeJS.ErrnoException) => {
      if (opened || socket.destroyed || !socket.writable) return;
      fail(err.code === FORBIDDEN_ADDRESS_CODE ? "UPSTREAM_ADDRESS_FORBIDDEN" : "UPSTREAM_ERROR");
    });
    socket.once("close", () => {
      if (!opened) upstream.terminate();
    });
    upstream.once("open", () => {
      opened = true;
      if (socket.destroyed) return void upstream.terminate();
      if (upstream.protocol) this.#protocols.set(req, upstream.protocol);
      const facts: SessionFacts = {
        connectionId: route.connectionId,
        identity,
        requestId,
        path: `/${route.segments.join("/")}`,
        remoteIp: ip,
      };
      this.#server.handleUpgrade(req, socket, head, (client) => this.#relay(facts, client, upstream));
    });
  }

  #relay(facts: SessionFacts, client: WebSocket, upstream: WebSocket): void {
    const { connectionId, identity } = facts;
    const started = performance.now();
    let toAgent = 0;
    let ended = false;
    const end = () => {
      if (ended || !identity) return;
      ended = true;
      void recordUsage(
        this.#deps.usage,
        usageEvent(identity, {
          requestId: facts.requestId,
          service: connectionId,
          protocol: "http",
          action: "websocket",
          method: "GET",
          path: facts.path,
          remoteIp: facts.remoteIp,
          status: 101,
          durationMs: performance.now() - started,
          responseBytes: toAgent,
        }),
      );
    };
    const session: Session = {
      connectionId,
      identity,
      close: (code, reason) => {
        client.close(code, reason);
        upstream.close(1000, "client session closed by the gateway");
      },
    };
    this.#sessions.add(session);
    pipe(client, upstream);
    pipe(upstream, client, (bytes) => {
      toAgent += bytes;
    });
    const closeOther = (other: WebSocket) => (code: number, reason: Buffer) => {
      this.#sessions.delete(session);
      end();
      if (other.readyState === WebSocket.OPEN) other.close(sendableCode(code), reason);
      else if (other.readyState === WebSocket.CONNECTING) other.terminate();
    };
    client.once("close", closeOther(upstream));
    upstream.once("close", closeOther(client));
    client.on("error", () => upstream.terminate());
    upstream.on("error", () => client.terminate());
  }

  /** Closes every session on `connectionId` whose identity `stillAllowed` rejects. */
  async revoke(
    connectionId: string,
    stillAllowed: (identity: AuthorizedIdentity) => Promise<boolean>,
  ): Promise<number> {
    let closed = 0;
    for (const session of this.sessions()) {
      if (session.connectionId !== connectionId || !session.identity) continue;
      if (await stillAllowed(session.identity)) continue;
      session.close(1008, "claim revoked");
      closed++;
    }
    return closed;
  }

  close(): void {
    for (const session of this.sessions()) session.close(1001, "gateway shutting down");
    this.#server.close();
  }
}
