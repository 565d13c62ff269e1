import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { adminJson, authorizedGet, testConfig, useProxy, useUpstream } from "./helpers.ts";

/**
 * Two proxy replicas on the same Redis: a connection created, rotated, changed or deleted through one is what
 * the other uses on its very next request (pub/sub invalidation of the in-process cache; the cache TTL is long
 * here, so only the invalidation can make these pass).
 */
describe("two proxy replicas", () => {
  const upstream = useUpstream();
  const a = useProxy(() => testConfig());
  const b = useProxy(() => testConfig({ redisPrefix: a.config.redisPrefix, masterKey: a.config.masterKey }));

  const viaB = (path: string) => authorizedGet(b.url, path);

  test("an unknown connection, then created on A, is used by B on the next request", async () => {
    assert.equal((await viaB("/proxy/shared-conn/x")).status, 404, "B caches nothing for a miss");
    const created = await adminJson(a.url, "POST", "/api/admin/connections", {
      id: "shared-conn",
      base_url: upstream.url,
      auth_secret_key: "k",
      secrets: { k: "replica-SECRET-v1" },
    });
    assert.equal(created.status, 201);
    const res = await viaB("/proxy/shared-conn/x");
    assert.equal(res.status, 200);
    assert.equal(res.json().headers.authorization, "Bearer replica-SECRET-v1");
  });

  test("rotated on A → B injects the new secret on its next request", async () => {
    for (let round = 2; round <= 4; round++) {
      const rotated = await adminJson(a.url, "POST", "/api/admin/connections/shared-conn/rotate", {
        secrets: { k: `replica-SECRET-v${round}` },
      });
      assert.equal(rotated.status, 200);
      const res = await viaB("/proxy/shared-conn/x");
      assert.equal(res.json().headers.authorization, `Bearer replica-SECRET-v${round}`);
    }
  });

  test("metadata change on B (header mode) → used by A; variables too", async () => {
    const patched = await adminJson(b.url, "PATCH", "/api/admin/connections/shared-conn", {
      auth_mode: "header_key",
      auth_header_name: "X-Key",
    });
    assert.equal(patched.status, 200);
    const path = "/proxy/shared-conn/y";
    const res = await authorizedGet(a.url, path);
    assert.equal(res.json().headers["x-key"], "replica-SECRET-v4");
    assert.equal(res.json().headers.authorization, undefined);

    await adminJson(a.url, "POST", "/api/admin/credential-variables", {
      key: "REPLICA_VAR",
      value: "var-v1",
    });
    await adminJson(a.url, "POST", "/api/admin/connections/shared-conn/rotate", {
      secrets: { k: "{{REPLICA_VAR}}" },
    });
    assert.equal((await viaB("/proxy/shared-conn/z")).json().headers["x-key"], "var-v1");
    await adminJson(a.url, "POST", "/api/admin/credential-variables", {
      key: "REPLICA_VAR",
      value: "var-v2",
    });
    assert.equal((await viaB("/proxy/shared-conn/z")).json().headers["x-key"], "var-v2");
  });

  test("disabled or deleted on A → refused by B on the next request", async () => {
    await adminJson(a.url, "PATCH", "/api/admin/connections/shared-conn", { status: "disabled" });
    assert.equal((await viaB("/proxy/shared-conn/x")).status, 404);
    await adminJson(a.url, "PATCH", "/api/admin/connections/shared-conn", { status: "active" });
    assert.equal((await viaB("/proxy/shared-conn/x")).status, 200);
    await adminJson(a.url, "DELETE", "/api/admin/connections/shared-conn");
    assert.equal((await viaB("/proxy/shared-conn/x")).status, 404);
  });

  test("deleted and re-created on A between two requests on B → B uses the new record", async () => {
    const create = (secret: string) =>
      adminJson(a.url, "POST", "/api/admin/connections", {
        id: "again-conn",
        base_url: upstream.url,
        auth_secret_key: "k",
        secrets: { k: secret },
      });
    await create("first-life-SECRET");
    assert.equal(
      (await viaB("/proxy/again-conn/x")).json().headers.authorization,
      "Bearer first-life-SECRET",
    );
    await adminJson(a.url, "DELETE", "/api/admin/connections/again-conn");
    await create("second-life-SECRET");
    assert.equal(
      (await viaB("/proxy/again-conn/x")).json().headers.authorization,
      "Bearer second-life-SECRET",
    );
  });
});
