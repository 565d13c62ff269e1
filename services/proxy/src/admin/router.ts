import type { IncomingMessage, ServerResponse } from "node:http";
import { GatewayError } from "@sigilum-gw/shared/errors";
import express, { type NextFunction, type Request, type Response } from "express";
import { writeError } from "../pipeline/errors.ts";
import { asStoreError } from "../store/redis-errors.ts";
import { exportBackup, restoreBackup } from "./backup.ts";
import {
  type AdminCall,
  type AdminDeps,
  createConnection,
  deleteConnection,
  deleteVariable,
  getCatalog,
  getConnection,
  getPairingKey,
  listConnections,
  listVariables,
  putCatalog,
  rotateConnection,
  testConnection,
  updateConnection,
  upsertVariable,
} from "./handlers.ts";
import { discoverConnection } from "./mcp.ts";

/**
 * Thin express routes for `/api/admin/*`. Access control, CORS, OPTIONS and the route deadline are applied by
 * the server before a request gets here; this only maps (method, path) to a handler.
 */

export interface AdminLocals {
  requestId: string;
  signal: AbortSignal;
  onError: (err: unknown) => void;
}

type Handler = (deps: AdminDeps, call: AdminCall, ...params: string[]) => Promise<void>;

function callOf(req: Request, res: Response): AdminCall {
  const locals = res.locals as AdminLocals;
  return { req, res, requestId: locals.requestId, signal: locals.signal };
}

function methodNotAllowed(_req: Request, res: Response): void {
  writeError(res, "METHOD_NOT_ALLOWED", (res.locals as AdminLocals).requestId);
}

export function createAdminApp(
  deps: AdminDeps,
): (req: IncomingMessage, res: ServerResponse, locals: AdminLocals) => void {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  const run =
    (handler: Handler, ...paramNames: string[]) =>
    (req: Request, res: Response, next: NextFunction) => {
      const params = paramNames.map((name) => String(req.params[name] ?? ""));
      handler(deps, callOf(req, res), ...params).catch(next);
    };

  app.get("/api/admin/connections", run(listConnections));
  app.post("/api/admin/connections", run(createConnection));
  app.all("/api/admin/connections", methodNotAllowed);

  // `/{id}` → CRUD; `/{id}/{action}[/anything]` → action (extra segments ignored, as the reference).
  app.all("/api/admin/connections/*rest", (req: Request, res: Response, next: NextFunction) => {
    const rest = ((req.params as { rest?: string[] }).rest ?? []).filter((s) => s !== "");
    const call = callOf(req, res);
    const [id, action] = rest;
    if (!id) return next(new GatewayError("INVALID_REQUEST", "connection id is required"));
    const method = req.method;
    let work: Promise<void> | undefined;
    if (action === undefined) {
      if (method === "GET") work = getConnection(deps, call, id);
      else if (method === "PATCH") work = updateConnection(deps, call, id);
      else if (method === "DELETE") work = deleteConnection(deps, call, id);
    } else if (action === "rotate" || action === "test") {
      if (method === "POST") work = (action === "rotate" ? rotateConnection : testConnection)(deps, call, id);
    } else if (action === "discover") {
      if (method === "POST") work = discoverConnection(deps, call, id);
    } else {
      return next(new GatewayError("NOT_FOUND", "admin action not found"));
    }
    if (!work) return methodNotAllowed(req, res);
    work.catch(next);
  });

  app.get("/api/admin/credential-variables", run(listVariables));
  app.post("/api/admin/credential-variables", run(upsertVariable));
  app.all("/api/admin/credential-variables", methodNotAllowed);
  app.delete("/api/admin/credential-variables/:key", run(deleteVariable, "key"));
  app.all("/api/admin/credential-variables/:key", methodNotAllowed);

  app.get("/api/admin/backup", run(exportBackup));
  app.all("/api/admin/backup", methodNotAllowed);
  app.post("/api/admin/restore", run(restoreBackup));
  app.all("/api/admin/restore", methodNotAllowed);
  app.get("/api/admin/pairing-key", run(getPairingKey));
  app.all("/api/admin/pairing-key", methodNotAllowed);

  app.get("/api/admin/service-catalog", run(getCatalog));
  app.put("/api/admin/service-catalog", run(putCatalog));
  app.all("/api/admin/service-catalog", methodNotAllowed);

  app.use((_req: Request, _res: Response, next: NextFunction) =>
    next(new GatewayError("NOT_FOUND", "admin route not found")),
  );

  app.use((raw: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const locals = res.locals as AdminLocals;
    const err = asStoreError(raw);
    if (res.headersSent) {
      // The route deadline already answered (or a stream broke): nothing more can be said.
      if (!res.writableEnded) res.destroy();
      return;
    }
    if (err instanceof GatewayError) {
      writeError(res, err.code, locals.requestId, { message: err.message, headers: { ...err.headers } });
      return;
    }
    locals.onError(err);
    writeError(res, "INTERNAL_ERROR", locals.requestId);
  });

  return (req, res, locals) => {
    (res as Response).locals = locals as unknown as Response["locals"];
    app(req as Request, res as Response);
  };
}
