import { readBody } from "@sigilum-gw/shared/http-body";
import { checkRequestLimits } from "@sigilum-gw/shared/limits";
import { deny } from "@sigilum-gw/shared/stage";
import type { Admitted, CheckRequest, CheckStage } from "./check.ts";

/**
 * Stage 1, admission: refused while shutting down, over the request limits (before its signature is read or its
 * nonce spent), or with a body Envoy truncated; else the body, read within its bound. A bodyless check (the
 * common case) passes synchronously.
 */
export const admit: CheckStage<CheckRequest, Admitted> = (request, ctx) => {
  if (ctx.isClosing()) return deny("shutdown", "SERVICE_UNAVAILABLE");
  const overLimit = checkRequestLimits(request.target, request.stream.rawHeaders);
  if (overLimit) return deny("limits", overLimit.code, { message: overLimit.message });
  if (partialBody(request.headers["x-envoy-auth-partial-body"])) return deny("body", "AUTH_PARTIAL_BODY");
  const read = readBody(request.stream, ctx.maxBodyBytes);
  if (read instanceof Promise) return read.then((body) => (body.ok ? admitted(request, body.value) : body));
  return read.ok ? admitted(request, read.value) : read;
};

function admitted(request: CheckRequest, body: Buffer | null) {
  return { ok: true as const, value: { request, body } };
}

/** Any line other than "false" wins: a truncated body can never prove its digest. */
function partialBody(value: string | readonly string[] | undefined): boolean {
  if (value === undefined) return false;
  const notFalse = (line: string) => line.trim().toLowerCase() !== "false";
  return typeof value === "string" ? notFalse(value) : value.some(notFalse);
}
