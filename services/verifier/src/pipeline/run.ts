import { ok, type RunCallbacks, stages } from "@sigilum-gw/shared/stage";
import { admit } from "./admit.ts";
import type { Allowed, CheckContext, CheckDetail, CheckRequest, Routed } from "./check.ts";
import { claims } from "./claims.ts";
import { replay } from "./replay.ts";
import { route } from "./route.ts";
import { signature } from "./signature.ts";

/**
 * The check pipeline, in spec order (spec/gateway.md §2.1): admission → route → (development bypass) →
 * signature, certificate, digest, freshness → replay → claims. Pure of HTTP answers: the handler writes what the
 * run decides (answer.ts for an allow, errors.ts for a denial), counts and logs it.
 */

const routing = stages<CheckRequest, CheckContext, CheckDetail>().pipe(admit).pipe(route);

const signed = stages<Routed, CheckContext, CheckDetail>().pipe(signature).pipe(replay).pipe(claims);

export function runCheck(
  request: CheckRequest,
  ctx: CheckContext,
  callbacks: RunCallbacks<Allowed, CheckDetail>,
): void {
  routing.run(request, ctx, {
    done(routed) {
      if (!routed.ok) return callbacks.done(routed);
      const { service } = routed.value;
      if (bypassed(ctx, service))
        return callbacks.done(ok({ service, clientIp: request.clientIp, identity: null }));
      signed.run(routed.value, ctx, callbacks);
    },
    fail: callbacks.fail,
  });
}

/** GATEWAY_ALLOW_UNSIGNED_PROXY (development only): the connection is served without signature or claims. */
function bypassed(ctx: CheckContext, service: string): boolean {
  return (
    ctx.bypass.enabled && (ctx.bypass.connections.length === 0 || ctx.bypass.connections.includes(service))
  );
}
