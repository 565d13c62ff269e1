import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { eventsChannel, parseEvent } from "@sigilum-gw/shared/redis-keys";
import { claimBody, makeIdentity, signedFetch } from "./agents.ts";
import { rand, setupService, subscribe, useTestControlPlane, waitFor } from "./helpers.ts";

describe("services, keys and accounts (PostgreSQL + Redis)", () => {
  const t = useTestControlPlane({ freshDatabase: true, redis: true });

  test("service CRUD, per-owner slugs and the service limit", async () => {
    const ns = `crud-${rand(3)}`;
    const token = await t.token(ns);
    const body = { name: " My API ", slug: "my-api", domain: "api.example.com", description: "d" };
    const created = await t.owner(token, "POST", "/v1/services", body);
    assert.equal(created.status, 201);
    assert.equal(created.body.name, "My API");
    assert.deepEqual(Object.keys(created.body).sort(), [
      "created_at",
      "description",
      "domain",
      "id",
      "name",
      "registration_tx_hash",
      "slug",
    ]);
    // Another owner may use the same slug.
    assert.equal(
      (await t.owner(await t.token(`crud2-${rand(3)}`), "POST", "/v1/services", body)).status,
      201,
    );

    const patched = await t.owner(token, "PATCH", `/v1/services/${created.body.id}`, {
      description: "",
      name: "N",
    });
    assert.deepEqual(patched.body, { success: true });
    const got = await t.owner(token, "GET", `/v1/services/${created.body.id}`);
    assert.equal(got.body.name, "N");
    assert.equal(got.body.description, null);
    assert.equal(got.body.owner_user_id, `user_local_${ns}`);

    for (let i = 0; i < 4; i++) {
      const r = await t.owner(token, "POST", "/v1/services", { ...body, slug: `more-${i}` });
      assert.equal(r.status, 201);
    }
    const sixth = await t.owner(token, "POST", "/v1/services", { ...body, slug: "sixth" });
    assert.equal(sixth.status, 403);
    assert.equal(sixth.body.code, "SERVICE_LIMIT_REACHED");
    const list = await t.owner(token, "GET", "/v1/services");
    assert.equal(list.body.services.length, 5);
    assert.equal(list.body.services[0].slug, "my-api");
    assert.equal(list.body.services[0].active_key_count, 0);
  });

  test("a revoked key stops working at once; revoking frees a slot; mark-gateway moves", async () => {
    const ns = `keys-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { token, serviceId, apiKey, keyId } = await setupService(t, ns, slug);
    const gw = await makeIdentity(ns);
    const feed = (key: string) =>
      signedFetch(gw, `${t.url}/v1/namespaces/claims`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal((await feed(apiKey)).status, 200);
    const listed = await t.owner(token, "GET", `/v1/services/${serviceId}/keys`);
    assert.ok(listed.body.keys[0].last_used_at, "use is recorded");

    const second = await t.owner(token, "POST", `/v1/services/${serviceId}/keys`);
    assert.equal(second.status, 201);
    assert.equal(second.body.name, "Default");
    assert.equal(second.body.message, "Save this key now. It will not be shown again.");
    const mark = await t.owner(
      token,
      "POST",
      `/v1/services/${serviceId}/keys/${second.body.id}/mark-gateway`,
    );
    assert.deepEqual(mark.body, { success: true, key_id: second.body.id });
    await t.owner(token, "POST", `/v1/services/${serviceId}/keys/${keyId}/mark-gateway`);
    const keys = await t.owner(token, "GET", `/v1/services/${serviceId}/keys`);
    const marked = keys.body.keys.filter(
      (k: { gateway_registered_at: string | null }) => k.gateway_registered_at,
    );
    assert.deepEqual(
      marked.map((k: { id: string }) => k.id),
      [keyId],
    );

    assert.deepEqual((await t.owner(token, "DELETE", `/v1/services/${serviceId}/keys/${keyId}`)).body, {
      success: true,
    });
    assert.equal((await feed(apiKey)).status, 401);
    assert.equal((await t.owner(token, "DELETE", `/v1/services/${serviceId}/keys/${keyId}`)).status, 404);
    assert.equal((await t.owner(token, "POST", `/v1/services/${serviceId}/keys`)).status, 201);
    assert.equal((await feed(second.body.key)).status, 200);
    // Only the hash is stored.
    const { rows } = await t.cp.deps.db.query("SELECT key_hash FROM service_api_keys WHERE id = $1", [keyId]);
    assert.match(String(rows[0]!.key_hash), /^[0-9a-f]{64}$/);
    assert.notEqual(rows[0]!.key_hash, apiKey);
  });

  test("deleting a service drops its claims and announces it; deleting the account removes everything", async () => {
    const ns = `gone-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { token, serviceId, apiKey } = await setupService(t, ns, slug);
    const gw = await makeIdentity(ns);
    const sub = await signedFetch(gw, `${t.url}/v1/claims`, {
      body: claimBody(gw, slug),
      headers: { authorization: `Bearer ${apiKey}` },
    });
    await t.owner(token, "POST", `/v1/claims/${sub.body.claim_id}/approve`);
    const events = await subscribe(eventsChannel(t.prefix));
    try {
      assert.equal((await t.owner(token, "DELETE", `/v1/services/${serviceId}`)).status, 200);
      const msg = await waitFor(() => events.messages[0]);
      assert.equal(parseEvent(msg)?.type, "claims.changed");
      assert.equal((await t.owner(token, "GET", `/v1/claims/${sub.body.claim_id}`)).status, 404);

      const again = await setupService(t, ns, `svc2-${rand(3)}`);
      const del = await t.owner(again.token, "DELETE", "/v1/auth/account");
      assert.equal(del.status, 200);
      const left = await t.cp.deps.db.query(
        `SELECT (SELECT count(*) FROM users WHERE namespace = $1)::int AS u,
                (SELECT count(*) FROM services WHERE owner_user_id = $2)::int AS s`,
        [ns, `user_local_${ns}`],
      );
      assert.deepEqual(left.rows[0], { u: 0, s: 0 });
      await waitFor(() => events.messages[1]);
    } finally {
      await events.close();
    }
  });
});
