import type { ServerResponse } from "node:http";
import { type ErrorCode, GatewayError, sendError } from "@sigilum-gw/shared/errors";
import { DENY_CLIENT_HEADERS } from "@sigilum-gw/shared/ext-authz";
import type { Logger } from "@sigilum-gw/shared/logger";
import type { Denial } from "@sigilum-gw/shared/stage";
import type { ProxyDetail } from "./exchange.ts";

/**
 * The one place the proxy turns a refusal into its answer: the documented JSON envelope with the code's status,
 * or, in inline mode, the verifier's own denial relayed to the agent as is (as Envoy relays it). Every module of
 * the proxy answers errors through here.
 */

export function writeDenial(
  res: ServerResponse,
  denial: Denial<ProxyDetail>,
  requestId: string,
  headers?: Record<string, string>,
): void {
  const relayed = denial.detail?.relayed;
  if (relayed) {
    for (const name of DENY_CLIENT_HEADERS) {
      const value = relayed.headers[name];
      if (value !== undefined) res.setHeader(name, value);
    }
    if (!res.hasHeader("x-request-id")) res.setHeader("x-request-id", requestId);
    res.setHeader("content-length", relayed.body.length);
    res.statusCode = relayed.status;
    res.end(relayed.body);
    return;
  }
  writeError(res, denial.code, requestId, {
    message: denial.message,
    headers: headers || denial.headers ? { ...headers, ...denial.headers } : undefined,
  });
}

export function writeError(
  res: ServerResponse,
  code: ErrorCode,
  requestId: string,
  options: { message?: string | undefined; headers?: Record<string, string> | undefined } = {},
): void {
  sendError(res, code, {
    requestId,
    ...(options.message ? { message: options.message } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
}

/**
 * A request that failed with an exception: a GatewayError answers with its own code, anything else is logged and
 * answered INTERNAL_ERROR; once the answer has started, the response is cut instead.
 */
export function writeFailure(res: ServerResponse, err: unknown, requestId: string, logger: Logger): void {
  const mapped = err instanceof GatewayError ? err : undefined;
  if (!mapped) logger.error({ err: asLoggable(err), request_id: requestId }, "request failed");
  if (res.headersSent) res.destroy();
  else if (mapped) writeError(res, mapped.code, requestId, { message: mapped.message });
  else writeError(res, "INTERNAL_ERROR", requestId);
}

/** Errors go to the logger as objects (the sanitizer reduces them); anything else as its text. */
export function asLoggable(err: unknown): unknown {
  return err instanceof Error ? err : String(err);
}
