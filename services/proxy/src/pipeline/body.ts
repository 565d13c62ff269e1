import { readBody } from "@sigilum-gw/shared/http-body";
import { ok } from "@sigilum-gw/shared/stage";
import type { Admitted, GatewayRequest, ProxyStage } from "./exchange.ts";

/** Body stage: the request body within GATEWAY_MAX_REQUEST_BODY_BYTES; a bodyless request passes synchronously. */
export const readRequestBody: ProxyStage<GatewayRequest, Admitted> = (request, ctx) => {
  const read = readBody(request.req, ctx.maxBodyBytes);
  if (read instanceof Promise)
    return read.then((body) => (body.ok ? ok({ request, body: body.value }) : body));
  return read.ok ? ok({ request, body: read.value }) : read;
};
