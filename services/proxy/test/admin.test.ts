import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { decideAdminAccess } from "@sigilum-gw/shared/admin-access";
import { clientIp, createTrustedProxies, isLoopback } from "@sigilum-gw/shared/client-ip";
import { GatewayError } from "@sigilum-gw/shared/errors";
import {
  adminJson,
  deletePrefix,
  dumpPrefix,
  type RunningProxy,
  rawRequest,
  startProxy,
  testConfig,
  useProxy,
  useUpstream,
} from "./helpers.ts";

/** Admin API over HTTP (spec §1.3-§1.6, §5, §7): shapes, errors, access modes, CORS, test and rotate. */

const SECRET = "admin-path-SECRET-77aa";

describe("admin API", () => {
  const upstream = useUpstream((req, res) => {
    if (req.url?.includes("/fail")) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ error: `invalid token ${req.headers.authorization}`, padding: " ".repeat(50) }),
      );
      return;
    }
    if (req.url?.includes("/redirect")) {
      res.writeHead(302, { location: "http://evil.example/" });
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
  const gw = useProxy(() => testConfig({ maxBodyBytes: 20_000 }));
  const seen: string[] = [];
  const admin = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) => {
    const res = await adminJson(gw.url, method, path, body, headers);
    seen.push(res.text);
    return res;
  };

  test("create → 201 connection JSON without secrets; duplicate → 409; get/list/patch/delete", async () => {
    const created = await admin("POST", "/api/admin/connections", {
      id: "github-proxy",
      name: "GitHub",
      base_url: `${upstream.url}/base/`,
      auth_secret_key: "api_token",
      secrets: { api_token: SECRET, other: "other-SECRET-value" },
      rotation_interval_days: 90,
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get("content-type"), "application/json");
    const c = created.json;
    assert.equal(c.id, "github-proxy");
    assert.equal(c.base_url, `${upstream.url}/base`);
    assert.deepEqual(c.credential_keys, ["api_token", "other"]);
    assert.equal(c.secret_version, 1);
    assert.equal(c.rotation_interval_days, 90);
    assert.equal(c.last_tested_at, "0001-01-01T00:00:00Z");
    assert.equal("secrets" in c, false);

    const dup = await admin("POST", "/api/admin/connections", {
      id: "github-proxy",
      base_url: upstream.url,
      auth_secret_key: "k",
      secrets: { k: "v" },
    });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.code, "CONNECTION_EXISTS");
    assert.equal(dup.json.error, "connection already exists");

    const list = await admin("GET", "/api/admin/connections");
    assert.deepEqual(
      list.json.connections.map((x: { id: string }) => x.id),
      ["github-proxy"],
    );
    assert.equal((await admin("GET", "/api/admin/connections/github-proxy/")).json.name, "GitHub");
    const patched = await admin("PATCH", "/api/admin/connections/github-proxy", {
      name: "GH",
      path_prefix: "v3",
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.json.path_prefix, "/v3");
    assert.equal((await admin("GET", "/api/admin/connections/missing-conn")).status, 404);
    assert.equal((await admin("PATCH", "/api/admin/connections/missing-conn", { name: "x" })).status, 404);
  });

  test("body errors: required, invalid JSON, type mismatch, validation, 413", async () => {
    const empty = await admin("POST", "/api/admin/connections", undefined, {
      "content-type": "application/json",
    });
    assert.equal(empty.status, 400);
    assert.equal(empty.json.error, "request body is required");
    const badJson = await rawRequest(gw.url, "/api/admin/connections", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    assert.equal(badJson.status, 400);
    assert.match(badJson.json().error, /^invalid JSON body: /);
    const mismatch = await admin("POST", "/api/admin/connections", { id: 5 });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.json.error, /^invalid JSON body: id: /);
    const invalid = await admin("POST", "/api/admin/connections", {
      id: "abc",
      base_url: "https://x",
      auth_mode: "oauth",
    });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.code, "INVALID_REQUEST");
    assert.equal(invalid.json.error, "invalid auth_mode: oauth");
    const big = await rawRequest(gw.url, "/api/admin/connections", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(25_000),
    });
    assert.equal(big.status, 413);
    assert.equal(big.json().code, "REQUEST_BODY_TOO_LARGE");
  });

  test("methods and unknown routes: 405 METHOD_NOT_ALLOWED, 404 NOT_FOUND", async () => {
    assert.equal((await admin("PUT", "/api/admin/connections")).json.code, "METHOD_NOT_ALLOWED");
    assert.equal((await admin("POST", "/api/admin/connections/github-proxy")).status, 405);
    assert.equal((await admin("GET", "/api/admin/connections/github-proxy/rotate")).status, 405);
    const unknownAction = await admin("POST", "/api/admin/connections/github-proxy/explode");
    assert.equal(unknownAction.status, 404);
    assert.equal(unknownAction.json.code, "NOT_FOUND");
    assert.equal((await admin("GET", "/api/admin/unknown")).status, 404);
    assert.equal((await admin("DELETE", "/api/admin/service-catalog")).json.code, "METHOD_NOT_ALLOWED");
    assert.equal((await admin("POST", "/health")).status, 405);
  });

  test("test: pass, fail with the provider's error (secret redacted), 3xx not followed, 502 without status", async () => {
    const pass = await admin("POST", "/api/admin/connections/github-proxy/test", { test_path: "/ok" });
    assert.equal(pass.status, 200, pass.text);
    assert.deepEqual(pass.json, { status: "pass", http_status: 200 });
    assert.equal(upstream.requests.at(-1)?.url, "/base/v3/ok");
    assert.equal(upstream.requests.at(-1)?.headers.authorization, `Bearer ${SECRET}`);

    const fail = await admin("POST", "/api/admin/connections/github-proxy/test", { test_path: "fail" });
    assert.equal(fail.status, 200);
    assert.equal(fail.json.status, "fail");
    assert.equal(fail.json.http_status, 401);
    assert.match(fail.json.error, /^http 401: /);
    assert.ok(fail.json.error.includes("[redacted]"));
    assert.ok(!fail.json.error.includes(SECRET));
    assert.ok(fail.json.error.length <= 240 + "http 401: ".length + 3);
    const recorded = await admin("GET", "/api/admin/connections/github-proxy");
    assert.equal(recorded.json.last_test_status, "fail");
    assert.equal(recorded.json.last_test_http_status, 401);
    assert.notEqual(recorded.json.last_tested_at, "0001-01-01T00:00:00Z");

    const redirect = await admin("POST", "/api/admin/connections/github-proxy/test", {
      test_path: "/redirect",
    });
    assert.deepEqual(redirect.json, { status: "pass", http_status: 302 });

    await admin("POST", "/api/admin/connections", {
      id: "dead-conn",
      base_url: "http://127.0.0.1:1",
      auth_secret_key: "k",
      secrets: { k: "dead-SECRET" },
    });
    const dead = await admin("POST", "/api/admin/connections/dead-conn/test");
    assert.equal(dead.status, 502);
    assert.equal(dead.json.status, "fail");
    assert.equal(dead.json.http_status, 0);
    const missing = await admin("POST", "/api/admin/connections/nobody-here/test");
    assert.equal(missing.status, 502);
    assert.equal(missing.json.error, "connection not found");
  });

  test("rotate: new version, 'secrets are required' when nothing changes, old secret gone from use", async () => {
    const rotated = await admin("POST", "/api/admin/connections/github-proxy/rotate", {
      secrets: { api_token: "rotated-SECRET-2" },
      rotated_by: "ops",
      rotation_reason: "scheduled",
    });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.json.secret_version, 2);
    const same = await admin("POST", "/api/admin/connections/github-proxy/rotate", {
      secrets: { api_token: "rotated-SECRET-2" },
    });
    assert.equal(same.status, 400);
    assert.equal(same.json.error, "secrets are required");
    await admin("POST", "/api/admin/connections/github-proxy/test", { test_path: "/ok" });
    assert.equal(upstream.requests.at(-1)?.headers.authorization, "Bearer rotated-SECRET-2");
  });

  test("credential variables: upsert with subject header override, list without values, delete", async () => {
    const put = await admin(
      "POST",
      "/api/admin/credential-variables",
      { key: "OPENAI_API_KEY", value: "sk-var-SECRET", created_by_subject: "body-subject" },
      { "sigilum-subject": "header-subject" },
    );
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.created_by_subject, "header-subject");
    assert.equal("value" in put.json, false);
    const list = await admin("GET", "/api/admin/credential-variables");
    assert.deepEqual(
      list.json.variables.map((v: { key: string }) => v.key),
      ["OPENAI_API_KEY"],
    );
    assert.equal(
      (await admin("POST", "/api/admin/credential-variables", { key: "a", value: "v" })).json.error,
      "key must contain only letters, numbers, ., _, or -",
    );
    assert.equal(
      (await admin("POST", "/api/admin/credential-variables", { key: "OK_KEY" })).json.error,
      "value is required",
    );
    assert.equal(
      (await admin("POST", "/api/admin/credential-variables", { key: "BIG", value: "x".repeat(16385) }))
        .status,
      400,
    );
    const del = await admin("DELETE", "/api/admin/credential-variables/OPENAI_API_KEY");
    assert.deepEqual(del.json, { deleted: true, key: "OPENAI_API_KEY" });
    assert.equal((await admin("DELETE", "/api/admin/credential-variables/OPENAI_API_KEY")).status, 404);
  });

  test("service catalog: defaults on first GET, PUT validates and round-trips", async () => {
    const first = await admin("GET", "/api/admin/service-catalog");
    assert.equal(first.status, 200);
    assert.equal(first.json.version, "v1");
    assert.ok(first.json.services.some((s: { key: string }) => s.key === "slack"));
    const bad = await admin("PUT", "/api/admin/service-catalog", { services: [{ key: "x" }] });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, "services[0].connection_id is required");
    const put = await admin("PUT", "/api/admin/service-catalog", { version: "v1", services: [] });
    assert.deepEqual(put.json, { version: "v1", services: [] });
    assert.deepEqual((await admin("GET", "/api/admin/service-catalog")).json, {
      version: "v1",
      services: [],
    });
  });

  test("delete → 204 then 404; secrets never in admin answers or in Redis", async () => {
    const del = await rawRequest(gw.url, "/api/admin/connections/dead-conn", { method: "DELETE" });
    assert.equal(del.status, 204);
    assert.equal(del.body.length, 0);
    assert.equal((await admin("DELETE", "/api/admin/connections/dead-conn")).status, 404);
    const dump = await dumpPrefix(gw.config.redisPrefix);
    for (const secret of [SECRET, "rotated-SECRET-2", "other-SECRET-value", "sk-var-SECRET", "dead-SECRET"]) {
      assert.ok(!seen.join("\n").includes(secret), `${secret} in an admin answer`);
      assert.ok(!dump.includes(secret), `${secret} in Redis`);
    }
  });

  test("CORS: allowed origin echoed with credentials; others get nothing; OPTIONS → 204 before access checks", async () => {
    const allowed = await rawRequest(gw.url, "/api/admin/connections", {
      headers: { origin: "http://localhost:3000" },
    });
    assert.equal(allowed.headers["access-control-allow-origin"], "http://localhost:3000");
    assert.equal(allowed.headers["access-control-allow-credentials"], "true");
    assert.match(String(allowed.headers["access-control-allow-headers"]), /X-Sigilum-Admin-Token/i);
    assert.match(String(allowed.headers.vary), /Origin/);
    const evil = await rawRequest(gw.url, "/api/admin/connections", {
      headers: { origin: "https://evil.example" },
    });
    assert.equal(evil.headers["access-control-allow-origin"], undefined);
    const options = await rawRequest(gw.url, "/api/admin/connections", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example" },
    });
    assert.equal(options.status, 204);
    const runtime = await rawRequest(gw.url, "/proxy/github-proxy/x", {
      headers: { origin: "http://localhost:3000" },
    });
    assert.equal(runtime.headers["access-control-allow-origin"], undefined, "no CORS on runtime routes");
  });

  test("health: live, ready (Redis reachable), method check", async () => {
    const live = await rawRequest(gw.url, "/health/live");
    assert.deepEqual(live.json(), { check: "liveness", status: "ok" });
    const ready = await rawRequest(gw.url, "/health/ready");
    assert.deepEqual(ready.json(), { check: "readiness", status: "ok" });
    assert.deepEqual((await rawRequest(gw.url, "/health")).json(), { check: "health", status: "ok" });
  });
});

describe("admin access modes (spec §7.1): remote callers through a trusted proxy hop, never skipped", () => {
  /**
   * A remote caller without a non-loopback interface: connections from the second loopback address 127.0.0.2 are
   * the trusted proxy hop (GATEWAY_TRUSTED_PROXY_CIDRS=127.0.0.2/32) and name the client in the X-Forwarded-For entry
   * they append, as Envoy does; connections from 127.0.0.1 are untrusted and are the local caller themselves. Linux
   * routes all of 127.0.0.0/8 to lo, so this runs on every host CI uses; where it cannot bind, it fails.
   */
  const HOP = "127.0.0.2";
  const REMOTE = "203.0.113.20";
  const TOKEN = "admin-TOKEN-123";
  const remote = (base: string, path: string, headers: Record<string, string> = {}) =>
    rawRequest(base, path, { localAddress: HOP, headers: { "x-forwarded-for": REMOTE, ...headers } });
  const local = (base: string, path: string, headers: Record<string, string> = {}) =>
    rawRequest(base, path, { headers });
  const start = (admin: Partial<ReturnType<typeof testConfig>["admin"]>, prefix: string) =>
    startProxy(
      testConfig({
        redisPrefix: prefix,
        trustedProxyCidrs: [`${HOP}/32`],
        admin: { ...testConfig().admin, ...admin },
      }),
    );
  const prefix = testConfig().redisPrefix;
  const proxies: RunningProxy[] = [];
  after(async () => {
    for (const p of proxies) await p.stop();
    await deletePrefix(prefix);
  });
  const modes = async () => {
    if (proxies.length === 0) {
      for (const mode of ["hybrid", "loopback", "token"] as const)
        proxies.push(await start({ mode, token: TOKEN }, prefix));
    }
    const [hybrid, loopback, token] = proxies as [RunningProxy, RunningProxy, RunningProxy];
    return { hybrid: hybrid.url, loopback: loopback.url, token: token.url };
  };
  const ADMIN = "/api/admin/connections";

  test("hybrid: a remote caller needs the admin token (header or bearer); a wrong or missing token is refused", async () => {
    const { hybrid } = await modes();
    const denied = await remote(hybrid, ADMIN);
    assert.equal(denied.status, 403);
    assert.equal(denied.json().code, "ADMIN_TOKEN_OR_LOOPBACK_REQUIRED");
    assert.ok(denied.json().request_id);
    assert.equal((await remote(hybrid, ADMIN, { authorization: `Bearer ${TOKEN}` })).status, 200);
    assert.equal((await remote(hybrid, ADMIN, { "x-sigilum-admin-token": TOKEN })).status, 200);
    for (const wrong of [TOKEN.slice(0, -1), `${TOKEN}4`, "", "Bearer", TOKEN.toLowerCase()]) {
      const res = await remote(hybrid, ADMIN, {
        "x-sigilum-admin-token": wrong,
        authorization: `Bearer ${wrong}`,
      });
      assert.equal(res.status, 403, `wrong token ${JSON.stringify(wrong)}`);
      assert.equal(res.json().code, "ADMIN_TOKEN_OR_LOOPBACK_REQUIRED");
    }
    assert.equal((await remote(hybrid, "/metrics")).status, 403, "metrics follow the same policy");
    assert.equal((await remote(hybrid, "/metrics", { authorization: `Bearer ${TOKEN}` })).status, 200);
  });

  test("hybrid: a local caller needs no token; the hop itself is local; an untrusted peer's X-Forwarded-For is ignored", async () => {
    const { hybrid } = await modes();
    assert.equal((await local(hybrid, ADMIN)).status, 200, "loopback caller");
    assert.equal(
      (await rawRequest(hybrid, ADMIN, { localAddress: HOP })).status,
      200,
      "the hop, no forwarded entry",
    );
    assert.equal(
      (await local(hybrid, ADMIN, { "x-forwarded-for": REMOTE })).status,
      200,
      "127.0.0.1 is not a trusted proxy: its X-Forwarded-For names nobody",
    );
    const spoofed = await remote(hybrid, ADMIN, { "x-forwarded-for": `127.0.0.1, ${REMOTE}` });
    assert.equal(spoofed.status, 403, "a client-claimed left-most loopback entry is not the client");
  });

  test("loopback mode: a remote caller is refused even with the right token; a local caller is allowed without one", async () => {
    const { loopback } = await modes();
    const tries: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${TOKEN}` },
      { "x-sigilum-admin-token": TOKEN },
    ];
    for (const headers of tries) {
      const res = await remote(loopback, ADMIN, headers);
      assert.equal(res.status, 403);
      assert.equal(res.json().code, "ADMIN_LOOPBACK_REQUIRED");
    }
    assert.equal((await local(loopback, ADMIN)).status, 200);
    assert.equal((await local(loopback, ADMIN, { "x-sigilum-admin-token": "wrong" })).status, 200);
  });

  test("token mode: loopback does not help; only the exact token is accepted, from anywhere", async () => {
    const { token } = await modes();
    for (const caller of [local, remote]) {
      const refused: Record<string, string>[] = [
        {},
        { "x-sigilum-admin-token": "wrong" },
        { authorization: `Bearer ${TOKEN}x` },
      ];
      for (const headers of refused) {
        const res = await caller(token, ADMIN, headers);
        assert.equal(res.status, 403);
        assert.equal(res.json().code, "ADMIN_TOKEN_REQUIRED");
      }
      assert.equal((await caller(token, ADMIN, { authorization: `bearer ${TOKEN}` })).status, 200);
      assert.equal((await caller(token, ADMIN, { "x-sigilum-admin-token": TOKEN })).status, 200);
    }
  });

  test("decideAdminAccess table: every mode × local/remote × right/wrong/missing token", () => {
    const policy = (mode: "hybrid" | "loopback" | "token") => ({ enforce: true, mode, token: TOKEN });
    const right = { "x-sigilum-admin-token": TOKEN };
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const wrong = { "x-sigilum-admin-token": `${TOKEN}-x`, authorization: "Bearer admin-TOKEN-12" };
    const missing: Record<string, string> = {};
    const allow = (via: string) => ({ allowed: true, via });
    const deny = (code: string) => ({ allowed: false, code });
    const rows: [string, "hybrid" | "loopback" | "token", Record<string, string>, string, object][] = [
      ["hybrid remote right", "hybrid", right, REMOTE, allow("token")],
      ["hybrid remote bearer", "hybrid", bearer, REMOTE, allow("token")],
      ["hybrid remote wrong", "hybrid", wrong, REMOTE, deny("ADMIN_TOKEN_OR_LOOPBACK_REQUIRED")],
      ["hybrid remote missing", "hybrid", missing, REMOTE, deny("ADMIN_TOKEN_OR_LOOPBACK_REQUIRED")],
      ["hybrid local wrong", "hybrid", wrong, "127.0.0.1", allow("loopback")],
      ["hybrid local missing", "hybrid", missing, "::1", allow("loopback")],
      ["loopback remote right", "loopback", right, REMOTE, deny("ADMIN_LOOPBACK_REQUIRED")],
      ["loopback remote missing", "loopback", missing, REMOTE, deny("ADMIN_LOOPBACK_REQUIRED")],
      ["loopback local missing", "loopback", missing, "127.0.0.2", allow("loopback")],
      ["token remote right", "token", bearer, REMOTE, allow("token")],
      ["token local wrong", "token", wrong, "127.0.0.1", deny("ADMIN_TOKEN_REQUIRED")],
      ["token local missing", "token", missing, "127.0.0.1", deny("ADMIN_TOKEN_REQUIRED")],
      ["token remote wrong", "token", wrong, REMOTE, deny("ADMIN_TOKEN_REQUIRED")],
    ];
    for (const [name, mode, headers, ip, expected] of rows) {
      assert.deepEqual(decideAdminAccess(policy(mode), headers, ip), expected, name);
    }
    // No token configured: an empty presented token matches nothing.
    const none = { enforce: true, mode: "hybrid" as const, token: "" };
    for (const headers of [{ "x-sigilum-admin-token": "" }, { authorization: "Bearer " }, missing]) {
      assert.deepEqual(decideAdminAccess(none, headers, REMOTE), deny("ADMIN_TOKEN_OR_LOOPBACK_REQUIRED"));
    }
  });

  test("policy table (pure): token-mode without a token, disabled enforcement", () => {
    const h = {};
    assert.deepEqual(decideAdminAccess({ enforce: true, mode: "token", token: "" }, h, "127.0.0.1"), {
      allowed: false,
      code: "ADMIN_TOKEN_NOT_CONFIGURED",
    });
    assert.deepEqual(decideAdminAccess({ enforce: false, mode: "token", token: "" }, h, "203.0.113.1"), {
      allowed: true,
      via: "open",
    });
    assert.equal(isLoopback("::ffff:127.0.0.1"), true);
    assert.equal(isLoopback("localhost"), true);
    assert.equal(isLoopback("203.0.113.10"), false);
    assert.equal(isLoopback(""), false);
  });

  test("X-Forwarded-For is honoured only from GATEWAY_TRUSTED_PROXY_CIDRS, right-most entry only", () => {
    const fakeReq = (peer: string, headers: Record<string, string>) =>
      ({ socket: { remoteAddress: peer }, headers }) as unknown as Parameters<typeof clientIp>[0];
    const trusted = createTrustedProxies(["203.0.113.0/24", "10.0.0.1/32"]);
    const cases: [peer: string, headers: Record<string, string>, client: string][] = [
      ["203.0.113.10", { "x-forwarded-for": "10.0.0.5, 10.0.0.6" }, "10.0.0.6"],
      // A client-claimed left-most entry never becomes the client address (it would pass a loopback check).
      ["203.0.113.10", { "x-forwarded-for": "127.0.0.1, 198.51.100.7" }, "198.51.100.7"],
      ["203.0.113.10", { "x-forwarded-for": "garbage" }, "203.0.113.10"],
      ["198.51.100.1", { "x-forwarded-for": "10.0.0.5" }, "198.51.100.1"],
      ["::ffff:203.0.113.9", { "x-real-ip": "10.9.9.9" }, "203.0.113.9"],
    ];
    for (const [peer, headers, client] of cases) {
      assert.equal(clientIp(fakeReq(peer, headers), trusted), client, `${peer} ${JSON.stringify(headers)}`);
    }
    assert.equal(
      clientIp(fakeReq("203.0.113.10", { "x-forwarded-for": "10.0.0.5" }), createTrustedProxies([])),
      "203.0.113.10",
    );
    assert.throws(() => createTrustedProxies(["not-a-cidr"]));
  });

  test("trusted proxy forwarding a remote client: hybrid mode denies it, even with a spoofed loopback entry", async () => {
    const gw = await startProxy(testConfig({ trustedProxyCidrs: ["127.0.0.1/32"] }));
    try {
      for (const forwarded of ["203.0.113.20", "127.0.0.1, 203.0.113.20"]) {
        const denied = await rawRequest(gw.url, "/api/admin/connections", {
          headers: { "x-forwarded-for": forwarded },
        });
        assert.equal(denied.status, 403, forwarded);
      }
      const res = await rawRequest(gw.url, "/api/admin/connections", {
        headers: { "x-forwarded-for": "203.0.113.20" },
      });
      assert.equal(res.status, 403);
      assert.equal(res.json().code, "ADMIN_TOKEN_OR_LOOPBACK_REQUIRED");
      assert.ok(res.json().request_id);
    } finally {
      await gw.stop();
      await deletePrefix(gw.config.redisPrefix);
    }
  });
});

test("GatewayError codes used by admin answers exist in the shared catalogue", () => {
  for (const code of ["INVALID_REQUEST", "CONNECTION_NOT_FOUND", "CONNECTION_EXISTS", "NOT_FOUND"] as const) {
    assert.ok(new GatewayError(code).status >= 400);
  }
});
