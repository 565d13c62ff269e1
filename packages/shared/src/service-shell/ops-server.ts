import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "../config/fields.ts";
import { sendError } from "../errors.ts";
import { type DrainOutcome, lifecycleMetrics } from "../metrics.ts";
import { requestIdFrom } from "../request-id.ts";
import { drainServer, trackRequests } from "./drain.ts";
import { createServiceServer, requestPath } from "./http-server.ts";
import { listenOn } from "./listen.ts";
import { type OpsRoutesOptions, opsRoutes } from "./ops-routes.ts";

/**
 * The listener of a service that serves no traffic of its own (the pairing bridge, the usage worker): the ops
 * routes, nothing else, with a graceful drain on stop.
 */

export interface OpsServer {
  server: Server;
  /** Binds `address`; a failure names `variable`, the setting that moves it. */
  listen(address: ListenAddress, variable: string): Promise<AddressInfo>;
  /** Drains in-flight requests (bounded), records the outcome in the shutdown metrics. */
  stop(timeoutMs: number): Promise<DrainOutcome>;
}

export function createOpsServer(opts: OpsRoutesOptions): OpsServer {
  const lifecycle = lifecycleMetrics(opts.registry);
  const routes = opsRoutes(opts);
  const server = createServiceServer({ headersTimeout: 5_000, requestTimeout: 60_000 }, (req, res) => {
    const requestId = requestIdFrom(req.headers);
    if (!routes(req, res, requestPath(req.url), requestId)) sendError(res, "NOT_FOUND", { requestId });
  });
  const inFlight = trackRequests(server, lifecycle);
  return {
    server,
    listen: (address, variable) => listenOn(server, address, variable),
    stop: (timeoutMs) => drainServer(server, inFlight, timeoutMs, lifecycle),
  };
}
