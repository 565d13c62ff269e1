import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { claimBody, makeIdentity, signedFetch } from "./agents.ts";
import { type Json, rand, setupService, useTestControlPlane } from "./helpers.ts";

type Res = { status: number; body: Json; headers: Headers };

/**
 * Every 4xx is the full envelope `{error, code, request_id, timestamp, docs_url, details?}` (request_id = the
 * x-request-id header) and nothing is ever a 5xx.
 */
function assertClientError(res: Res, status: number, code?: string, label = "") {
  assert.equal(res.status, status, `${label}: ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body?.error, "string", label);
  assert.equal(typeof res.body?.code, "string", label);
  assert.equal(res.body.request_id, res.headers.get("x-request-id"), label);
  assert.ok(!Number.isNaN(Date.parse(res.body.timestamp)), label);
  assert.match(res.body.docs_url, /docs\/errors\.md#[a-z-]+$/, label);
  assert.deepEqual(
    Object.keys(res.body).filter(
      (k) => !["error", "code", "request_id", "timestamp", "docs_url", "details"].includes(k),
    ),
    [],
    label,
  );
  if (code) assert.equal(res.body.code, code, label);
}

const SQL_INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE authorizations; --",
  '" OR ""="',
  "'); DELETE FROM users; --",
  "1; SELECT pg_sleep(5); --",
  "%' OR 1=1 --",
  "$1 $2 \\' \\\\",
  ") UNION SELECT key_hash, key_hash FROM service_api_keys --",
];

describe("validation and hostile input (PostgreSQL)", () => {
  const t = useTestControlPlane({ freshDatabase: true, env: { CONTROL_PLANE_MAX_BODY_BYTES: "4096" } });
  let ns: string;
  let slug: string;
  let token: string;
  let serviceId: string;
  let apiKey: string;
  let gateway: SigilumIdentity;
  let agent: SigilumIdentity;

  const raw = async (path: string, init: RequestInit = {}): Promise<Res> => {
    const res = await fetch(t.url + path, init);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: res.status, body, headers: res.headers };
  };
  const asOwner = (
    method: string,
    path: string,
    body?: string | unknown,
    headers: Record<string, string> = {},
  ) =>
    raw(path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  const claimHeaders = () => ({
    authorization: `Bearer ${apiKey}`,
    "x-sigilum-claim-binding": "namespace-only",
  });

  before(async () => {
    ns = `val-${rand(3)}`;
    slug = `svc-${rand(3)}`;
    ({ token, serviceId, apiKey } = await setupService(t, ns, slug));
    gateway = await makeIdentity(ns);
    agent = await makeIdentity(ns);
  });

  test("health, unknown routes, request id and CORS", async () => {
    const health = await raw("/health", { headers: { "x-request-id": "abc-123" } });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.equal(health.headers.get("x-request-id"), "abc-123");
    const fresh = await raw("/health", { headers: { "x-request-id": "bad\u00e9id" } });
    assert.match(fresh.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
    for (const path of ["/v1/nope", "/v1/webhooks", "/nope", "/v1/namespaces/a/b/c"]) {
      const res = await raw(path);
      assert.equal(res.status, 404, path);
      assertClientError(res, 404, "NOT_FOUND", path);
    }
    const allowed = await raw("/health", { headers: { origin: "http://localhost:3000" } });
    assert.equal(allowed.headers.get("access-control-allow-origin"), "http://localhost:3000");
    assert.equal(allowed.headers.get("access-control-allow-credentials"), "true");
    const denied = await raw("/health", { headers: { origin: "https://evil.example" } });
    assert.equal(denied.headers.get("access-control-allow-origin"), null);
    const preflight = await raw("/v1/services", {
      method: "OPTIONS",
      headers: { origin: "http://localhost:3000", "access-control-request-method": "POST" },
    });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get("access-control-allow-methods")!, /POST/);
  });

  test("owner auth: missing, malformed and expired tokens are 401", async () => {
    assertClientError(await raw("/v1/services"), 401, "UNAUTHORIZED");
    assertClientError(
      await raw("/v1/auth/me", { headers: { authorization: "Bearer nope" } }),
      401,
      "TOKEN_EXPIRED",
    );
    assertClientError(
      await raw("/v1/auth/me", { headers: { cookie: "sigilum_token=x.y.z" } }),
      401,
      "TOKEN_EXPIRED",
    );
    const { mintOwnerToken } = await import("@sigilum-gw/shared/owner-token");
    const expired = await mintOwnerToken({
      namespace: ns,
      secret: t.cp.deps.jwtSecret,
      ttlSeconds: 1,
      now: Date.now() - 10_000,
    });
    assertClientError(
      await raw("/v1/auth/me", { headers: { authorization: `Bearer ${expired}` } }),
      401,
      "TOKEN_EXPIRED",
    );
    // The cookie works like the Bearer header.
    const me = await raw("/v1/auth/me", { headers: { cookie: `other=1; sigilum_token=${token}` } });
    assert.equal(me.status, 200);
    assert.equal(me.body.namespace, ns);
    assert.equal(me.body.id, `user_local_${ns}`);
  });

  test("services and keys: every bad body, query and path is a 4xx", async () => {
    const good = { name: "n", slug: `ok-${rand(3)}`, domain: "d.example", description: "x" };
    const badBodies: [string, unknown][] = [
      ["invalid json", "{nope"],
      ["array", "[]"],
      ["string", '"x"'],
      ["empty", ""],
      ["missing slug", { ...good, slug: undefined }],
      ["bad slug", { ...good, slug: "Bad_Slug" }],
      ["short slug", { ...good, slug: "ab" }],
      ["long name", { ...good, name: "n".repeat(101) }],
      ["number name", { ...good, name: 5 }],
      ["empty domain", { ...good, domain: "  " }],
      ["unknown field", { ...good, webhook: { url: "http://10.0.0.10/webhook" } }],
      ["nul", { ...good, name: "a\u0000b" }],
    ];
    for (const [label, body] of badBodies) {
      const res = await asOwner("POST", "/v1/services", body);
      assertClientError(res, 400, undefined, label);
    }
    assertClientError(await asOwner("POST", "/v1/services", "{nope"), 400, "INVALID_JSON");
    const zod = await asOwner("POST", "/v1/services", { ...good, slug: "Bad" });
    assert.ok(Array.isArray(zod.body.details) && zod.body.details[0].field === "slug");
    assertClientError(await asOwner("POST", "/v1/services", { ...good, slug }), 409, "CONFLICT");

    for (const id of ["nope", "' OR '1'='1", "x".repeat(5000), "%00", "%E0%A4%A", "..%2F..%2Fetc"]) {
      const res = await asOwner("GET", `/v1/services/${id}`);
      assert.ok([400, 404].includes(res.status), `${id}: ${res.status}`);
      assertClientError(res, res.status, undefined, id);
    }
    assertClientError(await asOwner("PATCH", `/v1/services/${serviceId}`, {}), 400, "VALIDATION_ERROR");
    assertClientError(await asOwner("PATCH", `/v1/services/${serviceId}`, "{"), 400, "INVALID_JSON");
    assertClientError(await asOwner("PATCH", `/v1/services/${serviceId}`, { name: "" }), 400);
    assertClientError(await asOwner("PATCH", `/v1/services/${serviceId}`, { slug: "new" }), 400);
    assertClientError(await asOwner("PATCH", "/v1/services/missing", { name: "x" }), 404);
    assertClientError(await asOwner("DELETE", "/v1/services/missing"), 404);

    for (const q of ["limit=abc", "limit=0", "limit=-1", "offset=-1", "offset=1.5", "limit=1&limit=2"]) {
      assertClientError(
        await asOwner("GET", `/v1/services/${serviceId}/keys?${q}`),
        400,
        "VALIDATION_ERROR",
        q,
      );
    }
    const capped = await asOwner("GET", `/v1/services/${serviceId}/keys?limit=999999`);
    assert.equal(capped.status, 200);
    assert.equal(capped.body.pagination.limit, 200);
    assert.equal(capped.body.keys.length, 1);
    assert.equal(capped.body.keys[0].key, undefined, "the key itself is never listed");
    assert.match(capped.body.keys[0].key_prefix, /^\.\.\.[0-9a-f]{4}$/);

    assertClientError(await asOwner("POST", `/v1/services/${serviceId}/keys`, { name: 7 }), 400);
    assertClientError(
      await asOwner("POST", `/v1/services/${serviceId}/keys`, { name: "x".repeat(101) }),
      400,
    );
    assertClientError(await asOwner("POST", `/v1/services/${serviceId}/keys`, { extra: 1 }), 400);
    // Default limit: 2 active keys per service (the reference's code default).
    assert.equal((await asOwner("POST", `/v1/services/${serviceId}/keys`)).status, 201);
    assertClientError(await asOwner("POST", `/v1/services/${serviceId}/keys`, {}), 400, "KEY_LIMIT_REACHED");
    assertClientError(await asOwner("DELETE", `/v1/services/${serviceId}/keys/nope`), 404);
    assertClientError(await asOwner("POST", `/v1/services/${serviceId}/keys/nope/mark-gateway`), 404);
  });

  test("POST /v1/claims: signature, key and body failures", async () => {
    const url = `${t.url}/v1/claims`;
    const unsigned = await raw("/v1/claims", {
      method: "POST",
      headers: { "content-type": "application/json", ...claimHeaders() },
      body: JSON.stringify(claimBody(agent, slug)),
    });
    assertClientError(unsigned, 401, "SIGNATURE_MISSING");
    const garbage = await raw("/v1/claims", {
      method: "POST",
      headers: {
        "signature-input": "garbage",
        signature: "garbage",
        "sigilum-agent-cert": "x",
        "sigilum-agent-key": "y",
        "sigilum-namespace": ns,
        "sigilum-subject": ns,
      },
      body: "{}",
    });
    assertClientError(garbage, 401, "SIGNATURE_INVALID");
    const old = await signedFetch(gateway, url, {
      body: claimBody(agent, slug),
      headers: claimHeaders(),
      created: Math.floor(Date.now() / 1000) - 3600,
    });
    assertClientError(old, 401, "SIGNATURE_EXPIRED");

    // A body changed after signing.
    const { signRequest } = await import("@sigilum-gw/shared/http-signatures");
    const signed = signRequest(gateway, {
      url,
      method: "POST",
      body: JSON.stringify(claimBody(agent, slug)),
      headers: { "content-type": "application/json" },
    });
    const tampered = await raw("/v1/claims", {
      method: "POST",
      headers: { ...signed.headers, ...claimHeaders() },
      body: JSON.stringify(claimBody(agent, "other")),
    });
    assertClientError(tampered, 401, "SIGNATURE_DIGEST_MISMATCH");
    // Signed for another URL.
    const elsewhere = signRequest(gateway, { url: `${t.url}/v1/other`, method: "POST", body: "{}" });
    const moved = await raw("/v1/claims", {
      method: "POST",
      headers: { ...elsewhere.headers, ...claimHeaders() },
      body: "{}",
    });
    assertClientError(moved, 401, "SIGNATURE_INVALID");

    const noKey = await signedFetch(gateway, url, {
      body: claimBody(agent, slug),
      headers: { "x-sigilum-claim-binding": "namespace-only" },
    });
    assertClientError(noKey, 401, "UNAUTHORIZED");
    const badKey = await signedFetch(gateway, url, {
      body: claimBody(agent, slug),
      headers: { ...claimHeaders(), authorization: "Bearer sk_live_" + "0".repeat(48) },
    });
    assertClientError(badKey, 403, "FORBIDDEN");

    const bodies: [string, unknown, string][] = [
      ["missing nonce", { ...claimBody(agent, slug), nonce: undefined }, "VALIDATION_ERROR"],
      ["short nonce", { ...claimBody(agent, slug), nonce: "1234567" }, "VALIDATION_ERROR"],
      ["numeric ip", { ...claimBody(agent, slug), agent_ip: 127001 }, "VALIDATION_ERROR"],
      ["long subject", { ...claimBody(agent, slug), subject: "s".repeat(257) }, "VALIDATION_ERROR"],
      ["blank subject", { ...claimBody(agent, slug), subject: "   " }, "VALIDATION_ERROR"],
      ["array body", [claimBody(agent, slug)], "VALIDATION_ERROR"],
      ["nul", { ...claimBody(agent, slug), subject: "a\u0000" }, "VALIDATION_ERROR"],
      ["not a key", { ...claimBody(agent, slug), public_key: "ed25519:' OR 1=1 --" }, "VALIDATION_ERROR"],
      ["short key", { ...claimBody(agent, slug), public_key: "ed25519:AAAA" }, "VALIDATION_ERROR"],
      ["no prefix", { ...claimBody(agent, slug), public_key: agent.publicKey.slice(8) }, "VALIDATION_ERROR"],
    ];
    for (const [label, body, code] of bodies) {
      const res = await signedFetch(gateway, url, { body, headers: claimHeaders() });
      assertClientError(res, 400, code, label);
    }
    const details = await signedFetch(gateway, url, {
      body: { ...claimBody(agent, slug), nonce: "x" },
      headers: claimHeaders(),
    });
    assert.deepEqual(Object.keys(details.body.details[0]).sort(), ["field", "message"]);
    const badJson = await signedFetch(gateway, url, { rawBody: "{not json", headers: claimHeaders() });
    assertClientError(badJson, 400, "INVALID_JSON");
    const wrongService = await signedFetch(gateway, url, {
      body: claimBody(agent, "another-service"),
      headers: claimHeaders(),
    });
    assertClientError(wrongService, 403, "FORBIDDEN");
    // A namespace nobody owns: signer and body agree, but there is no owner.
    const stranger = await makeIdentity(`nobody-${rand(3)}`);
    const noOwner = await signedFetch(stranger, url, {
      body: claimBody(stranger, slug),
      headers: claimHeaders(),
    });
    assertClientError(noOwner, 404, "NOT_FOUND");
  });

  test("claim moderation, namespace views, feed and usage: bad params", async () => {
    assertClientError(await raw("/v1/claims/cl_1"), 401);
    for (const id of ["cl_missing", "' OR 1=1 --", "x".repeat(300), "%00"]) {
      assert.ok([400, 404].includes((await asOwner("GET", `/v1/claims/${id}`)).status), id);
      for (const action of ["approve", "reject", "revoke"]) {
        const res = await asOwner("POST", `/v1/claims/${id}/${action}`);
        assert.ok([400, 404].includes(res.status), `${action} ${id}: ${res.status}`);
        assertClientError(res, res.status);
      }
    }
    assertClientError(await asOwner("GET", "/v1/namespaces/Bad_NS/claims"), 400, "VALIDATION_ERROR");
    assertClientError(await asOwner("GET", "/v1/namespaces/ab/claims"), 400, "VALIDATION_ERROR");
    for (const q of [
      "status=bogus",
      "limit=abc",
      "offset=-5",
      "status=pending&status=approved",
      "service=",
    ]) {
      assertClientError(await asOwner("GET", `/v1/namespaces/${ns}/claims?${q}`), 400, "VALIDATION_ERROR", q);
    }
    for (const q of ["from=yesterday", "to=2026-13-45T00:00:00Z", "sort=random", "limit=0", "from=1"]) {
      assertClientError(await asOwner("GET", `/v1/namespaces/${ns}/usage?${q}`), 400, "VALIDATION_ERROR", q);
    }
    // Feed.
    assertClientError(await raw("/v1/namespaces/claims"), 401, "SIGNATURE_MISSING");
    const feedUrl = `${t.url}/v1/namespaces/claims`;
    assertClientError(await signedFetch(gateway, feedUrl), 401, "UNAUTHORIZED");
    assertClientError(
      await signedFetch(gateway, feedUrl, { headers: { authorization: "Bearer nope" } }),
      401,
      "UNAUTHORIZED",
    );
    for (const q of ["limit=abc", "limit=0", "offset=x", "service="]) {
      const res = await signedFetch(gateway, `${feedUrl}?${q}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      assertClientError(res, 400, "VALIDATION_ERROR", q);
    }
    const capped = await signedFetch(gateway, `${feedUrl}?limit=100000`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(capped.body.pagination.limit, 2000);
    // Namespace info and verify.
    assertClientError(await raw("/v1/namespaces/Bad_NS!"), 400, "VALIDATION_ERROR");
    assertClientError(await raw(`/v1/namespaces/${ns}`), 401, "SIGNATURE_MISSING");
    const info = await signedFetch(gateway, `${t.url}/v1/namespaces/${ns}`);
    assert.equal(info.status, 200);
    assert.equal(info.body.did, `did:sigilum:${ns}`);
    const foreign = await signedFetch(gateway, `${t.url}/v1/namespaces/someone-else`);
    assertClientError(foreign, 403, "SIGNATURE_NAMESPACE_MISMATCH");
    assertClientError(
      await signedFetch(gateway, `${t.url}/v1/verify?namespace=${ns}`),
      400,
      "VALIDATION_ERROR",
    );
    const verify = await signedFetch(
      gateway,
      `${t.url}/v1/verify?namespace=${ns}&public_key=${encodeURIComponent(agent.publicKey)}&service=${slug}`,
    );
    assert.deepEqual(verify.body, { authorized: false, reason: "no_approved_claim" });
  });

  test("usage events and settings: bad bodies", async () => {
    const url = `${t.url}/v1/usage/events`;
    const event = {
      event_id: `ev-${rand()}`,
      namespace: ns,
      service: slug,
      public_key: agent.publicKey,
      subject: "s",
      protocol: "http",
      action: "proxy",
      outcome: "success",
    };
    const auth = { authorization: `Bearer ${apiKey}` };
    assertClientError(
      await raw("/v1/usage/events", { method: "POST", body: "{}" }),
      401,
      "SIGNATURE_MISSING",
    );
    assertClientError(await signedFetch(gateway, url, { body: event }), 401, "UNAUTHORIZED");
    const bad: [string, unknown][] = [
      ["protocol", { ...event, protocol: "ftp" }],
      ["status", { ...event, status_code: 600 }],
      ["duration", { ...event, duration_ms: -1 }],
      ["bytes float", { ...event, response_bytes: 1.5 }],
      ["bytes string", { ...event, response_bytes: "10" }],
      ["missing subject", { ...event, subject: undefined }],
      ["long path", { ...event, request_path: "/".repeat(513) }],
    ];
    for (const [label, body] of bad) {
      assertClientError(
        await signedFetch(gateway, url, { body, headers: auth }),
        400,
        "VALIDATION_ERROR",
        label,
      );
    }
    assertClientError(await signedFetch(gateway, url, { rawBody: "[", headers: auth }), 400, "INVALID_JSON");
    assertClientError(
      await signedFetch(gateway, url, { body: { ...event, service: "other" }, headers: auth }),
      403,
      "FORBIDDEN",
    );
    // No authorization for this key on this service: a service cannot invent usage for strangers.
    assertClientError(await signedFetch(gateway, url, { body: event, headers: auth }), 403, "FORBIDDEN");

    for (const body of ["[]", '"x"', "{", { policy: { trustedIPRanges: ["not-an-ip"] } }, { policy: 5 }]) {
      assertClientError(
        await asOwner("PATCH", "/v1/auth/settings", body),
        400,
        undefined,
        JSON.stringify(body),
      );
    }
    assertClientError(await asOwner("PATCH", "/v1/auth/settings", { policy: { unknown: true } }), 400);
    const ok = await asOwner("PATCH", "/v1/auth/settings", { theme: "dark", policy: { autoExpire: true } });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.settings, { theme: "dark", policy: { autoExpire: true } });
  });

  test("oversized and malformed requests", async () => {
    const big = await asOwner("POST", "/v1/services", JSON.stringify({ name: "x".repeat(10_000) }));
    assertClientError(big, 413, "PAYLOAD_TOO_LARGE");
    const badPath = await asOwner("GET", "/v1/claims/%E0%A4%A");
    assertClientError(badPath, 400);
  });

  test("SQL injection strings are stored and returned as plain data", async () => {
    const injSlug = `inj-${rand(3)}`;
    for (const [i, s] of SQL_INJECTIONS.entries()) {
      // Free-text service fields keep the exact text.
      const svc = await asOwner("POST", "/v1/services", {
        name: s,
        slug: `${injSlug}-${i}`,
        domain: s,
        description: s,
      });
      assert.equal(svc.status, 201, `${s}: ${JSON.stringify(svc.body)}`);
      assert.deepEqual([svc.body.name, svc.body.domain, svc.body.description], [s, s, s]);
      await asOwner("DELETE", `/v1/services/${svc.body.id}`);
      assertClientError(
        await asOwner("POST", "/v1/services", { name: "x", slug: s, domain: "d", description: "d" }),
        400,
      );
    }
    // Every free-text claim field (public_key must be a real Ed25519 key, see the 400 case below).
    const submitted: string[] = [];
    const agents: SigilumIdentity[] = [];
    for (const s of SQL_INJECTIONS.slice(0, 5)) {
      const a = await makeIdentity(ns);
      agents.push(a);
      const res = await signedFetch(gateway, `${t.url}/v1/claims`, {
        body: {
          ...claimBody(a, slug),
          agent_ip: s,
          subject: s,
          agent_id: s,
          agent_name: s,
        },
        headers: claimHeaders(),
      });
      assert.equal(res.status, 201, `${s}: ${JSON.stringify(res.body)}`);
      submitted.push(res.body.claim_id);
    }
    for (const s of SQL_INJECTIONS) {
      for (const q of [`service=${encodeURIComponent(s)}`]) {
        const res = await asOwner("GET", `/v1/namespaces/${ns}/claims?${q}`);
        assert.equal(res.status, 200);
        assert.equal(res.body.claims.length, 0, s);
      }
      const usage = await asOwner(
        "GET",
        `/v1/namespaces/${ns}/usage?subject=${encodeURIComponent(s)}&provider=${encodeURIComponent(s)}&agent=${encodeURIComponent(s)}`,
      );
      assert.equal(usage.status, 200);
      assert.equal(usage.body.summary.total_events, 0);
      assert.equal(usage.body.applied_filters.subject, s.trim());
      assert.equal((await asOwner("GET", `/v1/claims/${encodeURIComponent(s)}`)).status, 404);
      assert.equal((await asOwner("GET", `/v1/services/${encodeURIComponent(s)}`)).status, 404);
    }
    const pending = await asOwner("GET", `/v1/namespaces/${ns}/claims?status=pending&limit=200`);
    for (const [i, s] of SQL_INJECTIONS.slice(0, 5).entries()) {
      const row = pending.body.claims.find((c: Json) => c.public_key === agents[i]!.publicKey);
      assert.ok(row, s);
      assert.deepEqual([row.agent_ip, row.subject, row.agent_id, row.agent_name], [s, s, s, s]);
    }
    // Approve one and read it back through the feed unchanged.
    assert.equal((await asOwner("POST", `/v1/claims/${submitted[1]}/approve`)).status, 200);
    const feed = await signedFetch(gateway, `${t.url}/v1/namespaces/claims?service=${slug}`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(feed.body.claims[0].subject, SQL_INJECTIONS[1]);
    // Settings keys and values are data too.
    const settings = await asOwner("PATCH", "/v1/auth/settings", { [SQL_INJECTIONS[1]!]: SQL_INJECTIONS[0] });
    assert.equal(settings.status, 200);
    assert.equal(settings.body.settings[SQL_INJECTIONS[1]!], SQL_INJECTIONS[0]);
    // Every table is still there and intact.
    const tables = await t.cp.deps.db.query<{ n: unknown }>(
      "SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN ('users','services','service_api_keys','authorizations','usage_events')",
    );
    assert.equal(Number(tables.rows[0]!.n), 5);
    assert.equal((await asOwner("GET", "/v1/auth/me")).status, 200);
  });
});
