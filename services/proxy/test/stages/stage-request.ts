import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import type { Result } from "@sigilum-gw/shared/stage";
import type { GatewayRequest, ProxyDetail } from "../../src/pipeline/exchange.ts";

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
  const req = new IncomingMessage(new Socket());
  const headers = { host: "gateway.test", ...options.headers };
  req.headers = headers;
  req.rawHeaders = Object.entries(headers).flat();
  if (options.body) {
    for (const chunk of options.body) req.push(chunk);
    req.push(null);
  }
  return {
    req,
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

/** The settled result of a stage, and whether it answered synchronously. */
export async function settle<T>(
  result: Result<T, ProxyDetail> | Promise<Result<T, ProxyDetail>>,
): Promise<{ sync: boolean; result: Result<T, ProxyDetail> }> {
  return { sync: !(result instanceof Promise), result: await result };
}
