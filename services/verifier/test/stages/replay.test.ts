import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { settle } from "@sigilum-gw/testkit/stage";
import { Redis } from "ioredis";
import { replay } from "../../src/pipeline/replay.ts";
import { signature } from "../../src/pipeline/signature.ts";
import { REDIS_URL } from "../helpers/harness.ts";
import { useStageBench } from "../helpers/stage-context.ts";

describe("replay stage", () => {
  const bench = useStageBench();
  before(() => bench.ctx.epoch.sync());

  async function signedNow(target: string) {
    const verified = await settle(signature(bench.signed(target), bench.ctx));
    assert.ok(verified.result.ok);
    return verified.result.value;
  }

  test("a nonce passes once, then is a replay (real Redis)", async () => {
    const signed = await signedNow("/proxy/github/repos");
    const first = await settle(replay(signed, bench.ctx));
    assert.deepEqual(first.result, { ok: true, value: signed });
    const second = await settle(replay(signed, bench.ctx));
    assert.ok(!second.result.ok);
    assert.equal(second.result.denial.code, "AUTH_REPLAY_DETECTED");
    assert.equal(second.result.denial.status, 403);
    assert.equal(second.result.denial.stage, "replay_detection");
    assert.equal(second.result.denial.detail?.identity?.nonce, signed.identity.nonce);
  });

  test("a signature created before the replay window's data set began is refused", async () => {
    const signed = await signedNow("/proxy/github/repos");
    const old = { ...signed, identity: { ...signed.identity, created: 1 } };
    const { result } = await settle(replay(old, bench.ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "AUTH_REPLAY_WINDOW_RESET");
  });

  test("a nonce store that cannot answer is 503, never an allow", async () => {
    const dead = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false });
    const { RedisNonceStore } = await import("@sigilum-gw/shared/replay");
    const ctx = { ...bench.ctx, nonces: new RedisNonceStore(dead, "stage-dead:") };
    const signed = await signedNow("/proxy/github/repos");
    const { result } = await settle(replay(signed, ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "REDIS_UNAVAILABLE");
    assert.equal(result.denial.status, 503);
    dead.disconnect();
  });
});
