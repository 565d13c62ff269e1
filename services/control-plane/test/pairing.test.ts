import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { MAX_CODE_ATTEMPTS } from "../src/pairing/sessions.ts";
import { handshake, type Json, rand, useTestControlPlane } from "./helpers.ts";

/** Pairing routes' answers to bad input and the WebSocket handshake's refusals (the relay itself: tests/pairing). */

describe("pairing routes", () => {
  const t = useTestControlPlane({ redis: true, freshDatabase: true });

  test("start: defaults, namespace check, ttl bounds, owner token required", async () => {
    const token = await t.token(`own-${rand(3)}`);
    const started = await t.owner(token, "POST", "/v1/gateway/pairing/start", "not json");
    assert.equal(started.status, 200);
    const expires = Date.parse(started.body.expires_at) - Date.now();
    assert.ok(expires > 590_000 && expires <= 600_000, `default TTL 600 s, got ${expires}`);
    assert.match(started.body.pair_code, /^[A-HJ-NP-Z2-9]{8}$/);
    assert.equal(
      (await t.owner(token, "POST", "/v1/gateway/pairing/start", { ttl_seconds: 29 })).status,
      400,
    );
    assert.equal(
      (await t.owner(token, "POST", "/v1/gateway/pairing/start", { ttl_seconds: 3601 })).status,
      400,
    );
    const other = await t.owner(token, "POST", "/v1/gateway/pairing/start", { namespace: "someone-else" });
    assert.equal(other.status, 403);
    assert.equal(other.body.code, "FORBIDDEN");
    const anonymous = await fetch(`${t.url}/v1/gateway/pairing/start`, { method: "POST" });
    assert.equal(anonymous.status, 401);
  });

  test("status and command: 400, 404, 403 for another owner, 503 while no gateway is connected", async () => {
    const alice = await t.token(`alice-${rand(3)}`);
    const bob = await t.token(`bob-${rand(3)}`);
    const { body: session } = await t.owner(alice, "POST", "/v1/gateway/pairing/start", {});
    const status = (token: string, id: string) =>
      t.owner(token, "GET", `/v1/gateway/pairing/status?session_id=${encodeURIComponent(id)}`);
    assert.equal((await t.owner(alice, "GET", "/v1/gateway/pairing/status")).status, 400);
    assert.equal((await status(alice, randomUUID())).status, 404);
    assert.equal((await status(alice, "not-a-uuid")).status, 404);
    assert.equal((await status(bob, session.session_id)).status, 403);
    const fresh = await status(alice, session.session_id);
    assert.equal(fresh.status, 200);
    assert.deepEqual(
      { ...fresh.body, expires_at: typeof fresh.body.expires_at },
      {
        connected: false,
        namespace: session.namespace,
        expires_at: "number",
        last_connected_at: null,
        gateway_public_key: null,
        key_algorithm: null,
      },
    );
    const command = (token: string, body: unknown) =>
      t.owner(token, "POST", "/v1/gateway/pairing/command", body);
    const ok = { session_id: session.session_id, method: "GET", path: "/api/admin/connections" };
    for (const bad of [{}, { ...ok, method: "TRACE" }, { ...ok, timeout_ms: 999 }, { ...ok, extra: 1 }]) {
      const res = await command(alice, bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(res.body.code, "VALIDATION_ERROR");
    }
    assert.equal((await command(alice, "{")).body.code, "INVALID_JSON");
    assert.equal((await command(bob, ok)).status, 403);
    assert.equal((await command(alice, { ...ok, session_id: randomUUID() })).status, 404);
    const offline = await command(alice, ok);
    assert.equal(offline.status, 503);
    assert.equal(offline.body.code, "GATEWAY_NOT_CONNECTED");
  });

  test("sessions: the owner's live sessions, newest first, never another owner's nor an expired one", async () => {
    const carol = await t.token(`carol-${rand(3)}`);
    const dave = await t.token(`dave-${rand(3)}`);
    const first = (await t.owner(carol, "POST", "/v1/gateway/pairing/start", {})).body;
    const second = (await t.owner(carol, "POST", "/v1/gateway/pairing/start", { ttl_seconds: 30 })).body;
    await t.owner(dave, "POST", "/v1/gateway/pairing/start", {});
    const list = await t.owner(carol, "GET", "/v1/gateway/pairing/sessions");
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.sessions.map((s: Json) => s.session_id),
      [second.session_id, first.session_id],
    );
    const [newest] = list.body.sessions;
    assert.deepEqual(Object.keys(newest).sort(), [
      "connected",
      "created_at",
      "expires_at",
      "gateway_public_key",
      "key_algorithm",
      "last_connected_at",
      "namespace",
      "session_id",
    ]);
    assert.equal(newest.connected, false);
    assert.ok(!JSON.stringify(list.body).includes(second.pair_code), "the code is never listed");
    await t.cp.deps.db.query(
      "UPDATE pairing_sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
      [second.session_id],
    );
    const after = await t.owner(carol, "GET", "/v1/gateway/pairing/sessions");
    assert.deepEqual(
      after.body.sessions.map((s: Json) => s.session_id),
      [first.session_id],
    );
    assert.equal((await fetch(`${t.url}/v1/gateway/pairing/sessions`)).status, 401);
  });

  test("connect: plain GET and every handshake refusal answer JSON with a code; wrong codes lock the session", async () => {
    const token = await t.token(`gw-${rand(3)}`);
    const { body: session } = await t.owner(token, "POST", "/v1/gateway/pairing/start", {});
    const url = (params: Record<string, string>) =>
      `${t.url}/v1/gateway/pairing/connect?${new URLSearchParams(params).toString()}`;
    const bare = await fetch(url({}));
    assert.equal(bare.status, 400);
    assert.equal(((await bare.json()) as Json).code, "VALIDATION_ERROR");
    const noUpgrade = await fetch(url({ session_id: session.session_id, code: session.pair_code }));
    assert.equal(noUpgrade.status, 426);
    const good = { session_id: session.session_id, code: session.pair_code, namespace: session.namespace };
    assert.deepEqual(
      (await handshake(url({ ...good, session_id: randomUUID() }))).body?.code,
      "PAIR_SESSION_NOT_FOUND",
    );
    assert.equal((await handshake(url({ ...good, namespace: "other-ns" }))).body?.code, "NAMESPACE_MISMATCH");
    assert.equal((await handshake(url(good))).status, 101);
    for (let i = 0; i < MAX_CODE_ATTEMPTS; i++) {
      const wrong = await handshake(url({ ...good, code: "ZZZZZZZZ" }));
      assert.equal(wrong.status, 403);
      assert.equal(wrong.body?.code, "PAIR_CODE_INVALID");
    }
    const locked = await handshake(url(good));
    assert.equal(locked.status, 403);
    assert.equal(locked.body?.code, "PAIR_SESSION_LOCKED", "even the right code no longer opens it");
  });
});

describe("pairing without Redis", () => {
  const t = useTestControlPlane({ freshDatabase: true });

  test("the routes answer 503 PAIRING_UNAVAILABLE naming REDIS_URL", async () => {
    const token = await t.token(`nr-${rand(3)}`);
    const res = await t.owner(token, "POST", "/v1/gateway/pairing/start", {});
    assert.equal(res.status, 503);
    assert.equal(res.body.code, "PAIRING_UNAVAILABLE");
    assert.match(res.body.error, /REDIS_URL/);
  });
});
