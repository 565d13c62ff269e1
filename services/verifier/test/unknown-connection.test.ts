import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { createRedisKeys } from "@sigilum-gw/shared/redis-keys";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { Redis } from "ioredis";
import { envelopeCode, envoyCheck, rawCheck } from "./helpers/envoy-check.ts";
import {
  deletePrefix,
  REDIS_URL,
  randomPrefix,
  SERVICE_API_KEY,
  startVerifier,
  waitFor,
} from "./helpers/harness.ts";

/**
 * Connections this gateway does not serve: a request for one is a 404 CONNECTION_NOT_FOUND that never reaches the
 * claims feed, and a claims copy left in Redis for one (an earlier stack, a deleted service) never holds readiness.
 * Here only `crm` has a service API key (no global key), as in the local stack after `sigilum service add crm`.
 */

const ONLY_CRM = { SIGILUM_SERVICE_API_KEY: "", SIGILUM_SERVICE_API_KEY_CRM: SERVICE_API_KEY };
const agent = createIdentity("unknown-conn-agent");

function signedCheck(port: number, service: string) {
  const signed = signRequest(agent, { url: `http://127.0.0.1:38100/proxy/${service}/v1/x`, method: "GET" });
  return envoyCheck(port, { method: signed.method, url: signed.url, headers: signed.headers, body: null });
}

describe("connections the gateway does not serve", () => {
  let feed: ControlPlane;
  const redis = new Redis(REDIS_URL);

  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
  });
  after(async () => {
    await feed.close();
    redis.disconnect();
  });

  test("an unknown connection → 404 CONNECTION_NOT_FOUND, no feed call, no refresh afterwards", async () => {
    const verifier = await startVerifier(feed.url, {
      ...ONLY_CRM,
      GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: "1",
    });
    try {
      const response = await signedCheck(verifier.port, "no-such-api");
      assert.equal(response.status, 404);
      assert.equal(envelopeCode(response), "CONNECTION_NOT_FOUND");
      assert.match(response.body, /no-such-api/);
      await sleep(2500);
      assert.deepEqual(
        feed.feedRequests.filter((r) => r.service === "no-such-api"),
        [],
        "the claims feed is never asked about it",
      );
      // A served connection still goes through the claims stage.
      const crm = await signedCheck(verifier.port, "crm");
      assert.equal(crm.status, 403);
      assert.match(crm.body, /AUTH_CLAIM_REQUIRED/);
    } finally {
      await verifier.stop();
    }
  });

  test("a connection that exists in the store but has no service API key is still AUTH_CLAIMS_LOOKUP_FAILED", async () => {
    const prefix = randomPrefix();
    await redis.hset(createRedisKeys(prefix).connection("keyless"), "meta", "{}");
    const verifier = await startVerifier(feed.url, ONLY_CRM, { prefix });
    try {
      const response = await signedCheck(verifier.port, "keyless");
      assert.equal(response.status, 403);
      assert.equal(envelopeCode(response), "AUTH_CLAIMS_LOOKUP_FAILED");
    } finally {
      await verifier.stop();
    }
  });

  test("a claims copy in Redis for a service without a key does not keep /health/ready at 503", async () => {
    const prefix = randomPrefix();
    const copy = JSON.stringify({ v: 1, fetched_at: Date.now() - 120_000, approvals: [] });
    await redis.set(createRedisKeys(prefix).claims("ghost-svc"), copy, "EX", 20);
    const verifier = await startVerifier(
      feed.url,
      { ...ONLY_CRM, VERIFIER_CLAIMS_COLD_START: "false" },
      { prefix },
    );
    try {
      const ready = async () =>
        (await rawCheck(verifier.port, "GET", "/health/ready", [["host", "x"]])).status;
      assert.ok(await waitFor(async () => (await ready()) === 200, 5000, 100), "ready despite ghost-svc");
    } finally {
      await verifier.stop();
      await deletePrefix(prefix);
    }
  });
});

describe("a claim submission the control plane refuses", () => {
  test("the agent's 403 shows the refusal (status and code) and later requests keep showing it", async () => {
    const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    feed.claimRejection = { status: 403, code: "SIGNATURE_NAMESPACE_MISMATCH" };
    const verifier = await startVerifier(feed.url, { VERIFIER_CLAIMS_WAIT_MS: "2000" });
    try {
      const first = await signedCheck(verifier.port, "crm");
      assert.equal(first.status, 403);
      assert.match(
        first.body,
        /Claim submit result: `failed` \(control plane answered HTTP 403 `SIGNATURE_NAMESPACE_MISMATCH`\)/,
      );
      const submitted = feed.submissions.length;
      const again = await signedCheck(verifier.port, "crm");
      assert.match(again.body, /`failed`.*SIGNATURE_NAMESPACE_MISMATCH/);
      assert.equal(
        feed.submissions.length,
        submitted,
        "a refused submission is not retried at every request",
      );
    } finally {
      await verifier.stop();
      await feed.close();
    }
  });

  test("the refusal reaches the replica that queued it when another replica's worker posted it", async () => {
    const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    feed.claimRejection = { status: 403, code: "SIGNATURE_NAMESPACE_MISMATCH" };
    const prefix = randomPrefix();
    const env = { VERIFIER_CLAIMS_WAIT_MS: "5000" };
    const queuing = await startVerifier(feed.url, env, { prefix, runWorker: false });
    const posting = await startVerifier(feed.url, env, { prefix });
    try {
      const first = await signedCheck(queuing.port, "crm");
      assert.equal(first.status, 403);
      assert.match(first.body, /`failed` \(control plane answered HTTP 403 `SIGNATURE_NAMESPACE_MISMATCH`\)/);
      assert.equal(feed.submissions.length, 1);
    } finally {
      await queuing.stop();
      await posting.stop();
      await feed.close();
    }
  });
});

describe("a claim submission the control plane records", () => {
  test("the request waits for the recording, not for its whole bound", async () => {
    const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    const verifier = await startVerifier(feed.url, { VERIFIER_CLAIMS_WAIT_MS: "20000" });
    try {
      const started = Date.now();
      const response = await signedCheck(verifier.port, "crm");
      assert.equal(response.status, 403);
      assert.match(response.body, /Claim submit result: `queued`/);
      assert.equal(feed.submissions.length, 1, "answered after the control plane recorded it");
      assert.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`);
    } finally {
      await verifier.stop();
      await feed.close();
    }
  });
});
