import assert from "node:assert/strict";
import { once } from "node:events";
import { after, afterEach, before, describe, test } from "node:test";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { createRedisKeys, encodeEvent } from "@sigilum-gw/shared/redis-keys";
import { withTimeout } from "@sigilum-gw/shared/timeout";
import { ManualClock } from "@sigilum-gw/testkit/clock";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { CLAIM_QUEUE } from "../src/claims/submissions.ts";
import { type CheckResponse, envelopeCode, envoyCheck } from "./helpers/envoy-check.ts";
import {
  REDIS_URL,
  type RunningVerifier,
  SERVICE_API_KEY,
  startVerifier,
  waitFor,
} from "./helpers/harness.ts";

/**
 * Approved claims against a real HTTP feed on loopback and real Redis. Time windows run on a manual clock given
 * to the verifiers' claims cache: each step moves it and waits for the refreshes it set off, so the windows are
 * exact on any machine.
 */

function check(v: RunningVerifier, agent: SigilumIdentity, service: string): Promise<CheckResponse> {
  const signed = signRequest(agent, {
    url: `http://127.0.0.1:38100/proxy/${service}/v1/items`,
    method: "GET",
  });
  return envoyCheck(v.port, { method: signed.method, url: signed.url, headers: signed.headers, body: null });
}

/** Resolves with `promise`, or fails the test when it has not settled within `ms` of real time. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const outcome = await withTimeout(promise, ms);
  if (outcome.settled === "timeout") throw new Error(`${what}: not within ${ms} ms`);
  if (outcome.settled === "rejected") throw outcome.error;
  return outcome.value;
}

describe("claims", () => {
  let feed: ControlPlane;
  let verifier: RunningVerifier | undefined;
  let clock = new ManualClock();
  const agent = createIdentity("claims-agent");

  /** Moves the claims clock by `ms` and waits until the refreshes that set off have finished on each verifier. */
  async function advance(ms: number, ...verifiers: RunningVerifier[]): Promise<void> {
    clock.advance(ms);
    for (const v of verifiers) await within(v.service.claims.settled(), 10_000, "claims refresh");
  }

  /** A verifier with `env` on the test clock; the agent approved for crm, its first check allowed. */
  async function startAllowed(env: Record<string, string>): Promise<RunningVerifier> {
    feed.approve("crm", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url, env, { clock });
    assert.equal((await check(verifier, agent, "crm")).status, 200);
    return verifier;
  }

  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
  });
  afterEach(async () => {
    clock = new ManualClock();
    await verifier?.stop();
    verifier = undefined;
    feed.mode = "ok";
    feed.delayMs = 0;
    feed.approvals.clear();
    feed.feedRequests.length = 0;
    feed.submissions.length = 0;
  });
  after(async () => {
    await feed.close();
  });

  test("approved → allow; the feed is asked once while the snapshot is fresh, with key and signature", async () => {
    feed.approve("crm", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url);
    for (let i = 0; i < 5; i++) assert.equal((await check(verifier, agent, "crm")).status, 200);
    assert.equal(feed.feedRequests.filter((r) => r.service === "crm").length, 1);
    assert.deepEqual(
      feed.rejected,
      [],
      "every feed call carried the service key and a valid gateway signature",
    );
  });

  test("all pages of the feed are read", async () => {
    feed.maxPage = 2;
    for (let i = 0; i < 5; i++) feed.approve("paged", `ns-${i}`, `ed25519:key-${i}`);
    feed.approve("paged", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url);
    assert.equal((await check(verifier, agent, "paged")).status, 200);
    assert.deepEqual(
      feed.feedRequests.filter((r) => r.service === "paged").map((r) => r.offset),
      [0, 2, 4],
    );
    feed.maxPage = 500;
  });

  test("not approved → AUTH_CLAIM_REQUIRED Markdown; a burst of 100 submits once and the rate limit holds", async () => {
    verifier = await startVerifier(feed.url, { GATEWAY_CLAIM_REGISTRATION_RATE_LIMIT_PER_MINUTE: "5" });
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => check(verifier!, agent, "billing")),
    );
    const required = responses.filter((r) => r.status === 403);
    const limited = responses.filter((r) => r.status === 429);
    const seen = JSON.stringify(
      responses.map((r) => `${r.status} ${r.headers["x-sigilum-code"] ?? r.body.slice(0, 80)}`),
    );
    assert.equal(required.length, 5, seen);
    assert.equal(limited.length, 95, seen);
    assert.ok(
      responses.every((r) => r.headers["x-sigilum-authz"] === undefined),
      "never an allow",
    );
    const markdown = required[0]!;
    assert.match(String(markdown.headers["content-type"]), /text\/markdown/);
    assert.equal(markdown.headers["x-sigilum-code"], "AUTH_CLAIM_REQUIRED");
    assert.match(markdown.body, /SECURE ACCESS BLOCKED/);
    assert.match(markdown.body, /Service: billing/);
    assert.equal(envelopeCode(limited[0]!), "AUTH_CLAIM_SUBMIT_RATE_LIMITED");
    assert.ok(Number(limited[0]!.headers["retry-after"]) > 0);

    if (feed.submissions.length === 0)
      await once(feed.events, "submission", { signal: AbortSignal.timeout(5000) });
    assert.ok(feed.submissions.length >= 1, "the worker posts the claim");
    // Observed, not waited for: the queue holds nothing else that could still post (one job, completed).
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(CLAIM_QUEUE, {
      connection,
      prefix: createRedisKeys(verifier.prefix).bullmqPrefix(),
    });
    try {
      assert.ok(
        await waitFor(async () => (await queue.getCompletedCount()) === 1, 5000),
        "the job completes",
      );
      const counts = await queue.getJobCounts(
        "waiting",
        "delayed",
        "active",
        "prioritized",
        "completed",
        "failed",
      );
      assert.deepEqual(counts, {
        waiting: 0,
        delayed: 0,
        active: 0,
        prioritized: 0,
        completed: 1,
        failed: 0,
      });
    } finally {
      await queue.close();
      connection.disconnect();
    }
    assert.equal(feed.submissions.length, 1, "deduplicated: one submission reaches the control plane");
    const submission = feed.submissions[0]!;
    assert.equal(submission.headers["authorization"], `Bearer ${SERVICE_API_KEY}`);
    assert.equal(submission.headers["x-sigilum-claim-binding"], "namespace-only");
    assert.equal(submission.body["namespace"], agent.namespace);
    assert.equal(submission.body["public_key"], agent.publicKey);
    assert.equal(submission.body["service"], "billing");
    assert.equal(submission.body["subject"], agent.namespace);
    assert.equal(submission.body["agent_ip"], "203.0.113.7");
    assert.match(String(submission.body["nonce"]), /^[0-9a-f-]{36}$/);
  });

  test("revoked in the feed → denied within one refresh interval", async () => {
    verifier = await startAllowed({
      GATEWAY_CLAIMS_CACHE_TTL_SECONDS: "5",
      GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: "1",
    });
    feed.revoke("crm", agent.namespace, agent.publicKey);
    const revokedAt = clock.now();
    let deniedAt = 0;
    while (clock.now() - revokedAt < 3000) {
      const response = await check(verifier, agent, "crm");
      if (response.status !== 200) {
        assert.equal(response.headers["x-sigilum-code"], "AUTH_CLAIM_REQUIRED");
        deniedAt = clock.now();
        break;
      }
      await advance(50, verifier);
    }
    assert.ok(deniedAt > 0, "revocation took effect");
    assert.ok(
      deniedAt - revokedAt <= 1500,
      `denied after ${deniedAt - revokedAt} ms (refresh interval 1000 ms)`,
    );
  });

  test("two replicas: revocation within one interval on both, one feed fetch per interval between them", async () => {
    feed.approve("crm", agent.namespace, agent.publicKey);
    const env = { GATEWAY_CLAIMS_CACHE_TTL_SECONDS: "5", GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: "1" };
    verifier = await startVerifier(feed.url, env, { clock });
    const second = await startVerifier(feed.url, env, { prefix: verifier.prefix, clock });
    try {
      assert.equal((await check(verifier, agent, "crm")).status, 200);
      assert.equal((await check(second, agent, "crm")).status, 200);
      const fetchesBefore = feed.feedRequests.length;
      for (let step = 0; step < 30; step++) await advance(100, verifier, second);
      const rounds = feed.feedRequests.length - fetchesBefore;
      assert.ok(
        rounds >= 2 && rounds <= 4,
        `${rounds} feed fetches in 3 s for two replicas (aligned ticks + lock)`,
      );
      feed.revoke("crm", agent.namespace, agent.publicKey);
      const revokedAt = clock.now();
      let a = Number.POSITIVE_INFINITY;
      let b = Number.POSITIVE_INFINITY;
      while (
        clock.now() - revokedAt < 3000 &&
        (a === Number.POSITIVE_INFINITY || b === Number.POSITIVE_INFINITY)
      ) {
        if (a === Number.POSITIVE_INFINITY && (await check(verifier, agent, "crm")).status !== 200)
          a = clock.now() - revokedAt;
        if (b === Number.POSITIVE_INFINITY && (await check(second, agent, "crm")).status !== 200)
          b = clock.now() - revokedAt;
        await advance(50, verifier, second);
      }
      assert.ok(a <= 1500 && b <= 1500, `denied after ${a} ms and ${b} ms (refresh interval 1000 ms)`);
    } finally {
      await second.service.stop();
    }
  });

  test("a claims.changed event revokes at once", async () => {
    feed.approve("crm", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url, { GATEWAY_CLAIMS_CACHE_TTL_SECONDS: "60" });
    assert.equal((await check(verifier, agent, "crm")).status, 200);
    feed.revoke("crm", agent.namespace, agent.publicKey);
    assert.equal((await check(verifier, agent, "crm")).status, 200, "still cached without the event");
    const invalidated = once(verifier.service.claims.events, "invalidated", {
      signal: AbortSignal.timeout(5000),
    });
    const publisher = new Redis(REDIS_URL);
    await publisher.publish(
      createRedisKeys(verifier.prefix).events,
      encodeEvent({ type: "claims.changed", service: "crm" }),
    );
    publisher.disconnect();
    assert.deepEqual(await invalidated, ["crm"]);
    assert.equal((await check(verifier, agent, "crm")).status, 403, "denied right after the event");
  });

  test("feed down: the last good set answers until its TTL, then AUTH_CLAIMS_UNAVAILABLE (503), never an allow", async () => {
    verifier = await startAllowed({
      GATEWAY_CLAIMS_CACHE_TTL_SECONDS: "2",
      GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: "1",
    });
    feed.mode = "destroy";
    const downAt = clock.now();
    await advance(300, verifier);
    assert.equal((await check(verifier, agent, "crm")).status, 200, "last good set still answers");
    // The last good fetch happened before downAt, so nothing may be allowed once downAt + TTL has passed.
    while (clock.now() < downAt + 2000) await advance(50, verifier);
    for (let i = 0; i < 5; i++) {
      const response = await check(verifier, agent, "crm");
      assert.equal(response.status, 503);
      assert.equal(envelopeCode(response), "AUTH_CLAIMS_UNAVAILABLE");
      await advance(100, verifier);
    }
    feed.mode = "ok";
    let recovered = false;
    for (const startedAt = clock.now(); !recovered && clock.now() - startedAt <= 3000; ) {
      recovered = (await check(verifier, agent, "crm")).status === 200;
      if (!recovered) await advance(100, verifier);
    }
    assert.ok(recovered, "recovers");
  });

  test("feed down with GATEWAY_CLAIMS_STALE_IF_ERROR_SECONDS: stale set until TTL + window, then 503", async () => {
    verifier = await startAllowed({
      GATEWAY_CLAIMS_CACHE_TTL_SECONDS: "2",
      GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: "1",
      GATEWAY_CLAIMS_STALE_IF_ERROR_SECONDS: "2",
    });
    feed.mode = "error503";
    const downAt = clock.now();
    // Last good fetch ≥ downAt − refresh: allowed at least until downAt − 1 + 2 + 2 s.
    while (clock.now() < downAt + 2500) await advance(50, verifier);
    assert.equal((await check(verifier, agent, "crm")).status, 200, "inside the stale window");
    while (clock.now() < downAt + 4100) await advance(50, verifier);
    const response = await check(verifier, agent, "crm");
    assert.equal(response.status, 503);
    assert.equal(envelopeCode(response), "AUTH_CLAIMS_UNAVAILABLE");
  });

  test("a slow feed never holds a check past VERIFIER_CLAIMS_WAIT_MS; its answer serves the next checks", async () => {
    feed.approve("crm", agent.namespace, agent.publicKey);
    feed.delayMs = 600;
    // Started one millisecond past a whole minute: the refresher's first timer is then never the 100 ms budget.
    clock = new ManualClock(Math.ceil(Date.now() / 60_000) * 60_000 + 1);
    verifier = await startVerifier(feed.url, { VERIFIER_CLAIMS_WAIT_MS: "100" }, { clock });
    const started = clock.now();
    const answer = check(verifier, agent, "crm");
    await within(clock.timerSet(100), 5000, "the check waits on the feed under its budget");
    clock.advance(100);
    const first = await answer;
    assert.ok(clock.now() - started < 400, `answered after ${clock.now() - started} ms`);
    assert.equal(first.status, 503);
    assert.equal(envelopeCode(first), "AUTH_CLAIMS_UNAVAILABLE");
    await within(verifier.service.claims.settled(), 5000, "the slow refresh");
    assert.equal((await check(verifier, agent, "crm")).status, 200);
    assert.equal(feed.feedRequests.filter((r) => r.service === "crm").length, 1, "one refresh served both");
  });

  test("a refused service API key is AUTH_CLAIMS_LOOKUP_FAILED", async () => {
    feed.approve("crm", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url, { SIGILUM_SERVICE_API_KEY: "wrong-key" });
    const response = await check(verifier, agent, "crm");
    assert.equal(response.status, 403);
    assert.equal(envelopeCode(response), "AUTH_CLAIMS_LOOKUP_FAILED");
  });

  test("a per-connection key override is used for that connection", async () => {
    feed.approve("crm", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url, {
      SIGILUM_SERVICE_API_KEY: "wrong-key",
      SIGILUM_SERVICE_API_KEY_CRM: SERVICE_API_KEY,
    });
    assert.equal((await check(verifier, agent, "crm")).status, 200);
  });

  test("replicas share the snapshot through Redis: a second verifier does not hit the feed again", async () => {
    feed.approve("crm", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url, { GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: "10" });
    const second = await startVerifier(
      feed.url,
      { GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: "10" },
      { prefix: verifier.prefix },
    );
    try {
      assert.equal((await check(verifier, agent, "crm")).status, 200);
      assert.equal((await check(second, agent, "crm")).status, 200);
      assert.equal(feed.feedRequests.filter((r) => r.service === "crm").length, 1);
    } finally {
      await second.service.stop();
    }
  });
});
