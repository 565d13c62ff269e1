import { stages } from "@sigilum-gw/shared/stage";
import { authorize } from "./authorize.ts";
import { readRequestBody } from "./body.ts";
import type { Admitted, Authorized, GatewayRequest, ProxyContext, ProxyDetail } from "./exchange.ts";
import { resolve } from "./resolve.ts";

/**
 * The proxy's runtime stages, top to bottom. Every runtime route reads its body and is authorized the same way
 * (`/proxy` and `/mcp`); an HTTP request then resolves its connection, and proxy-request.ts injects the credential
 * and forwards it. A WebSocket upgrade has no body: authorize → resolve. A denial is answered by errors.ts.
 */

/** body (bounded) → authorize: every runtime request, HTTP and MCP. */
export const admission = stages<GatewayRequest, ProxyContext, ProxyDetail>()
  .pipe(readRequestBody)
  .pipe(authorize);

/** body → authorize → resolve: a `/proxy` request, then inject → forward (proxy-request.ts). */
export const proxyStages = admission.pipe(resolve);

/** authorize → resolve: a WebSocket upgrade on `/proxy` (no body). */
export const upgradeStages = stages<Admitted, ProxyContext, ProxyDetail>().pipe(authorize).pipe(resolve);

/** resolve alone: an MCP request resolves its connection once its usage accounting is in place. */
export const resolutionStages = stages<Authorized, ProxyContext, ProxyDetail>().pipe(resolve);
