import { requestStream } from "@sigilum-gw/testkit/stage";
import type { GatewayRequest } from "../../src/pipeline/exchange.ts";

/** A runtime request as the proxy's handlers build it, without HTTP; its stream carries `body` and then ends. */
export function gatewayRequest(
  target: string,
  options: {
    headers?: Record<string, string>;
    body?: Buffer[];
    method?: string;
    encodedSeparator?: boolean;
  } = {},
): GatewayRequest {
  return {
    req: requestStream({ host: "gateway.test", ...options.headers }, options.body),
    requestId: "req-stage-test",
    method: options.method ?? "GET",
    target,
    scheme: "http",
    clientIp: "203.0.113.9",
    connectionId: /^\/(?:proxy|mcp)\/([^/?]+)/.exec(target)?.[1] ?? "slack-proxy",
    protocol: "http",
    encodedSeparator: options.encodedSeparator ?? false,
  };
}
