import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { after, before, describe, test } from "node:test";
import { type ServiceProcess, serviceMain, spawnService } from "@sigilum-gw/testkit/process";
import { REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";
import { MAX_CODE_ATTEMPTS } from "../../services/control-plane/src/pairing/sessions.ts";
import {
  handshake,
  startTestControlPlane,
  type TestControlPlane,
} from "../../services/control-plane/test/helpers.ts";
import { type approvedAgent, createConnection, sign, startGateway } from "./support/agent.ts";
import { send, sendSigned } from "./support/http.ts";
import { scanForSecrets } from "./support/secrets.ts";
import { INTERNAL_SECRET, MASTER_KEY, type Stack } from "./support/stack.ts";

/**
 * Finding 1 (HIGH): a web page in the operator's browser drove the loopback admin API with `text/plain` bodies
 * (no preflight) and through DNS rebinding (any Host). Each attack is what a browser sends; each must be
 * refused with its own code, and nothing may change: the agent's next request still carries the real key.
 */

const REAL_KEY = "real-upstream-key-4f1c";
const ATTACKER_KEY = "ATTACKER-KEY";

describe("admin API against browser attacks", () => {
  let stack: Stack;
  let gw: string;
  let port: string;
  let agent: ReturnType<typeof approvedAgent>;

  before(async () => {
    ({ stack, gw, agent } = await startGateway(["svc2"]));
    port = new URL(gw).port;
    await createConnection(gw, "svc2", stack.upstream.url, REAL_KEY);
  });
  after(() => stack?.stop());

  async function upstreamKeyNow(): Promise<string | undefined> {
    const before = stack.upstream.requests.length;
    const reply = await sendSigned(gw, sign(agent, gw, "/proxy/svc2/whoami"));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(stack.upstream.requests.length, before + 1);
    return stack.upstream.requests.at(-1)?.headers.authorization;
  }

  test("cross-site text/plain rotate (the reported exploit) → 403 ADMIN_ORIGIN_NOT_ALLOWED, key unchanged", async () => {
    const reply = await send(gw, "/api/admin/connections/svc2/rotate", {
      method: "POST",
      headers: { origin: "http://evil.example", "content-type": "text/plain" },
      body: JSON.stringify({ secrets: { k: ATTACKER_KEY } }),
    });
    assert.equal(reply.status, 403);
    assert.equal(reply.code, "ADMIN_ORIGIN_NOT_ALLOWED");
    assert.equal(reply.headers["access-control-allow-origin"], undefined);
    assert.equal(await upstreamKeyNow(), `Bearer ${REAL_KEY}`);
  });

  test("text/plain create without Origin → 415 ADMIN_CONTENT_TYPE_UNSUPPORTED, nothing created", async () => {
    const reply = await send(gw, "/api/admin/connections", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({
        id: "evil-conn",
        base_url: "http://evil.example",
        auth_secret_key: "k",
        secrets: { k: "x" },
      }),
    });
    assert.equal(reply.status, 415);
    assert.equal(reply.code, "ADMIN_CONTENT_TYPE_UNSUPPORTED");
    assert.equal((await send(gw, "/api/admin/connections/evil-conn")).status, 404);
  });

  test("form body and no Content-Type with a body → 415 ADMIN_CONTENT_TYPE_UNSUPPORTED", async () => {
    for (const headers of [
      { "content-type": "application/x-www-form-urlencoded" },
      { "content-type": "multipart/form-data; boundary=x" },
      {} as Record<string, string>,
    ]) {
      const reply = await send(gw, "/api/admin/connections/svc2/rotate", {
        method: "POST",
        headers,
        body: `{"secrets":{"k":"${ATTACKER_KEY}"}}`,
      });
      assert.equal(reply.status, 415, JSON.stringify(headers));
      assert.equal(reply.code, "ADMIN_CONTENT_TYPE_UNSUPPORTED");
    }
    assert.equal(await upstreamKeyNow(), `Bearer ${REAL_KEY}`);
  });

  test("Sec-Fetch-Site: cross-site, even as JSON without Origin → 403 ADMIN_CROSS_SITE_REFUSED", async () => {
    const reply = await send(gw, "/api/admin/connections/svc2/rotate", {
      method: "POST",
      headers: { "sec-fetch-site": "cross-site", "content-type": "application/json" },
      body: JSON.stringify({ secrets: { k: ATTACKER_KEY } }),
    });
    assert.equal(reply.status, 403);
    assert.equal(reply.code, "ADMIN_CROSS_SITE_REFUSED");
    assert.equal(await upstreamKeyNow(), `Bearer ${REAL_KEY}`);
  });

  test("DNS rebinding: Host evil.example → 403 ADMIN_HOST_NOT_ALLOWED for reads and writes", async () => {
    const read = await send(gw, "/api/admin/connections", { headers: { host: `evil.example:${port}` } });
    assert.equal(read.status, 403);
    assert.equal(read.code, "ADMIN_HOST_NOT_ALLOWED");
    assert.doesNotMatch(read.text, /svc2/);
    const write = await send(gw, "/api/admin/connections/svc2/rotate", {
      method: "POST",
      headers: { host: `rebind.evil.example:${port}`, "content-type": "application/json" },
      body: JSON.stringify({ secrets: { k: ATTACKER_KEY } }),
    });
    assert.equal(write.status, 403);
    assert.equal(write.code, "ADMIN_HOST_NOT_ALLOWED");
    const metrics = await send(gw, "/metrics", { headers: { host: `evil.example:${port}` } });
    assert.equal(metrics.code, "ADMIN_HOST_NOT_ALLOWED");
    assert.equal(await upstreamKeyNow(), `Bearer ${REAL_KEY}`);
  });

  test("CORS preflight from a foreign origin gets no allow headers", async () => {
    const reply = await send(gw, "/api/admin/connections", {
      method: "OPTIONS",
      headers: {
        origin: "http://evil.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    assert.equal(reply.headers["access-control-allow-origin"], undefined);
    assert.equal(reply.headers["access-control-allow-methods"], undefined);
  });

  test("still allowed: the CLI (JSON, no Origin), localhost Host, an allowlisted dashboard origin", async () => {
    const cli = await send(gw, "/api/admin/connections", { headers: { host: `localhost:${port}` } });
    assert.equal(cli.status, 200, cli.text);
    const dashboard = await send(gw, "/api/admin/connections/svc2", {
      headers: { origin: "http://localhost:3000", "sec-fetch-site": "same-site" },
    });
    assert.equal(dashboard.status, 200, dashboard.text);
    assert.equal(dashboard.headers["access-control-allow-origin"], "http://localhost:3000");
  });
});

/** A non-loopback address of this host, so a request really arrives from outside loopback. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

describe("admin API from a non-loopback address", () => {
  const address = externalAddress();
  let proxy: ServiceProcess | undefined;
  before(async () => {
    if (!address) return;
    proxy = await spawnService(serviceMain("proxy"), "proxy listening", {
      AUTHZ_MODE: "envoy",
      PROXY_ADDR: `${address}:0`,
      REDIS_URL,
      REDIS_PREFIX: randomPrefix(),
      GATEWAY_INTERNAL_SECRET: INTERNAL_SECRET,
      GATEWAY_MASTER_KEY: MASTER_KEY,
    });
  });
  after(() => proxy?.stop());

  test("spoofed X-Forwarded-For / X-Real-IP / Forwarded: 127.0.0.1 → 403 ADMIN_TOKEN_OR_LOOPBACK_REQUIRED", async (t) => {
    if (!address || !proxy) return t.diagnostic("this host has no non-loopback IPv4 address");
    const reply = await send(`http://${address}:${proxy.port}`, "/api/admin/connections", {
      headers: {
        "x-forwarded-for": "127.0.0.1",
        "x-real-ip": "127.0.0.1",
        forwarded: "for=127.0.0.1",
      },
    });
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.code, "ADMIN_TOKEN_OR_LOOPBACK_REQUIRED");
  });
});

describe("control plane API against browser attacks", () => {
  let cp: TestControlPlane;
  let cpPort: string;
  let token: string;
  before(async () => {
    cp = await startTestControlPlane({ freshDatabase: true });
    cpPort = new URL(cp.url).port;
    token = await cp.token("owner-browser");
  });
  after(() => cp?.stop());

  const createService = (headers: Record<string, string>, body: string) =>
    send(cp.url, "/v1/services", {
      method: "POST",
      headers: { cookie: `sigilum_token=${token}`, ...headers },
      body,
    });
  const serviceBody = JSON.stringify({
    name: "Evil",
    slug: "evil-svc",
    domain: "evil.example",
    description: "x",
  });

  test("cookie-authenticated text/plain create → 415 ADMIN_CONTENT_TYPE_UNSUPPORTED", async () => {
    const reply = await createService({ "content-type": "text/plain" }, serviceBody);
    assert.equal(reply.status, 415, reply.text);
    assert.equal(reply.code, "ADMIN_CONTENT_TYPE_UNSUPPORTED");
  });

  test("foreign Origin → 403 ADMIN_ORIGIN_NOT_ALLOWED; Sec-Fetch-Site cross-site → 403 ADMIN_CROSS_SITE_REFUSED", async () => {
    const origin = await createService(
      { origin: "http://evil.example", "content-type": "application/json" },
      serviceBody,
    );
    assert.equal(origin.status, 403, origin.text);
    assert.equal(origin.code, "ADMIN_ORIGIN_NOT_ALLOWED");
    const site = await createService(
      { "sec-fetch-site": "cross-site", "content-type": "application/json" },
      serviceBody,
    );
    assert.equal(site.status, 403, site.text);
    assert.equal(site.code, "ADMIN_CROSS_SITE_REFUSED");
  });

  test("DNS rebinding: Host evil.example → 403 ADMIN_HOST_NOT_ALLOWED; nothing was created", async () => {
    const reply = await send(cp.url, "/v1/services", {
      headers: { host: `evil.example:${cpPort}`, cookie: `sigilum_token=${token}` },
    });
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.code, "ADMIN_HOST_NOT_ALLOWED");
    const list = await cp.owner(token, "GET", "/v1/services");
    assert.equal(list.status, 200);
    assert.equal(JSON.stringify(list.body).includes("evil-svc"), false);
  });

  test("secrets scan: the owner session and the JWT secret are not in the database", async () => {
    assert.ok(cp.databaseUrl);
    const findings = await scanForSecrets({
      secrets: { "owner session token": token, "JWT secret": cp.cp.deps.jwtSecret },
      databaseUrl: cp.databaseUrl,
    });
    assert.deepEqual(findings, []);
  });

  test("health stays open to probes under any Host; same-origin JSON with the cookie works", async () => {
    const health = await send(cp.url, "/health", { headers: { host: `10.1.2.3:${cpPort}` } });
    assert.equal(health.status, 200);
    // The dashboard's own calls: same origin, JSON, and the dashboard header (services/control-plane/README.md).
    const own = await createService(
      {
        origin: `http://127.0.0.1:${cpPort}`,
        "content-type": "application/json",
        "x-sigilum-dashboard": "1",
      },
      JSON.stringify({ name: "Good", slug: "good-svc", domain: "example.com", description: "ok" }),
    );
    assert.equal(own.status, 201, own.text);
  });
});

describe("control plane pairing WebSocket against browser attacks", () => {
  const DASHBOARD = "https://dashboard.example";
  let cp: TestControlPlane;
  let cpPort: string;
  let connect: (code: string) => string;
  let session: { session_id: string; pair_code: string };
  before(async () => {
    cp = await startTestControlPlane({
      freshDatabase: true,
      redis: true,
      env: { ALLOWED_ORIGINS: DASHBOARD },
    });
    cpPort = new URL(cp.url).port;
    const started = await cp.owner(await cp.token("owner-pairing"), "POST", "/v1/gateway/pairing/start", {});
    assert.equal(started.status, 200, JSON.stringify(started.body));
    session = started.body;
    connect = (code) => `${cp.url}/v1/gateway/pairing/connect?session_id=${session.session_id}&code=${code}`;
  });
  after(() => cp?.stop());

  test("a page's handshake → 403: foreign, allowlisted or same Origin ADMIN_ORIGIN_NOT_ALLOWED, cross-site ADMIN_CROSS_SITE_REFUSED, rebinding Host ADMIN_HOST_NOT_ALLOWED", async () => {
    const right = connect(session.pair_code);
    const refusals: [Record<string, string>, string][] = [
      [{ origin: "http://evil.example" }, "ADMIN_ORIGIN_NOT_ALLOWED"],
      // The dashboard's own origin has no business opening the bridge's socket either.
      [{ origin: DASHBOARD }, "ADMIN_ORIGIN_NOT_ALLOWED"],
      [{ origin: `http://127.0.0.1:${cpPort}` }, "ADMIN_ORIGIN_NOT_ALLOWED"],
      [{ "sec-fetch-site": "cross-site" }, "ADMIN_CROSS_SITE_REFUSED"],
      [{ host: `evil.example:${cpPort}` }, "ADMIN_HOST_NOT_ALLOWED"],
    ];
    for (const [headers, code] of refusals) {
      const reply = await handshake(right, headers);
      assert.equal(reply.status, 403, JSON.stringify(headers));
      assert.equal(reply.body?.code, code, JSON.stringify(headers));
    }
  });

  test("refused handshakes spend no code attempt; the bridge (no Origin) still opens the session", async () => {
    for (let i = 0; i <= MAX_CODE_ATTEMPTS; i++) {
      const reply = await handshake(connect("WRONGCDE"), { origin: "http://evil.example" });
      assert.equal(reply.status, 403);
      assert.equal(reply.body?.code, "ADMIN_ORIGIN_NOT_ALLOWED");
    }
    const { rows } = await cp.cp.deps.db.query<{ failed_attempts: number }>(
      "SELECT failed_attempts FROM pairing_sessions WHERE id = $1",
      [session.session_id],
    );
    assert.equal(rows[0]?.failed_attempts, 0);
    assert.deepEqual(await handshake(connect(session.pair_code), {}), { status: 101 });
  });
});
