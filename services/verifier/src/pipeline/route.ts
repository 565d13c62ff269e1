import { parseRoute } from "@sigilum-gw/shared/gateway-route";
import { deny, ok } from "@sigilum-gw/shared/stage";
import type { Admitted, CheckStage, Routed } from "./check.ts";

/** Stage 2, route: which connection is called (the gateway's URL grammar); anything else is a plain 4xx. */

const INVALID_ROUTE_MESSAGE =
  "invalid gateway path, expected /proxy/{connection_id}/..., /mcp/{connection_id}/... or /slack/...";

export const route: CheckStage<Admitted, Routed> = (admitted) => {
  const { method, target } = admitted.request;
  if (method === "CONNECT" || method === "TRACE") return deny("route", "METHOD_NOT_ALLOWED");
  const query = target.indexOf("?");
  const parsed = parseRoute(query === -1 ? target : target.slice(0, query));
  if (!parsed.ok) {
    if (parsed.reason === "not_signed_route") return deny("route", "NOT_FOUND");
    if (parsed.reason === "unsafe_path") return deny("route", "PATH_TRAVERSAL");
    return deny("route", "INVALID_REQUEST", { message: INVALID_ROUTE_MESSAGE });
  }
  return ok({ request: admitted.request, body: admitted.body, service: parsed.route.service });
};
