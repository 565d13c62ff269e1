import { randomUUID } from "node:crypto";
import { RELAY_METHODS, SEALED_BOX_ALGORITHM } from "@sigilum-gw/shared/pairing-frames";
import { clearSecretFields } from "@sigilum-gw/shared/sealed-fields";
import { Router } from "express";
import { z } from "zod";
import { requireOwner } from "../auth/owner-auth.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, forbidden } from "../http/errors.ts";
import { parseBody, parseQuery, parseWith, tryJsonBody } from "../http/validate.ts";
import {
  createSession,
  findSession,
  isExpired,
  liveSessionsOf,
  ownedLiveSession,
  type SessionRow,
  startSessionSchema,
} from "../pairing/sessions.ts";
import { CONNECT_PATH } from "../pairing/socket.ts";

const DEFAULT_TTL_SECONDS = 600;
const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;

const statusQuerySchema = z.object({ session_id: z.string().min(1).max(64) });

const commandSchema = z
  .object({
    session_id: z.string().min(1).max(64),
    method: z.enum(RELAY_METHODS),
    path: z.string().min(1).max(2048),
    headers: z.record(z.string().max(256), z.string().max(8192)).optional(),
    body: z.string().nullable().optional(),
    timeout_ms: z.number().int().min(1000).max(60_000).optional(),
  })
  .strict();

/** `ws_url` as the owner's client reached us, scheme switched to ws/wss (spec §B.1). */
function wsUrl(deps: AppDeps, host: string | undefined, session: string, namespace: string, code: string) {
  const base = deps.config.publicUrl ?? `http://${host ?? "127.0.0.1"}`;
  const url = new URL(CONNECT_PATH, base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.search = new URLSearchParams({ session_id: session, namespace, code }).toString();
  return url.toString();
}

/**
 * /v1/gateway/pairing/*: the owner starts a session, watches it and relays admin commands to the paired gateway
 * (spec §B.1, §B.2, §B.5; owner JWT). The gateway's side is the WebSocket in pairing/socket.ts.
 */
export function pairingRouter(deps: AppDeps): Router {
  const r = Router();
  const { db } = deps;
  const relay = () => {
    if (!deps.pairing) {
      throw new ApiError("PAIRING_UNAVAILABLE", "Gateway pairing needs Redis: set REDIS_URL");
    }
    return deps.pairing;
  };

  r.post("/v1/gateway/pairing/start", async (req, res) => {
    const owner = await requireOwner(req, deps);
    relay();
    // An empty or unparsable body counts as {} (reference); a parsed one must be valid.
    const parsed = tryJsonBody(req);
    const input = parseWith(startSessionSchema, parsed.ok ? (parsed.value ?? {}) : {});
    if (input.namespace !== undefined && input.namespace !== owner.namespace) {
      throw forbidden("Namespace mismatch for authenticated user");
    }
    const { row, code } = await createSession(db, owner, input.ttl_seconds ?? DEFAULT_TTL_SECONDS);
    res.json({
      session_id: row.id,
      namespace: row.namespace,
      pair_code: code,
      expires_at: row.expires_at.toISOString(),
      ws_url: wsUrl(deps, req.headers.host, row.id, row.namespace, code),
    });
  });

  /** A session as the status shows it (spec §B.2): times in epoch milliseconds. */
  const status = async (row: SessionRow) => ({
    connected: !isExpired(row) && (await relay().isConnected(row.id)),
    namespace: row.namespace,
    expires_at: row.expires_at.getTime(),
    last_connected_at: row.last_connected_at?.getTime() ?? null,
    gateway_public_key: row.gateway_public_key,
    key_algorithm: row.gateway_public_key ? SEALED_BOX_ALGORITHM : null,
  });

  r.get("/v1/gateway/pairing/status", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const { session_id } = parseQuery(req, statusQuerySchema, "session_id is required");
    const row = await findSession(db, session_id);
    if (!row) throw new ApiError("NOT_FOUND", "Pair session not found");
    if (row.owner_user_id !== owner.id) throw forbidden("Pair session belongs to another owner");
    res.json(await status(row));
  });

  // The owner's live sessions, so any browser (not only the one that started a pairing) finds its gateway.
  r.get("/v1/gateway/pairing/sessions", async (req, res) => {
    const owner = await requireOwner(req, deps);
    relay();
    const rows = await liveSessionsOf(db, owner);
    const sessions = await Promise.all(
      rows.map(async (row) => ({
        session_id: row.id,
        created_at: row.created_at.getTime(),
        ...(await status(row)),
      })),
    );
    res.json({ sessions });
  });

  // A plain GET (the bridge's preflight) learns the route exists; the upgrade itself is handled by the server.
  r.get(CONNECT_PATH, (req) => {
    const q = req.query;
    if (typeof q.session_id !== "string" || typeof q.code !== "string") {
      throw new ApiError("VALIDATION_ERROR", "session_id and code are required");
    }
    throw new ApiError("UPGRADE_REQUIRED", "Expected websocket upgrade");
  });

  r.post("/v1/gateway/pairing/command", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const input = parseBody(req, commandSchema);
    const bus = relay();
    await ownedLiveSession(db, owner, input.session_id);
    const body = input.body ?? null;
    const clear = clearSecretFields(input.method, input.path, body);
    if (clear.length > 0) {
      // Refused before anything is logged or relayed: the control plane never passes a secret on in clear.
      throw new ApiError(
        "SECRET_NOT_SEALED",
        "Secret fields must be sealed to the gateway's public key (see gateway_public_key in the status)",
        { fields: clear },
      );
    }
    const answer = await bus.command(
      input.session_id,
      {
        type: "command",
        request_id: randomUUID(),
        method: input.method,
        path: input.path,
        headers: input.headers ?? {},
        body,
      },
      input.timeout_ms ?? DEFAULT_COMMAND_TIMEOUT_MS,
    );
    res.json(answer);
  });

  return r;
}
