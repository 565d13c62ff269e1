import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import { unusedPort } from "@sigilum-gw/testkit/network";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { createProxyKeys } from "../src/store/keys.ts";
import type { UsageBatch } from "../src/usage/queue.ts";
import {
  AGENT,
  adminJson,
  authorizedGet,
  captureLogger,
  deletePrefix,
  dumpPrefix,
  eventually,
  mintToken,
  REDIS_URL,
  rawRequest,
  startProxy,
  startUpstream,
  testConfig,
  useProxy,
  useUpstream,
} from "./helpers.ts";

/**
 * The runtime path in envoy mode (token minted with the shared codec, as the verifier does): injection for every
 * auth mode, what is stripped, token checks, traversal, upstream failures, rotation, variables, limits, metrics,
 * usage events, and a scan of every output for the secrets.
 */

const SECRETS = {
  bearer: "sk-bearer-SECRET-aaaa1111",
  header: "hk-header-SECRET-bbbb2222",
  query: "qp-query-SECRET-cccc3333",
  variable: "var-resolved-SECRET-dddd4444",
};

describe("runtime proxy (envoy mode)", () => {
  const upstream = useUpstream((req, res, body) => {
    const url = req.url ?? "";
    if (url.includes("/status/201")) {
      res.writeHead(201, "Created Here", [
        ["content-type", "text/plain"],
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
        ["x-custom", "kept"],
        ["x-request-id", "upstream-own-id"],
      ] as unknown as Record<string, string>);
      res.end("created-body");
      return;
    }
    if (url.includes("/status/500")) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("boom");
      return;
    }
    if (url.includes("/no-content")) {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ method: req.method, url, headers: req.headers, body: body.toString() }));
  });
  const captured = captureLogger();
  const logs = captured.lines;
  const gw = useProxy(() => testConfig({ maxBodyBytes: 1024 }), { logger: captured.logger });
  const collected: string[] = [];

  const call = async (
    method: string,
    path: string,
    opts: { headers?: Record<string, string | string[]>; body?: string | Buffer; token?: string | null } = {},
  ) => {
    const headers: Record<string, string | string[]> = { ...(opts.headers ?? {}) };
    if (opts.token !== null) headers["x-sigilum-authz"] = opts.token ?? mintToken(method, path);
    const res = await rawRequest(gw.url, path, { method, headers, body: opts.body });
    collected.push(res.text, JSON.stringify(res.headers));
    return res;
  };

  before(async () => {
    const base = `${upstream.url}/base`;
    for (const body of [
      { id: "bearer-conn", base_url: base, auth_secret_key: "token", secrets: { token: SECRETS.bearer } },
      {
        id: "header-conn",
        base_url: base,
        path_prefix: "pre",
        auth_mode: "header_key",
        auth_header_name: "X-Api-Key",
        auth_secret_key: "key",
        secrets: { key: SECRETS.header },
      },
      {
        id: "query-conn",
        base_url: base,
        auth_mode: "query_param",
        auth_header_name: "api_key",
        auth_secret_key: "key",
        secrets: { key: SECRETS.query },
      },
      {
        id: "var-conn",
        base_url: base,
        auth_prefix: "Bot ",
        auth_secret_key: "token",
        secrets: { token: "{{SHARED_TOKEN}}" },
      },
      {
        id: "slack-proxy",
        base_url: `${upstream.url}/api`,
        auth_secret_key: "bot_token",
        secrets: { bot_token: "xoxb-SLACK-SECRET" },
      },
    ]) {
      const created = await adminJson(gw.url, "POST", "/api/admin/connections", body);
      assert.equal(created.status, 201, created.text);
      collected.push(created.text);
    }
  });

  test("bearer: credential injected, signing/identity headers and the agent's own credential removed", async () => {
    const path = "/proxy/bearer-conn/v1/items?x=1&y=two";
    const res = await call("GET", path, {
      headers: {
        authorization: "Bearer agent-supplied",
        signature: "sig1=:AAAA:",
        "signature-input": 'sig1=("@method");created=1',
        "sigilum-namespace": AGENT.namespace,
        "sigilum-subject": AGENT.subject,
        "sigilum-agent-key": AGENT.publicKey,
        "sigilum-agent-cert": "cert",
        "x-sigilum-subject": "forged-subject",
        "x-sigilum-admin-token": "t",
        "x-request-id": "client-req-1",
        accept: "application/json",
      },
    });
    assert.equal(res.status, 200, res.text);
    const seen = res.json();
    assert.equal(seen.url, "/base/v1/items?x=1&y=two");
    assert.equal(seen.headers.authorization, `Bearer ${SECRETS.bearer}`);
    assert.equal(seen.headers.accept, "application/json");
    assert.equal(seen.headers["x-request-id"], "client-req-1");
    for (const name of Object.keys(seen.headers)) {
      assert.ok(!name.startsWith("sigilum-") && !name.startsWith("x-sigilum-"), `${name} leaked upstream`);
      assert.ok(name !== "signature" && name !== "signature-input", `${name} leaked upstream`);
    }
    assert.equal(res.headers["x-request-id"], "client-req-1");
  });

  test("header_key with path prefix; an agent's copy of the credential header is replaced", async () => {
    const path = "/proxy/header-conn/users/%40me";
    const res = await call("GET", path, { headers: { "x-api-key": "agent-smuggled", "X-API-KEY": "again" } });
    assert.equal(res.status, 200, res.text);
    const seen = res.json();
    assert.equal(seen.url, "/base/pre/users/@me");
    assert.equal(seen.headers["x-api-key"], SECRETS.header);
    assert.equal(seen.headers.authorization, undefined);
  });

  test("query_param: agent values of the parameter are replaced, no auth header sent", async () => {
    const path = "/proxy/query-conn/search?q=a+b&api_key=agent&api_key=agent2";
    const res = await call("GET", path, { headers: { authorization: "Bearer agent" } });
    assert.equal(res.status, 200, res.text);
    const seen = res.json();
    assert.equal(seen.url, `/base/search?q=a+b&api_key=${SECRETS.query}`);
    assert.equal(seen.headers.authorization, undefined);
  });

  test("/slack alias and {{VARIABLE}} credentials resolved at request time", async () => {
    const slack = await call("POST", "/slack/chat.postMessage", {
      headers: { "content-type": "application/json" },
      body: '{"text":"hi"}',
    });
    assert.equal(slack.status, 200, slack.text);
    assert.equal(slack.json().url, "/api/chat.postMessage");
    assert.equal(slack.json().body, '{"text":"hi"}');
    assert.equal(slack.json().headers["content-length"], "13");

    const missing = await call("GET", "/proxy/var-conn/x");
    assert.equal(missing.status, 424);
    assert.equal(missing.json().code, "CREDENTIAL_VARIABLE_MISSING");
    assert.equal(missing.json().error, 'resolve secret "token": credential variable not found');

    const set = await adminJson(gw.url, "POST", "/api/admin/credential-variables", {
      key: "SHARED_TOKEN",
      value: SECRETS.variable,
    });
    assert.equal(set.status, 200, set.text);
    collected.push(set.text);
    const ok = await call("GET", "/proxy/var-conn/x");
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json().headers.authorization, `Bot ${SECRETS.variable}`);
  });

  test("the upstream's status, reason, headers (duplicates too) and body come back unchanged", async () => {
    const res = await call("GET", "/proxy/bearer-conn/status/201");
    assert.equal(res.status, 201);
    assert.equal(res.text, "created-body");
    assert.equal(res.headers["x-custom"], "kept");
    assert.deepEqual(res.headers["set-cookie"], ["a=1", "b=2"]);
    assert.equal(res.headers["x-request-id"], "upstream-own-id");
    const noContent = await call("DELETE", "/proxy/bearer-conn/no-content");
    assert.equal(noContent.status, 204);
    const head = await call("HEAD", "/proxy/bearer-conn/items");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const error = await call("GET", "/proxy/bearer-conn/status/500");
    assert.equal(error.status, 500);
    assert.equal(error.text, "boom");
  });

  test("missing, forged, expired, duplicated and misbound tokens are refused before any upstream call", async () => {
    const before = upstream.requests.length;
    const path = "/proxy/bearer-conn/v1/items";
    const forged = createAuthzTokenCodec("another-secret-that-is-long-enough-0123456789").sign({
      method: "GET",
      path,
      requestId: "r",
      ...AGENT,
    });
    const expired = createAuthzTokenCodec(gw.config.internalSecret, {
      now: () => Date.now() / 1000 - 120,
    }).sign({
      method: "GET",
      path,
      requestId: "r",
      ...AGENT,
    });
    const valid = mintToken("GET", path);
    const cases: [string, Record<string, string | string[]>, string][] = [
      ["missing", {}, "GET"],
      ["garbage", { "x-sigilum-authz": "v1.abc.def" }, "GET"],
      ["forged", { "x-sigilum-authz": forged }, "GET"],
      ["expired", { "x-sigilum-authz": expired }, "GET"],
      ["duplicated", { "x-sigilum-authz": [valid, valid] }, "GET"],
      ["wrong method", { "x-sigilum-authz": valid }, "DELETE"],
      ["other path", { "x-sigilum-authz": mintToken("GET", "/proxy/bearer-conn/other") }, "GET"],
      ["query added", { "x-sigilum-authz": valid }, "GET?"],
    ];
    for (const [name, headers, method] of cases) {
      const target = method === "GET?" ? `${path}?admin=1` : path;
      const res = await rawRequest(gw.url, target, { method: method === "GET?" ? "GET" : method, headers });
      collected.push(res.text);
      assert.equal(res.status, 403, name);
      assert.equal(res.json().code, "AUTH_AUTHZ_TOKEN_INVALID", name);
      assert.equal(res.headers["x-sigilum-code"], "AUTH_AUTHZ_TOKEN_INVALID");
    }
    assert.equal(upstream.requests.length, before, "nothing reached the upstream");
  });

  test("path traversal is refused even with a token minted for that path; odd paths stay inside the base", async () => {
    const before = upstream.requests.length;
    for (const path of [
      "/proxy/bearer-conn/../../admin",
      "/proxy/bearer-conn/a/%2e%2e/%2e%2e/secret",
      "/proxy/bearer-conn/%2E%2E%2Fetc",
      "/proxy/bearer-conn/a%2F..%2F..%2Fb",
      "/proxy/bearer-conn/..%5C..%5Cwin",
      "/slack/../proxy/bearer-conn",
    ]) {
      const res = await call("GET", path);
      assert.equal(res.status, 400, path);
      assert.equal(res.json().code, "PATH_TRAVERSAL", path);
    }
    assert.equal(upstream.requests.length, before);
    // Double slashes are refused as the verifier refuses them (one URL grammar), never merged.
    const doubled = await call("GET", "/proxy/bearer-conn//http://evil.example//x");
    assert.equal(doubled.status, 400);
    assert.equal(doubled.json().code, "PATH_TRAVERSAL");
    assert.match(doubled.json().error, /empty segments \(double slashes\)/);
    assert.equal(upstream.requests.length, before);
    const weird = await call("GET", "/proxy/bearer-conn/http:/evil.example/x");
    assert.equal(weird.status, 200);
    assert.equal(weird.json().url, "/base/http:/evil.example/x");
    assert.equal(weird.json().headers.host, new URL(upstream.url).host);
  });

  test("unknown, disabled and MCP routes; CONNECT/TRACE; unknown paths", async () => {
    const unknown = await call("GET", "/proxy/nope-conn/x");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().code, "CONNECTION_NOT_FOUND");
    const patched = await adminJson(gw.url, "PATCH", "/api/admin/connections/header-conn", {
      status: "disabled",
    });
    assert.equal(patched.status, 200);
    const disabled = await call("GET", "/proxy/header-conn/x");
    assert.equal(disabled.status, 404);
    assert.match(disabled.json().error, /is disabled/);
    await adminJson(gw.url, "PATCH", "/api/admin/connections/header-conn", { status: "active" });
    assert.equal((await call("GET", "/proxy/header-conn/x")).status, 200);
    const mcp = await call("GET", "/mcp/no-such-conn/tools");
    assert.equal(mcp.status, 404);
    assert.equal(mcp.json().code, "CONNECTION_NOT_FOUND");
    const httpAsMcp = await call("GET", "/mcp/bearer-conn/tools");
    assert.equal(httpAsMcp.status, 400);
    assert.equal(httpAsMcp.json().error, "connection protocol is not mcp");
    const trace = await call("TRACE", "/proxy/bearer-conn/x");
    assert.equal(trace.status, 405);
    const root = await rawRequest(gw.url, "/anything");
    assert.equal(root.status, 200);
    assert.equal(root.text, "sigilum-gateway");
    assert.equal((await rawRequest(gw.url, "/anything", { method: "POST" })).status, 405);
  });

  test("request body limit → 413 REQUEST_BODY_TOO_LARGE (declared and chunked)", async () => {
    const big = "x".repeat(2000);
    const declared = await call("POST", "/proxy/bearer-conn/upload", { body: big });
    assert.equal(declared.status, 413);
    assert.equal(declared.json().code, "REQUEST_BODY_TOO_LARGE");
    const chunked = await call("POST", "/proxy/bearer-conn/upload", {
      body: big,
      headers: { "transfer-encoding": "chunked" },
    });
    assert.equal(chunked.status, 413);
    const fits = await call("POST", "/proxy/bearer-conn/upload", {
      body: "x".repeat(1000),
      headers: { "content-digest": "sha-256=:abc:" },
    });
    assert.equal(fits.status, 200);
    assert.equal(fits.json().body.length, 1000);
    assert.equal(fits.json().headers["content-digest"], undefined);
  });

  test("metrics count upstream requests; usage events are queued without payloads or secrets", async () => {
    const metrics = await rawRequest(gw.url, "/metrics");
    collected.push(metrics.text);
    assert.equal(metrics.status, 200);
    assert.match(
      metrics.text,
      /sigilum_gateway_upstream_requests_total\{protocol="http",outcome="success"[^}]*\} \d+/,
    );
    assert.match(
      metrics.text,
      /sigilum_gateway_upstream_requests_total\{protocol="http",outcome="error"[^}]*\} \d+/,
    );
    assert.match(metrics.text, /sigilum_gateway_upstream_latency_seconds_bucket/);
    assert.match(metrics.text, /sigilum_gateway_auth_reject_total\{reason="auth_authz_token_invalid"/);
    assert.match(metrics.text, /sigilum_gateway_requests_in_flight\{[^}]*\} 1/);

    await gw.proxy.usage.flush();
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue("usage-events", {
      connection: redis,
      prefix: createProxyKeys(gw.config.redisPrefix).bullmq,
    });
    try {
      const jobs = await queue.getJobs(["waiting", "delayed", "active"]);
      const events = jobs.flatMap((j) => (j.data as UsageBatch).events);
      assert.ok(events.length >= 5, `expected usage events, got ${events.length}`);
      const event = events.find((d) => d.request_path === "/v1/items" && d.service === "bearer-conn");
      assert.ok(event, "usage event for the bearer request");
      assert.equal(event.namespace, AGENT.namespace);
      assert.equal(event.subject, AGENT.subject);
      assert.equal(event.public_key, AGENT.publicKey);
      assert.equal(event.protocol, "http");
      assert.equal(event.action, "proxy");
      assert.equal(event.outcome, "success");
      assert.equal(event.status_code, 200);
      assert.equal(event.request_method, "GET");
      assert.ok(event.response_bytes > 0);
      const all = JSON.stringify(events);
      assert.ok(!all.includes('"body"'), "no payloads in usage events");
      collected.push(all);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });

  test("no secret appears in logs, responses, metrics, admin answers or Redis", async () => {
    const list = await adminJson(gw.url, "GET", "/api/admin/connections");
    collected.push(list.text);
    for (const id of ["bearer-conn", "header-conn", "query-conn", "var-conn", "slack-proxy"]) {
      collected.push((await adminJson(gw.url, "GET", `/api/admin/connections/${id}`)).text);
    }
    collected.push((await adminJson(gw.url, "GET", "/api/admin/credential-variables")).text);
    collected.push((await rawRequest(gw.url, "/metrics")).text);
    await gw.proxy.usage.flush();
    const redisDump = await dumpPrefix(gw.config.redisPrefix);
    const outputs = {
      logs: logs.join("\n"),
      responses: collected.filter((t) => !t.includes('"headers":{"host"')).join("\n"),
      redis: redisDump,
    };
    assert.ok(logs.length > 10, "logs were captured");
    assert.ok(logs.some((l) => l.includes("proxy_request_end")));
    for (const secret of [...Object.values(SECRETS), "xoxb-SLACK-SECRET"]) {
      for (const [where, text] of Object.entries(outputs)) {
        assert.ok(!text.includes(secret), `secret found in ${where}`);
        assert.ok(!text.includes(Buffer.from(secret).toString("base64")), `base64 secret found in ${where}`);
      }
    }
  });
});

describe("upstream failures (down, slow, resetting) and socket hygiene", () => {
  const gw = useProxy(() => testConfig({ proxyTimeoutMs: 1000 }));
  let slow: Server;
  let reset: Server;
  let midReset: Server;
  let deadPort: number;
  const listen = async (server: Server) => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return (server.address() as AddressInfo).port;
  };

  before(async () => {
    slow = createServer((_req, _res) => {
      // never answers
    });
    reset = createServer((req) => req.socket.destroy());
    midReset = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("partial");
      setTimeout(() => res.socket?.destroy(), 20);
    });
    deadPort = await unusedPort();
    const ports = {
      slow: await listen(slow),
      reset: await listen(reset),
      "mid-reset": await listen(midReset),
    };
    for (const [id, port] of [...Object.entries(ports), ["dead", deadPort] as const]) {
      const res = await adminJson(gw.url, "POST", "/api/admin/connections", {
        id: `${id}-up`,
        base_url: `http://127.0.0.1:${port}`,
        auth_secret_key: "k",
        secrets: { k: "failure-path-SECRET-9" },
      });
      assert.equal(res.status, 201, res.text);
    }
  });

  after(async () => {
    for (const s of [slow, reset, midReset]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  const get = (path: string) => authorizedGet(gw.url, path);

  test("upstream down → 502 UPSTREAM_ERROR", async () => {
    const res = await get("/proxy/dead-up/x");
    assert.equal(res.status, 502);
    assert.equal(res.json().code, "UPSTREAM_ERROR");
    assert.ok(!res.text.includes("failure-path-SECRET-9"));
  });

  test("upstream slower than GATEWAY_PROXY_TIMEOUT_SECONDS → 504 UPSTREAM_TIMEOUT", async () => {
    const started = Date.now();
    const res = await get("/proxy/slow-up/x");
    assert.equal(res.status, 504);
    assert.equal(res.json().code, "UPSTREAM_TIMEOUT");
    assert.ok(Date.now() - started < 5000);
  });

  test("upstream resetting the connection → 502; a reset mid-body breaks the client response", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await get("/proxy/reset-up/x");
      assert.equal(res.status, 502);
      assert.equal(res.json().code, "UPSTREAM_ERROR");
    }
    await assert.rejects(get("/proxy/mid-reset-up/x"));
  });

  test("no socket leak: nothing pending or running, no open sockets to dead or slow upstreams", async () => {
    await eventually(() => {
      const stats = gw.proxy.forwarder.stats as Record<
        string,
        { pending: number; running: number; connected: number }
      >;
      return Object.values(stats).every((s) => s.pending === 0 && s.running === 0);
    });
    const stats = gw.proxy.forwarder.stats as Record<string, { connected: number }>;
    const slowPort = (slow.address() as AddressInfo).port;
    const resetPort = (reset.address() as AddressInfo).port;
    assert.equal(stats[`http://127.0.0.1:${slowPort}`]?.connected ?? 0, 0, "timed-out socket was closed");
    assert.equal(stats[`http://127.0.0.1:${resetPort}`]?.connected ?? 0, 0);
    const counts = await new Promise<number>((r) => slow.getConnections((_e, n) => r(n)));
    assert.equal(counts, 0, "slow upstream sees no lingering connection");
    const metrics = await rawRequest(gw.url, "/metrics");
    assert.match(metrics.text, /sigilum_gateway_upstream_error_total\{class="upstream_error"[^}]*\} \d+/);
    assert.match(metrics.text, /sigilum_gateway_upstream_error_total\{class="http_504"/);
  });
});

describe("rotation enforcement", () => {
  test("warn adds X-Sigilum-Rotation-Warning; block answers 403 ROTATION_REQUIRED", async () => {
    const upstream = await startUpstream();
    const later = () => Date.now() + 40 * 86_400_000;
    const creator = await startProxy(testConfig());
    const shared = { redisPrefix: creator.config.redisPrefix, masterKey: creator.config.masterKey };
    const warn = await startProxy(testConfig({ rotationEnforcement: "warn", ...shared }), { now: later });
    const block = await startProxy(testConfig({ rotationEnforcement: "block", ...shared }), { now: later });
    try {
      const created = await adminJson(creator.url, "POST", "/api/admin/connections", {
        id: "rot-conn",
        base_url: upstream.url,
        auth_secret_key: "k",
        secrets: { k: "rotation-SECRET" },
        rotation_interval_days: 30,
      });
      assert.equal(created.status, 201);
      const path = "/proxy/rot-conn/x";
      const warned = await authorizedGet(warn.url, path);
      assert.equal(warned.status, 200);
      assert.match(
        String(warned.headers["x-sigilum-rotation-warning"]),
        /^connection "rot-conn" secret rotation is overdue/,
      );
      const blocked = await authorizedGet(block.url, path);
      assert.equal(blocked.status, 403);
      assert.equal(blocked.json().code, "ROTATION_REQUIRED");
      const rotated = await adminJson(block.url, "POST", "/api/admin/connections/rot-conn/rotate", {
        secrets: { k: "rotation-SECRET-2" },
      });
      assert.equal(rotated.status, 200);
      // The rotation happened "now" in the block proxy's clock, so it is no longer overdue there.
      const after = await authorizedGet(block.url, path);
      assert.equal(after.status, 200);
      assert.equal(after.json().headers.authorization, "Bearer rotation-SECRET-2");
    } finally {
      await creator.stop();
      await warn.stop();
      await block.stop();
      await upstream.close();
      await deletePrefix(creator.config.redisPrefix);
    }
  });
});
