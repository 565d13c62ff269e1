import { Router } from "express";
import { z } from "zod";
import { requireOwner } from "../auth/owner-auth.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { pageSchema, pagination } from "../http/pagination.ts";
import { parseBody, parseQuery } from "../http/validate.ts";
import { getOwnedService } from "../services/services.ts";
import { listDeliveries, presentDelivery } from "../webhooks/deliveries.ts";
import { createWebhook, redeliverDeadLetter, requireWebhooks, sendTestEvent } from "../webhooks/manage.ts";
import {
  deleteWebhook,
  findServiceWebhook,
  listDeadLetters,
  listWebhooks,
  presentWebhook,
  webhookInputSchema,
} from "../webhooks/store.ts";

const pageQuery = z.object(pageSchema(50, 200));
const createSchema = webhookInputSchema.required({ events: true });

/**
 * /v1/services/:id/webhooks*: the owner's webhooks of one service, a test event, each webhook's deliveries, the
 * dead-letter list and redelivery (owner JWT or the dashboard's session).
 */
export function webhooksRouter(deps: AppDeps): Router {
  const r = Router();
  const { db } = deps;
  const ownService = async (req: Parameters<typeof requireOwner>[0], id: string) => {
    const owner = await requireOwner(req, deps);
    return getOwnedService(db, owner.id, id);
  };

  r.get("/v1/services/:id/webhooks", async (req, res) => {
    const service = await ownService(req, req.params.id);
    const page = parseQuery(req, pageQuery);
    const { rows, total } = await listWebhooks(db, service.id, page);
    res.json({ webhooks: rows.map(presentWebhook), pagination: pagination(page, total) });
  });

  r.post("/v1/services/:id/webhooks", async (req, res) => {
    const service = await ownService(req, req.params.id).catch((err: unknown) => {
      throw err instanceof ApiError && err.status === 404
        ? new ApiError("SERVICE_NOT_FOUND", "Service not found")
        : err;
    });
    const webhooks = requireWebhooks(deps.webhooks);
    const input = parseBody(
      req,
      createSchema,
      "url, events (non-empty array), and secret (min 16 chars) are required",
    );
    res.status(201).json(await createWebhook(db, webhooks, service.id, input));
  });

  r.get("/v1/services/:id/webhooks/dead-letters", async (req, res) => {
    const service = await ownService(req, req.params.id);
    const page = parseQuery(req, pageQuery);
    res.json({ dead_letters: await listDeadLetters(db, service.id, page), pagination: { ...page } });
  });

  r.post("/v1/services/:id/webhooks/dead-letters/:letterId/redeliver", async (req, res) => {
    const service = await ownService(req, req.params.id);
    const webhooks = requireWebhooks(deps.webhooks);
    res.status(202).json(await redeliverDeadLetter(db, webhooks, service.id, req.params.letterId));
  });

  r.post("/v1/services/:id/webhooks/:webhookId/test", async (req, res) => {
    const service = await ownService(req, req.params.id);
    const webhooks = requireWebhooks(deps.webhooks);
    res.status(202).json(await sendTestEvent(db, webhooks, service, req.params.webhookId));
  });

  r.get("/v1/services/:id/webhooks/:webhookId/deliveries", async (req, res) => {
    const service = await ownService(req, req.params.id);
    const page = parseQuery(req, pageQuery);
    if (!(await findServiceWebhook(db, service.id, req.params.webhookId)))
      throw notFound("Webhook not found");
    const { rows, total } = await listDeliveries(db, req.params.webhookId, page);
    res.json({ deliveries: rows.map(presentDelivery), pagination: pagination(page, total) });
  });

  r.delete("/v1/services/:id/webhooks/:webhookId", async (req, res) => {
    const service = await ownService(req, req.params.id);
    if (!(await deleteWebhook(db, service.id, req.params.webhookId))) throw notFound("Webhook not found");
    res.json({ success: true, deleted: true, webhook_id: req.params.webhookId });
  });

  return r;
}
