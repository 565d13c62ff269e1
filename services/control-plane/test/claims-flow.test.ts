import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { eventsChannel, parseEvent } from "@sigilum-gw/shared/redis-keys";
import { claimBody, makeIdentity, signedFetch, submitClaim } from "./agents.ts";
import {
  rand,
  setupService,
  startTestControlPlane,
  subscribe,
  useTestControlPlane,
  waitFor,
} from "./helpers.ts";

describe("claims lifecycle on PostgreSQL + Redis", () => {
  const t = useTestControlPlane({ freshDatabase: true, redis: true });

  test("submit → pending → approve → in feed → revoke → gone, with claims.changed published", async () => {
    const ns = `alice-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { token, apiKey } = await setupService(t, ns, slug);
    const gateway = await makeIdentity(ns);
    const agent = await makeIdentity(ns);
    const events = await subscribe(eventsChannel(t.prefix));
    try {
      const submit = await submitClaim(t.url, gateway, agent, slug, apiKey, {
        subject: "customer-1",
        agent_id: "main",
      });
      assert.equal(submit.status, 201, JSON.stringify(submit.body));
      assert.equal(submit.body.status, "pending");
      assert.equal(submit.body.service, slug);
      assert.match(submit.body.claim_id, /^cl_[0-9a-f]{24}$/);
      const claimId = submit.body.claim_id;

      // Idempotent: the same key again → 200 with the same claim.
      const again = await submitClaim(t.url, gateway, agent, slug, apiKey);
      assert.equal(again.status, 200);
      assert.deepEqual([again.body.claim_id, again.body.status], [claimId, "pending"]);

      const list = await t.owner(token, "GET", `/v1/namespaces/${ns}/claims?status=pending`);
      assert.equal(list.status, 200);
      assert.equal(list.body.claims.length, 1);
      assert.equal(list.body.claims[0].subject, "customer-1");
      assert.deepEqual(list.body.pagination, { limit: 50, offset: 0, total: 1, has_more: false });

      const feedUrl = `${t.url}/v1/namespaces/claims?limit=500&offset=0&service=${slug}`;
      const feedAuth = { authorization: `Bearer ${apiKey}` };
      const before = await signedFetch(gateway, feedUrl, { headers: feedAuth });
      assert.equal(before.status, 200);
      assert.equal(before.body.claims.length, 0);

      const approve = await t.owner(token, "POST", `/v1/claims/${claimId}/approve`);
      assert.equal(approve.status, 200, JSON.stringify(approve.body));
      assert.equal(approve.body.status, "approved");
      assert.equal(approve.body.agents_approved, 1);
      const approvedEvent = await waitFor(() => events.messages[0]);
      assert.deepEqual(
        { ...parseEvent(approvedEvent), at: undefined },
        { type: "claims.changed", service: slug, source: "control-plane", at: undefined },
      );

      const feed = await signedFetch(gateway, feedUrl, { headers: feedAuth });
      assert.equal(feed.status, 200);
      assert.deepEqual(Object.keys(feed.body.claims[0]).sort(), [
        "agent_id",
        "agent_name",
        "approved_at",
        "claim_id",
        "namespace",
        "public_key",
        "service",
        "subject",
      ]);
      assert.equal(feed.body.claims[0].claim_id, claimId);
      assert.equal(feed.body.claims[0].namespace, ns);
      assert.equal(feed.body.claims[0].public_key, agent.publicKey);
      assert.equal(feed.body.claims[0].agent_id, "main");
      assert.deepEqual(feed.body.pagination, { limit: 500, offset: 0, total: 1, has_more: false });

      // Already approved → 200 approved, nothing new.
      const resubmit = await submitClaim(t.url, gateway, agent, slug, apiKey);
      assert.deepEqual([resubmit.status, resubmit.body.status], [200, "approved"]);

      const revoke = await t.owner(token, "POST", `/v1/claims/${claimId}/revoke`);
      assert.equal(revoke.status, 200);
      assert.equal(revoke.body.status, "revoked");
      await waitFor(() => events.messages[1]);
      assert.equal(parseEvent(events.messages[1]!)?.type, "claims.changed");

      const gone = await signedFetch(gateway, feedUrl, { headers: feedAuth });
      assert.equal(gone.status, 200);
      assert.equal(gone.body.claims.length, 0);
      assert.equal(gone.body.pagination.total, 0);

      // Revoking twice is a 404 (not approved any more); the claim detail shows revoked.
      assert.equal((await t.owner(token, "POST", `/v1/claims/${claimId}/revoke`)).status, 404);
      const detail = await t.owner(token, "GET", `/v1/claims/${claimId}`);
      assert.equal(detail.body.status, "revoked");
      assert.ok(detail.body.revoked_at);

      // A revoked key asks again: new claim id, pending.
      const reRequest = await submitClaim(t.url, gateway, agent, slug, apiKey);
      assert.equal(reRequest.status, 201);
      assert.equal(reRequest.body.status, "pending");
      assert.notEqual(reRequest.body.claim_id, claimId);

      // The revoked claim stays in the owner's history, by status and in full.
      const revokedList = await t.owner(token, "GET", `/v1/namespaces/${ns}/claims?status=revoked`);
      assert.deepEqual(
        revokedList.body.claims.map((c: { claim_id: string }) => c.claim_id),
        [claimId],
      );
      const all = await t.owner(token, "GET", `/v1/namespaces/${ns}/claims`);
      assert.deepEqual(
        all.body.claims.map((c: { claim_id: string; status: string }) => [c.claim_id, c.status]).sort(),
        [
          [claimId, "revoked"],
          [reRequest.body.claim_id, "pending"],
        ].sort(),
      );
      assert.equal((await t.owner(token, "GET", `/v1/claims/${claimId}`)).body.status, "revoked");

      // Reject publishes too.
      const reject = await t.owner(token, "POST", `/v1/claims/${reRequest.body.claim_id}/reject`);
      assert.deepEqual(reject.body, { claim_id: reRequest.body.claim_id, status: "rejected" });
      await waitFor(() => events.messages[2]);
    } finally {
      await events.close();
    }
  });

  test("public_key bound to the signer unless X-Sigilum-Claim-Binding: namespace-only", async () => {
    const ns = `bind-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { apiKey } = await setupService(t, ns, slug);
    const gateway = await makeIdentity(ns);
    const agent = await makeIdentity(ns);
    const auth = { authorization: `Bearer ${apiKey}` };
    const bound = await signedFetch(gateway, `${t.url}/v1/claims`, {
      body: claimBody(agent, slug),
      headers: auth,
    });
    assert.equal(bound.status, 403);
    assert.equal(bound.body.code, "SIGNATURE_KEY_MISMATCH");
    // The agent submitting for its own key passes the binding.
    const own = await signedFetch(agent, `${t.url}/v1/claims`, {
      body: claimBody(agent, slug),
      headers: auth,
    });
    assert.equal(own.status, 201);
    // The namespace is always bound.
    const other = await makeIdentity(`other-${rand(3)}`);
    const wrongNs = await signedFetch(other, `${t.url}/v1/claims`, {
      body: claimBody(agent, slug),
      headers: { ...auth, "x-sigilum-claim-binding": "Namespace-Only " },
    });
    assert.equal(wrongNs.status, 403);
    assert.equal(wrongNs.body.code, "SIGNATURE_NAMESPACE_MISMATCH");
  });

  test("replayed signed request → 409 SIGNATURE_NONCE_REPLAY; reused claim nonce → 409 NONCE_REPLAY", async () => {
    const ns = `replay-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { apiKey } = await setupService(t, ns, slug);
    const gateway = await makeIdentity(ns);
    const agent = await makeIdentity(ns);
    const headers = { authorization: `Bearer ${apiKey}`, "x-sigilum-claim-binding": "namespace-only" };
    const body = claimBody(agent, slug);
    const nonce = crypto.randomUUID();
    const first = await signedFetch(gateway, `${t.url}/v1/claims`, { body, headers, nonce });
    assert.equal(first.status, 201);
    const replay = await signedFetch(gateway, `${t.url}/v1/claims`, { body, headers, nonce });
    assert.equal(replay.status, 409);
    assert.equal(replay.body.code, "SIGNATURE_NONCE_REPLAY");
    // Fresh signature, same claim nonce in the body.
    const claimReplay = await signedFetch(gateway, `${t.url}/v1/claims`, { body, headers });
    assert.equal(claimReplay.status, 409);
    assert.equal(claimReplay.body.code, "NONCE_REPLAY");
    // The nonces live in Redis under this test's prefix.
    const keys = await t.cp.redis!.keys(`${t.prefix}nonce:*`);
    assert.ok(keys.some((k) => k.includes(`{sig:${ns}}`)));
    assert.ok(keys.some((k) => k.includes("{claim:")));
    // A replayed feed request is refused as well; a request with a bad key never consumed its nonce.
    const feedNonce = crypto.randomUUID();
    const feedUrl = `${t.url}/v1/namespaces/claims?service=${slug}`;
    const badKey = { authorization: "Bearer sk_live_nope" };
    assert.equal((await signedFetch(gateway, feedUrl, { headers: badKey, nonce: feedNonce })).status, 401);
    assert.equal((await signedFetch(gateway, feedUrl, { headers, nonce: feedNonce })).status, 200);
    assert.equal((await signedFetch(gateway, feedUrl, { headers, nonce: feedNonce })).status, 409);
  });

  test("two owners with the same slug never see each other's claims", async () => {
    const slug = `shared-${rand(3)}`;
    const nsA = `owner-a-${rand(3)}`;
    const nsB = `owner-b-${rand(3)}`;
    const a = await setupService(t, nsA, slug);
    const b = await setupService(t, nsB, slug);
    const gwA = await makeIdentity(nsA);
    const gwB = await makeIdentity(nsB);
    const agentA = await makeIdentity(nsA);
    const sub = await submitClaim(t.url, gwA, agentA, slug, a.apiKey);
    assert.equal(sub.status, 201);
    assert.equal((await t.owner(a.token, "POST", `/v1/claims/${sub.body.claim_id}/approve`)).status, 200);

    const feedUrl = `${t.url}/v1/namespaces/claims?service=${slug}`;
    const feedA = await signedFetch(gwA, feedUrl, { headers: { authorization: `Bearer ${a.apiKey}` } });
    assert.equal(feedA.body.claims.length, 1);
    // Owner B's key for the same slug: an empty feed, whoever signs.
    for (const signer of [gwB, gwA]) {
      const feedB = await signedFetch(signer, feedUrl, { headers: { authorization: `Bearer ${b.apiKey}` } });
      assert.equal(feedB.status, 200);
      assert.deepEqual(feedB.body.claims, []);
      assert.equal(feedB.body.pagination.total, 0);
    }
    // B's key submitting the same agent creates B's own claim, not a view of A's approval.
    const viaB = await submitClaim(t.url, gwA, agentA, slug, b.apiKey);
    assert.equal(viaB.status, 201);
    assert.equal(viaB.body.status, "pending");
    assert.notEqual(viaB.body.claim_id, sub.body.claim_id);
    // A key for one service asking for another slug's feed → 403.
    const mismatch = await signedFetch(gwA, `${t.url}/v1/namespaces/claims?service=other-slug`, {
      headers: { authorization: `Bearer ${a.apiKey}` },
    });
    assert.equal(mismatch.status, 403);
  });

  test("another owner's token → 403 on every claim route and namespace view", async () => {
    const ns = `victim-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { apiKey, serviceId } = await setupService(t, ns, slug);
    const gateway = await makeIdentity(ns);
    const agent = await makeIdentity(ns);
    const sub = await submitClaim(t.url, gateway, agent, slug, apiKey);
    const claimId = sub.body.claim_id;
    const intruder = await t.token(`intruder-${rand(3)}`);
    assert.equal((await t.owner(intruder, "GET", `/v1/claims/${claimId}`)).status, 403);
    for (const action of ["approve", "reject", "revoke"]) {
      const res = await t.owner(intruder, "POST", `/v1/claims/${claimId}/${action}`);
      assert.equal(res.status, 403, action);
      assert.equal(res.body.code, "FORBIDDEN");
    }
    assert.equal((await t.owner(intruder, "GET", `/v1/namespaces/${ns}/claims`)).status, 403);
    assert.equal((await t.owner(intruder, "GET", `/v1/namespaces/${ns}/usage`)).status, 403);
    // Services are per owner: another owner's service is invisible (404), its keys untouchable.
    assert.equal((await t.owner(intruder, "GET", `/v1/services/${serviceId}`)).status, 404);
    assert.equal((await t.owner(intruder, "POST", `/v1/services/${serviceId}/keys`, {})).status, 404);
    assert.equal((await t.owner(intruder, "DELETE", `/v1/services/${serviceId}`)).status, 404);
    // The claim is still pending for its real owner.
    const owner = await t.token(ns);
    assert.equal((await t.owner(owner, "GET", `/v1/claims/${claimId}`)).body.status, "pending");
    // A forged token (wrong secret) is a 401.
    const { mintOwnerToken } = await import("@sigilum-gw/shared/owner-token");
    const forged = await mintOwnerToken({ namespace: ns, secret: "x".repeat(64) });
    const res = await t.owner(forged, "GET", `/v1/namespaces/${ns}/claims`);
    assert.equal(res.status, 401);
    assert.equal(res.body.code, "TOKEN_EXPIRED");
  });

  test("stale pending claims are expired by the sweep (unless the owner turned autoExpire off)", async () => {
    const ns = `sweep-${rand(3)}`;
    const keepNs = `keep-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const a = await setupService(t, ns, slug);
    const k = await setupService(t, keepNs, slug);
    assert.equal(
      (await t.owner(k.token, "PATCH", "/v1/auth/settings", { policy: { autoExpire: false } })).status,
      200,
    );
    const ids: string[] = [];
    for (const [owner, target] of [
      [a, ns],
      [k, keepNs],
    ] as const) {
      const gw = await makeIdentity(target);
      const agent = await makeIdentity(target);
      const sub = await submitClaim(t.url, gw, agent, slug, owner.apiKey);
      assert.equal(sub.status, 201);
      ids.push(sub.body.claim_id);
    }
    // Nothing is stale yet.
    await t.cp.sweeper.runOnce();
    assert.equal((await t.owner(a.token, "GET", `/v1/claims/${ids[0]}`)).body.status, "pending");
    await t.cp.deps.db.query(
      "UPDATE authorizations SET created_at = now() - interval '25 hours' WHERE claim_id = ANY($1)",
      [ids],
    );
    const swept = await t.cp.sweeper.runOnce();
    assert.ok(swept.expired >= 1);
    assert.equal((await t.owner(a.token, "GET", `/v1/claims/${ids[0]}`)).body.status, "expired");
    assert.equal((await t.owner(k.token, "GET", `/v1/claims/${ids[1]}`)).body.status, "pending");
    // An expired claim cannot be approved.
    assert.equal((await t.owner(a.token, "POST", `/v1/claims/${ids[0]}/approve`)).status, 404);
  });

  test("auto-approve by trusted service and by trusted IP range, publishing claims.changed", async () => {
    const ns = `auto-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { token, apiKey } = await setupService(t, ns, slug);
    const gw = await makeIdentity(ns);
    const headers = { authorization: `Bearer ${apiKey}`, "x-sigilum-claim-binding": "namespace-only" };
    const patch = await t.owner(token, "PATCH", "/v1/auth/settings", {
      policy: { autoApproveIP: true, trustedIPRanges: ["10.1.0.0/16", "2001:db8::/64"] },
    });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    const events = await subscribe(eventsChannel(t.prefix));
    try {
      const inRange = await signedFetch(gw, `${t.url}/v1/claims`, {
        body: claimBody(await makeIdentity(ns), slug, { agent_ip: "::ffff:10.1.2.3" }),
        headers,
      });
      assert.equal(inRange.status, 201);
      assert.equal(inRange.body.status, "approved");
      await waitFor(() => events.messages[0]);
      const outside = await signedFetch(gw, `${t.url}/v1/claims`, {
        body: claimBody(await makeIdentity(ns), slug, { agent_ip: "10.2.0.1" }),
        headers,
      });
      assert.equal(outside.body.status, "pending");
      await t.owner(token, "PATCH", "/v1/auth/settings", {
        policy: { autoApproveTrusted: true, trustedServices: [slug] },
      });
      const trusted = await signedFetch(gw, `${t.url}/v1/claims`, {
        body: claimBody(await makeIdentity(ns), slug, { agent_ip: "192.0.2.1" }),
        headers,
      });
      assert.equal(trusted.body.status, "approved");
    } finally {
      await events.close();
    }
  });

  test("limits: pending cap auto-rejects; agent cap blocks approval with 409", async () => {
    const ns = `limits-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const small = await startTestControlPlane({
      databaseUrl: t.databaseUrl,
      redis: true,
      env: { MAX_PENDING_AUTHORIZATIONS: "2", MAX_APPROVED_AGENTS_PER_SERVICE: "1" },
    });
    try {
      const { token, apiKey } = await setupService(small, ns, slug);
      const gw = await makeIdentity(ns);
      const headers = { authorization: `Bearer ${apiKey}`, "x-sigilum-claim-binding": "namespace-only" };
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await signedFetch(gw, `${small.url}/v1/claims`, {
          body: claimBody(await makeIdentity(ns), slug),
          headers,
        });
        assert.equal(r.body.status, "pending");
        ids.push(r.body.claim_id);
      }
      const third = await signedFetch(gw, `${small.url}/v1/claims`, {
        body: claimBody(await makeIdentity(ns), slug),
        headers,
      });
      assert.equal(third.status, 201);
      assert.equal(third.body.status, "rejected");
      assert.match(third.body.message, /maximum of 2 pending/);
      assert.equal((await small.owner(token, "POST", `/v1/claims/${ids[0]}/approve`)).status, 200);
      const second = await small.owner(token, "POST", `/v1/claims/${ids[1]}/approve`);
      assert.equal(second.status, 409);
      assert.equal(second.body.code, "AGENT_LIMIT_REACHED");
      assert.deepEqual(second.body.details, { agent_limit: 1, current: 1 });
    } finally {
      await small.stop();
    }
  });
});
