import { randomUUID } from "node:crypto";
import { type IncomingMessage, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { type BrowserGuardPolicy, checkBrowserGuard } from "@sigilum-gw/shared/browser-guard";
import { ERROR_CATALOGUE } from "@sigilum-gw/shared/errors";
import { controlPlaneEnvelope } from "@sigilum-gw/shared/errors/control-plane";
import type { Logger } from "@sigilum-gw/shared/logger";
import { bridgeFrameSchema, parseFrame } from "@sigilum-gw/shared/pairing-frames";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import { type WebSocket, WebSocketServer } from "ws";
import type { Db } from "../db/db.ts";
import type { GatewaySocket, PairingRelay } from "./relay.ts";
import {
  codeMatches,
  extendSession,
  findSession,
  isExpired,
  MAX_CODE_ATTEMPTS,
  markConnected,
  recordGatewayKey,
  recordWrongCode,
} from "./sessions.ts";

/**
 * `GET /v1/gateway/pairing/connect?session_id=&namespace=&code=` with a WebSocket upgrade (spec §B.3): the pair
 * code is the only credential. Refusals are JSON with a code the bridge can act on (the terminal ones stop it).
 * Before the session is looked up, the handshake passes the API's browser guard with no Origin allowed: CORS does
 * not cover WebSocket handshakes, so a page in an owner's browser (or a DNS-rebinding one) could otherwise open the
 * socket or spend the session's code attempts. The bridge is no browser and sends no Origin.
 */

export const CONNECT_PATH = "/v1/gateway/pairing/connect";

export interface PairingSocketDeps {
  db: Db;
  relay: PairingRelay;
  log: Logger;
  /** A socket silent (no ping, pong or answer) this long is dropped; also the Redis lease TTL. */
  leaseMs: number;
  maxFrameBytes: number;
  /** The API's Host allowlist (and origins, though none is accepted here). */
  browserGuard: BrowserGuardPolicy;
}

class Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;

  constructor(status: number, code: string, message: string) {
    this.status = status;
    this.code = code;
    this.message = message;
  }
}

function refuse(socket: Duplex, refusal: Refusal, req: IncomingMessage): void {
  const body = JSON.stringify(controlPlaneEnvelope(refusal, requestIdFrom(req.headers)));
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\nContent-Type: application/json\r\n` +
      `Cache-Control: no-store\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Host, cross-site and Origin refusals (shared/browser-guard.ts), as for the API; undefined when none applies. */
function browserRefusal(policy: BrowserGuardPolicy, req: IncomingMessage): Refusal | undefined {
  const code = checkBrowserGuard(policy, req.headers, { jsonBodies: false, browserless: true });
  if (!code) return undefined;
  const spec = ERROR_CATALOGUE[code];
  return new Refusal(spec.status, code, spec.message);
}

/** Which session this handshake may open, or why not (checks in the reference's order). */
async function admit(db: Db, req: IncomingMessage): Promise<{ session: string } | Refusal> {
  const url = new URL(req.url ?? "/", "http://pairing.invalid");
  if (url.pathname !== CONNECT_PATH) return new Refusal(404, "NOT_FOUND", "Not found");
  const sessionId = url.searchParams.get("session_id") ?? "";
  const code = url.searchParams.get("code") ?? "";
  const namespace = url.searchParams.get("namespace");
  if (!sessionId || !code) {
    return new Refusal(400, "VALIDATION_ERROR", "session_id and code are required");
  }
  if (String(req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
    return new Refusal(426, "UPGRADE_REQUIRED", "Expected websocket upgrade");
  }
  const row = await findSession(db, sessionId);
  if (!row) return new Refusal(404, "PAIR_SESSION_NOT_FOUND", "Pair session not found");
  if (row.failed_attempts >= MAX_CODE_ATTEMPTS) {
    return new Refusal(403, "PAIR_SESSION_LOCKED", "Pair session locked after too many wrong codes");
  }
  if (isExpired(row)) return new Refusal(410, "PAIR_SESSION_EXPIRED", "Pair session expired");
  if (namespace && namespace !== row.namespace) {
    return new Refusal(403, "NAMESPACE_MISMATCH", "Namespace mismatch");
  }
  if (!codeMatches(row, code)) {
    await recordWrongCode(db, row.id);
    return new Refusal(403, "PAIR_CODE_INVALID", "Invalid pair code");
  }
  return { session: row.id };
}

export interface PairingSocketServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

export function createPairingSocketServer(deps: PairingSocketDeps): PairingSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxFrameBytes });

  const serve = (session: string, ws: WebSocket) => {
    const gateway: GatewaySocket = {
      connId: randomUUID(),
      send: (frame) => ws.send(JSON.stringify(frame)),
      close: (code, reason) => ws.close(code, reason),
    };
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ws.terminate(), deps.leaseMs);
    };
    const fail = (err: unknown) => deps.log.warn({ err, session_id: session }, "pairing socket error");
    touch();
    ws.on("message", (data, isBinary) => {
      touch();
      if (isBinary) return;
      const frame = parseFrame(bridgeFrameSchema, data.toString());
      if (!frame) return;
      if (frame.type === "response") return deps.relay.answer(gateway, frame);
      if (frame.type === "hello") {
        if (frame.gateway_public_key)
          recordGatewayKey(deps.db, session, frame.gateway_public_key).catch(fail);
        return;
      }
      if (frame.type === "ping") ws.send(JSON.stringify({ type: "pong", ts: Date.now() }));
      deps.relay
        .renew(session, gateway)
        .then((mine) => (mine ? extendSession(deps.db, session) : gateway.close(1000, "replaced")))
        .catch(fail);
    });
    ws.on("error", fail);
    ws.once("close", () => {
      clearTimeout(idle);
      deps.log.info({ session_id: session }, "gateway disconnected");
      deps.relay.detach(session, gateway).catch(fail);
    });
    Promise.all([deps.relay.attach(session, gateway), markConnected(deps.db, session)]).then(
      () => deps.log.info({ session_id: session }, "gateway connected"),
      (err) => {
        fail(err);
        ws.close(1011, "pairing unavailable");
      },
    );
  };

  return {
    handleUpgrade(req, socket, head) {
      socket.on("error", () => socket.destroy());
      const refusal = browserRefusal(deps.browserGuard, req);
      if (refusal) return refuse(socket, refusal, req);
      admit(deps.db, req).then(
        (outcome) => {
          if (outcome instanceof Refusal) return refuse(socket, outcome, req);
          wss.handleUpgrade(req, socket, head, (ws) => serve(outcome.session, ws));
        },
        (err) => {
          deps.log.error({ err }, "pairing handshake failed");
          refuse(socket, new Refusal(503, "DB_UNAVAILABLE", "Pairing store unavailable"), req);
        },
      );
    },
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}
