import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { claimBody, makeIdentity, signedFetch, usageEventBody } from "./agents.ts";
import { type Json, rand, setupService, useTestControlPlane } from "./helpers.ts";

describe("usage events and the namespace usage summary (PostgreSQL)", () => {
  const t = useTestControlPlane({ freshDatabase: true, redis: true });
  let ns: string;
  let slug: string;
  let token: string;
  let apiKey: string;
  let gateway: SigilumIdentity;
  let agentA: SigilumIdentity;
  let agentB: SigilumIdentity;

  const event = (agent: SigilumIdentity, extra: Record<string, unknown> = {}) =>
    usageEventBody({ namespace: ns, service: slug }, agent, extra);
  const post = (body: unknown, signer = gateway, key = apiKey) =>
    signedFetch(signer, `${t.url}/v1/usage/events`, { body, headers: { authorization: `Bearer ${key}` } });

  before(async () => {
    ns = `usage-${rand(3)}`;
    slug = `svc-${rand(3)}`;
    ({ token, apiKey } = await setupService(t, ns, slug));
    // The gateway signs with its own identity, in another namespace than its agents.
    gateway = await makeIdentity(`gateway-${rand(3)}`);
    agentA = await makeIdentity(ns);
    agentB = await makeIdentity(ns);
    for (const agent of [agentA, agentB]) {
      const sub = await signedFetch(agent, `${t.url}/v1/claims`, {
        body: claimBody(agent, slug),
        headers: { authorization: `Bearer ${apiKey}` },
      });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      assert.equal((await t.owner(token, "POST", `/v1/claims/${sub.body.claim_id}/approve`)).status, 200);
    }
  });

  test("a gateway signing with its own identity reports events; duplicates are 200", async () => {
    const e = event(agentA, {
      request_method: "post",
      request_path: "/v1/ping",
      status_code: 200,
      agent_id: "main",
    });
    const first = await post(e);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.deepEqual(first.body, { event_id: e.event_id, accepted: true, duplicate: false });
    const dup = await post(e);
    assert.equal(dup.status, 200);
    assert.equal(dup.body.duplicate, true);
    const { rows } = await t.cp.deps.db.query("SELECT request_method FROM usage_events WHERE event_id = $1", [
      e.event_id,
    ]);
    assert.equal(rows[0]!.request_method, "POST");
  });

  test("another owner's key with the same slug cannot report for this service's agents", async () => {
    const other = await setupService(t, `other-${rand(3)}`, slug);
    const res = await post(event(agentA), gateway, other.apiKey);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, "FORBIDDEN");
  });

  test("summary groups by subject/provider/key/agent with filters and sorting", async () => {
    await post(event(agentA, { outcome: "error", status_code: 502 }));
    await post(event(agentA, { subject: "customer-2" }));
    await post(event(agentB, { subject: "Customer-2", protocol: "mcp", action: "mcp_call:search" }));
    await post(event(agentB, { subject: "Customer-2" }));

    const all = await t.owner(token, "GET", `/v1/namespaces/${ns}/usage`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.summary, {
      total_events: 5,
      successful_events: 4,
      failed_events: 1,
      unique_subjects: 3,
      unique_providers: 1,
      unique_agents: 3,
    });
    assert.equal(all.body.pagination.total, all.body.rows.length);
    assert.deepEqual(all.body.applied_filters, {
      subject: null,
      provider: null,
      agent: null,
      from: null,
      to: null,
      sort: "recent",
    });

    const busiest = await t.owner(token, "GET", `/v1/namespaces/${ns}/usage?sort=calls_desc&limit=1`);
    assert.equal(busiest.body.rows.length, 1);
    assert.equal(busiest.body.rows[0].total_calls, 2);
    assert.equal(busiest.body.pagination.has_more, true);

    // Subject filter: case-insensitive substring; a LIKE wildcard is matched literally.
    const bySubject = await t.owner(token, "GET", `/v1/namespaces/${ns}/usage?subject=CUSTOMER-2`);
    assert.equal(bySubject.body.summary.total_events, 3);
    const wildcard = await t.owner(token, "GET", `/v1/namespaces/${ns}/usage?subject=%25`);
    assert.equal(wildcard.body.summary.total_events, 0);
    const byAgent = await t.owner(
      token,
      "GET",
      `/v1/namespaces/${ns}/usage?agent=${encodeURIComponent(agentB.publicKey.slice(8, 20))}`,
    );
    assert.equal(byAgent.body.summary.total_events, 2);
    const byProvider = await t.owner(token, "GET", `/v1/namespaces/${ns}/usage?provider=nope`);
    assert.equal(byProvider.body.summary.total_events, 0);
    const future = await t.owner(token, "GET", `/v1/namespaces/${ns}/usage?from=2999-01-01T00:00:00Z`);
    assert.equal(future.body.summary.total_events, 0);
    assert.equal(future.body.applied_filters.from, "2999-01-01T00:00:00.000Z");
    const window = await t.owner(
      token,
      "GET",
      `/v1/namespaces/${ns}/usage?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00%2B02:00&sort=subject_asc`,
    );
    assert.equal(window.body.summary.total_events, 5);
    assert.deepEqual(
      window.body.rows.map((r: { subject: string }) => r.subject),
      [...window.body.rows.map((r: { subject: string }) => r.subject)].sort(),
    );
  });

  test("public DID documents list the namespace's approved keys and services", async () => {
    const res = await fetch(`${t.url}/.well-known/did/did:sigilum:${ns}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /application\/did\+ld\+json/);
    const doc = (await res.json()) as Json;
    assert.equal(doc.id, `did:sigilum:${ns}`);
    assert.equal(doc.controller, doc.id);
    assert.equal(doc.verificationMethod.length, 2);
    assert.deepEqual(doc.authentication, [`${doc.id}#key-1`, `${doc.id}#key-2`]);
    assert.deepEqual(doc.assertionMethod, doc.authentication);
    assert.match(doc.verificationMethod[0].publicKeyMultibase, /^z[1-9A-HJ-NP-Za-km-z]+$/);
    assert.equal(doc.service.length, 1);
    assert.equal(doc.service[0].serviceEndpoint, `${t.url}/v1/verify?namespace=${ns}&service=${slug}`);

    const envelope = await fetch(`${t.url}/1.0/identifiers/did:sigilum:${ns}`);
    assert.equal(envelope.status, 200);
    const body = (await envelope.json()) as Json;
    assert.equal(body.didDocumentMetadata.deactivated, false);
    assert.equal(body.didResolutionMetadata.contentType, "application/did+ld+json");
    const invalid = await fetch(`${t.url}/1.0/identifiers/not-a-did`);
    assert.equal(invalid.status, 400);
    const invalidBody = (await invalid.json()) as Json;
    assert.equal(invalidBody.didDocument, null);
    assert.equal(invalidBody.didResolutionMetadata.error, "invalidDid");
    assert.equal((await fetch(`${t.url}/1.0/identifiers/did:sigilum:nobody-here`)).status, 404);
    const bad = await fetch(`${t.url}/.well-known/did/did:sigilum:a_b`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as Json).code, "VALIDATION_ERROR");

    // The verify endpoint the document points at, called by a signer of that namespace.
    const verify = await signedFetch(
      agentA,
      `${t.url}/v1/verify?namespace=${ns}&public_key=${encodeURIComponent(agentA.publicKey)}&service=${slug}`,
    );
    assert.equal(verify.body.authorized, true);
    assert.match(verify.body.claim_id, /^cl_/);
  });
});
