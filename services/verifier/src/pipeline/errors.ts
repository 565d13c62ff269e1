import type { ServerResponse } from "node:http";
import { sendError } from "@sigilum-gw/shared/errors";
import type { Denial } from "@sigilum-gw/shared/stage";
import { claimRequiredMarkdown } from "./answer.ts";
import type { CheckDetail } from "./check.ts";

/**
 * The one place a denial becomes the answer Envoy relays to the agent (ext_authz: any status but 200 is a deny,
 * passed through with its body and headers): the JSON envelope with `x-sigilum-code`, or for AUTH_CLAIM_REQUIRED
 * the Sigilum gateway's Markdown (spec/gateway.md §4.4).
 */
export function writeDenial(res: ServerResponse, denial: Denial<CheckDetail>, requestId: string): void {
  const claim = denial.detail?.claim;
  if (claim) {
    const body = claimRequiredMarkdown(claim);
    res.statusCode = denial.status;
    res.setHeader("content-type", "text/markdown; charset=utf-8");
    res.setHeader("cache-control", "no-store");
    res.setHeader("x-sigilum-code", denial.code);
    res.setHeader("x-request-id", requestId);
    res.setHeader("content-length", Buffer.byteLength(body));
    res.end(body);
    return;
  }
  sendError(res, denial.code, {
    requestId,
    ...(denial.message ? { message: denial.message } : {}),
    headers: { "x-sigilum-code": denial.code, ...denial.headers },
  });
}
