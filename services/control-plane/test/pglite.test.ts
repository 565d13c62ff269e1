import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { readJwtSecret } from "@sigilum-gw/shared/owner-token";
import { migrate } from "../src/db/migrate.ts";
import { claimBody, makeIdentity, signedFetch } from "./agents.ts";
import { rand, setupService, useTestControlPlane } from "./helpers.ts";

/** The same control plane on the embedded PostgreSQL (no DATABASE_URL) and without Redis. */
describe("embedded PGlite, no Redis", () => {
  const t = useTestControlPlane();

  test("data directory holds the database and a 0600 JWT secret", async () => {
    const secret = readJwtSecret(t.dataDir);
    assert.ok(secret && secret.length >= 32);
    assert.equal(secret, t.cp.deps.jwtSecret);
    assert.equal(statSync(join(t.dataDir, "jwt-secret")).mode & 0o777, 0o600);
    assert.ok(statSync(join(t.dataDir, "pgdata")).isDirectory());
    assert.deepEqual(await migrate(t.cp.deps.db), [], "migrations already applied at start");
  });

  test("claim flow with PostgreSQL nonces: submit, replay 409, approve, feed, revoke", async () => {
    const ns = `lite-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { token, apiKey } = await setupService(t, ns, slug);
    const gw = await makeIdentity(ns);
    const agent = await makeIdentity(ns);
    const headers = { authorization: `Bearer ${apiKey}`, "x-sigilum-claim-binding": "namespace-only" };
    const nonce = crypto.randomUUID();
    const body = claimBody(agent, slug, { subject: "' OR 1=1 --" });
    const sub = await signedFetch(gw, `${t.url}/v1/claims`, { body, headers, nonce });
    assert.equal(sub.status, 201);
    const replay = await signedFetch(gw, `${t.url}/v1/claims`, { body, headers, nonce });
    assert.equal(replay.status, 409);
    assert.equal(replay.body.code, "SIGNATURE_NONCE_REPLAY");
    const nonces = await t.cp.deps.db.query("SELECT scope FROM request_nonces WHERE scope = $1", [
      `sig:${ns}`,
    ]);
    assert.equal(nonces.rows.length, 1);

    assert.equal((await t.owner(token, "POST", `/v1/claims/${sub.body.claim_id}/approve`)).status, 200);
    const feedUrl = `${t.url}/v1/namespaces/claims?service=${slug}`;
    const feed = await signedFetch(gw, feedUrl, { headers });
    assert.equal(feed.body.claims.length, 1);
    assert.equal(feed.body.claims[0].subject, "' OR 1=1 --");
    assert.equal((await t.owner(token, "POST", `/v1/claims/${sub.body.claim_id}/revoke`)).status, 200);
    assert.equal((await signedFetch(gw, feedUrl, { headers })).body.claims.length, 0);
  });

  test("bad input maps to 4xx on PGlite too (NUL in a path parameter, bad query)", async () => {
    const token = await t.token(`nul-${rand(3)}`);
    const nul = await t.owner(token, "GET", "/v1/claims/%00");
    assert.equal(nul.status, 400);
    assert.equal(nul.body.code, "VALIDATION_ERROR");
    assert.equal((await t.owner(token, "GET", "/v1/services/x%00y")).status, 400);
    assert.equal((await t.owner(token, "GET", "/v1/services?limit=abc")).status, 200);
  });

  test("expired nonces are purged and pending claims expire in the sweep", async () => {
    await t.cp.deps.db.query("UPDATE request_nonces SET expires_at = now() - interval '1 second'");
    const swept = await t.cp.sweeper.runOnce();
    assert.ok(swept.noncesPurged >= 1);
    const left = await t.cp.deps.db.query("SELECT 1 FROM request_nonces WHERE expires_at <= now()");
    assert.equal(left.rows.length, 0);
  });

  test("the data survives a restart on the same directory", async () => {
    const ns = `persist-${rand(3)}`;
    const { token, serviceId } = await setupService(t, ns, `svc-${rand(3)}`);
    const { loadConfig } = await import("../src/config.ts");
    const { startControlPlane } = await import("../src/server.ts");
    const { createLogger } = await import("@sigilum-gw/shared/logger");
    const dataDir = t.dataDir;
    await t.cp.close();
    const again = await startControlPlane(
      loadConfig({ CONTROL_PLANE_ADDR: "127.0.0.1:0", CONTROL_PLANE_DATA_DIR: dataDir, LOG_LEVEL: "silent" }),
      { log: createLogger("cp", { level: "silent" }) },
    );
    try {
      assert.equal(again.deps.jwtSecret, t.cp.deps.jwtSecret, "same secret: old tokens stay valid");
      const res = await fetch(`${again.url}/v1/services/${serviceId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200);
    } finally {
      // Hand the restarted instance to the suite's cleanup.
      t.cp = again;
    }
  });
});

describe("SIGILUM_ED25519_BACKEND", () => {
  const t = useTestControlPlane({ env: { SIGILUM_ED25519_BACKEND: "noble" } });

  test("the configured implementation checks the signatures (a signed claim is accepted through it)", async () => {
    assert.equal(t.cp.deps.signed.verifier.backend.name, "noble");
    const ns = `noble-${rand(3)}`;
    const slug = `svc-${rand(3)}`;
    const { apiKey } = await setupService(t, ns, slug);
    const gw = await makeIdentity(ns);
    const res = await signedFetch(gw, `${t.url}/v1/claims`, {
      body: claimBody(await makeIdentity(ns), slug),
      headers: { authorization: `Bearer ${apiKey}`, "x-sigilum-claim-binding": "namespace-only" },
      nonce: crypto.randomUUID(),
    });
    assert.equal(res.status, 201);
  });
});
