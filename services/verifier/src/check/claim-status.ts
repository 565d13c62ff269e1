import type { IncomingMessage, ServerResponse } from "node:http";
import { tokenMatches } from "@sigilum-gw/shared/admin-access";
import { sendError } from "@sigilum-gw/shared/errors";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import type { ClaimDecision } from "../claims/cache.ts";

/**
 * `GET /internal/claim-status?service=&namespace=&public_key=`: is this agent key still approved for the service?
 * For the proxy only (`Authorization: Bearer <GATEWAY_INTERNAL_SECRET>`): it re-checks long-lived exchanges it
 * already admitted — an open WebSocket — when a claim changes, and closes them once the claim is gone.
 * Answers `{"decision": "approved" | "not_approved" | "unavailable" | "lookup_failed"}`.
 */

export const CLAIM_STATUS_PATH = "/internal/claim-status";

export function createClaimStatusHandler(options: {
  internalSecret: string;
  lookup: (service: string, namespace: string, publicKey: string) => Promise<ClaimDecision>;
}) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = requestIdFrom(req.headers);
    const auth = req.headers.authorization ?? "";
    const presented = auth.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : "";
    if (!tokenMatches(presented, options.internalSecret)) {
      return void sendError(res, "AUTH_FORBIDDEN", { requestId, message: "internal route" });
    }
    if (req.method !== "GET") return void sendError(res, "METHOD_NOT_ALLOWED", { requestId });
    const query = new URL(req.url ?? "/", "http://verifier.invalid").searchParams;
    const service = query.get("service") ?? "";
    const namespace = query.get("namespace") ?? "";
    const publicKey = query.get("public_key") ?? "";
    if (service === "" || namespace === "" || publicKey === "") {
      return void sendError(res, "INVALID_REQUEST", {
        requestId,
        message: "service, namespace and public_key are required",
      });
    }
    const decision = await options.lookup(service, namespace, publicKey);
    const body = `${JSON.stringify({ decision })}\n`;
    res.writeHead(200, {
      "content-type": "application/json",
      "cache-control": "no-store",
      "x-request-id": requestId,
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  };
}
