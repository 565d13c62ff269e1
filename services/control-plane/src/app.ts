import type { BrowserGuardPolicy } from "@sigilum-gw/shared/browser-guard";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import express, { type Express } from "express";
import type { Registry } from "prom-client";
import type { Config } from "./config.ts";
import { dashboardSessionGuard } from "./dashboard/session-guard.ts";
import type { AppDeps } from "./deps.ts";
import {
  browserGuard,
  cors,
  errorHandler,
  notFoundHandler,
  rawBodyReader,
  requestId,
  securityHeaders,
} from "./http/middleware.ts";
import { opsMiddleware } from "./http/ops.ts";
import { dashboardPagesRouter } from "./routes/dashboard-pages.ts";
import { apiRouter } from "./routes/index.ts";

/** Which Host names and browser origins the API (and the pairing WebSocket) accept. */
export function browserGuardPolicy(config: Config): BrowserGuardPolicy {
  return {
    hosts: createHostAllowlist([config.publicUrl], config.allowedHosts, {
      anyIpAddress: true,
    }),
    allowedOrigins: new Set(config.allowedOrigins),
  };
}

/** The express app: middleware, ops routes, API routes, 404 and the error envelope. No I/O of its own. */
export function createApp(deps: AppDeps, ops: { registry: Registry; accepting: () => boolean }): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestId());
  app.use(cors(deps.config.allowedOrigins));
  app.use(securityHeaders());
  const guard = browserGuard(browserGuardPolicy(deps.config));
  // Health stays open to probes under any Host; the metrics, which only loopback may read, must not be readable by
  // a page that rebinds its own name to 127.0.0.1 (a loopback peer with a foreign Host).
  app.use("/metrics", guard);
  app.use(
    opsMiddleware(ops.registry, () =>
      ops.accepting() ? { ready: true } : { ready: false, message: "control plane is shutting down" },
    ),
  );
  app.use(guard);
  app.use(dashboardSessionGuard(deps.config));
  app.use(rawBodyReader(deps.config.maxBodyBytes));
  app.use(dashboardPagesRouter());
  app.use(apiRouter(deps));
  app.use(notFoundHandler());
  app.use(errorHandler(deps.log));
  return app;
}
