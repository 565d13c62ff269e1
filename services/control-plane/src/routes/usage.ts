import { Router } from "express";
import { requireServiceKey } from "../auth/service-key-auth.ts";
import { consumeNonce, verifySignature } from "../auth/signed-request.ts";
import type { AppDeps } from "../deps.ts";
import { jsonBody } from "../http/validate.ts";
import { recordUsageBatch } from "../usage/batch.ts";
import { recordUsageEvent } from "../usage/events.ts";

/**
 * POST /v1/usage/events: signed by the reporting gateway with its own identity (not bound to the
 * event's namespace or key — the reference's binding made gateway reporting impossible, §H) plus the
 * service key of the service the event is for.
 */
export function usageRouter(deps: AppDeps): Router {
  const r = Router();
  r.post("/v1/usage/events", async (req, res) => {
    const signer = verifySignature(req, deps.signed);
    const key = await requireServiceKey(req, deps.db, "submit");
    await consumeNonce(deps.signed, signer);
    const result = await recordUsageEvent(deps.db, key, jsonBody(req));
    res.status(result.status).json(result.body);
  });
  // The same checks for many events at once (what the gateway's usage worker sends): one signature, one INSERT.
  r.post("/v1/usage/events/batch", async (req, res) => {
    const signer = verifySignature(req, deps.signed);
    const key = await requireServiceKey(req, deps.db, "submit");
    await consumeNonce(deps.signed, signer);
    res.status(200).json(await recordUsageBatch(deps.db, key, jsonBody(req)));
  });
  return r;
}
