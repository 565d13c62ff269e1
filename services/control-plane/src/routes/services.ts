import { Router } from "express";
import { z } from "zod";
import { requireOwner } from "../auth/owner-auth.ts";
import type { AppDeps } from "../deps.ts";
import { pageSchema } from "../http/pagination.ts";
import { parseBody, parseQuery } from "../http/validate.ts";
import { createKey, createKeySchema, listKeys, markGatewayKey, revokeKey } from "../services/keys.ts";
import {
  createService,
  createServiceSchema,
  deleteService,
  getOwnedService,
  listServices,
  updateService,
  updateServiceSchema,
} from "../services/services.ts";
import { createWebhook, requireWebhooks, validTargetUrl } from "../webhooks/manage.ts";

const keysQuerySchema = z.object(pageSchema(50, 200));

/** /v1/services*: the owner's services and their API keys (owner JWT; unsigned, like the reference). */
export function servicesRouter(deps: AppDeps): Router {
  const r = Router();
  const { db } = deps;
  const owner = (req: Parameters<typeof requireOwner>[0]) => requireOwner(req, deps);

  r.get("/v1/services", async (req, res) => {
    const o = await owner(req);
    res.json(await listServices(db, o.id));
  });

  r.post("/v1/services", async (req, res) => {
    const o = await owner(req);
    const input = parseBody(req, createServiceSchema);
    // The webhook is checked before the service exists, so a bad URL creates nothing.
    const webhooks = input.webhook ? requireWebhooks(deps.webhooks) : undefined;
    if (input.webhook && webhooks) await validTargetUrl(input.webhook.url, webhooks.policy);
    const service = await createService(db, o.id, input, {
      maxServicesPerOwner: deps.config.limits.servicesPerOwner,
    });
    if (!input.webhook || !webhooks) return void res.status(201).json(service);
    const { active: _active, ...webhook } = await createWebhook(db, webhooks, service.id, input.webhook);
    res.status(201).json({ ...service, webhook });
  });

  r.get("/v1/services/:id", async (req, res) => {
    const o = await owner(req);
    res.json(await getOwnedService(db, o.id, req.params.id));
  });

  r.patch("/v1/services/:id", async (req, res) => {
    const o = await owner(req);
    const input = parseBody(req, updateServiceSchema);
    res.json(await updateService(db, o.id, req.params.id, input));
  });

  r.delete("/v1/services/:id", async (req, res) => {
    const o = await owner(req);
    const slug = await deleteService(db, o.id, req.params.id);
    await deps.events.claimsChanged(slug);
    res.json({ success: true });
  });

  r.get("/v1/services/:id/keys", async (req, res) => {
    const o = await owner(req);
    const page = parseQuery(req, keysQuerySchema);
    res.json(await listKeys(db, o.id, req.params.id, page));
  });

  r.post("/v1/services/:id/keys", async (req, res) => {
    const o = await owner(req);
    const { name } = parseBody(req, createKeySchema);
    res.status(201).json(
      await createKey(db, o.id, req.params.id, name, {
        maxKeysPerService: deps.config.limits.apiKeysPerService,
      }),
    );
  });

  r.delete("/v1/services/:id/keys/:keyId", async (req, res) => {
    const o = await owner(req);
    res.json(await revokeKey(db, o.id, req.params.id, req.params.keyId));
  });

  r.post("/v1/services/:id/keys/:keyId/mark-gateway", async (req, res) => {
    const o = await owner(req);
    res.json(await markGatewayKey(db, o.id, req.params.id, req.params.keyId));
  });

  return r;
}
