import { checkReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import { deny, ok } from "@sigilum-gw/shared/stage";
import type { CheckStage, Signed } from "./check.ts";

/**
 * Stage 4, replay: the signature must be newer than the replay window's data set (a Redis that lost data has
 * forgotten older nonces), and its nonce unseen in the window shared by every replica (Redis SET NX EX keyed by
 * namespace and nonce). A store failure is never a "fresh" answer: 503, never allow.
 */
export const replay: CheckStage<Signed, Signed> = async (signed, ctx) => {
  const { identity } = signed;
  const detail = { service: signed.service, identity };
  const epoch = await checkReplayEpoch(ctx.epoch, identity.created);
  if (epoch === "unknown") return deny("replay_detection", "REDIS_UNAVAILABLE", { detail });
  if (epoch === "predates") return deny("replay_detection", "AUTH_REPLAY_WINDOW_RESET", { detail });
  let fresh: boolean;
  try {
    fresh = await ctx.nonces.checkAndRecord(identity.namespace, identity.nonce, ctx.nonceTtlSeconds);
  } catch {
    return deny("replay_detection", "REDIS_UNAVAILABLE", { detail });
  }
  return fresh ? ok(signed) : deny("replay_detection", "AUTH_REPLAY_DETECTED", { detail });
};
