import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startRecordingServer } from "@sigilum-gw/testkit/network";
import { runScript, serviceMain } from "@sigilum-gw/testkit/process";
import { dumpPrefix } from "@sigilum-gw/testkit/redis";
import pg from "pg";
import { startFrameCapture } from "./capture.ts";
import {
  ADMIN_TOKEN,
  call,
  cpUrl,
  type Json,
  ownerToken,
  type PairingStack,
  relay,
  startBridge,
  startPairingStack,
  until,
} from "./stack.ts";

/**
 * Gateway pairing with real processes: two control-plane replicas (PostgreSQL + Redis), a proxy, pairing
 * bridges. The owner relays admin commands through whichever replica; the bridge may sit on another one.
 */

describe("gateway pairing relay", { timeout: 240_000 }, () => {
  let stack: PairingStack;
  let namespace: string;
  let token: string;
  const cpA = () => cpUrl(stack.controlPlanes[0]!);
  const cpB = () => cpUrl(stack.controlPlanes[1]!);

  before(async () => {
    stack = await startPairingStack();
    namespace = `pair-${randomBytes(4).toString("hex")}`;
    token = await ownerToken(namespace);
  });
  after(async () => {
    if (process.env.DEBUG_PAIRING) for (const p of stack.controlPlanes) console.log(p.output().slice(-3000));
    await stack?.stop();
  });

  const start = async (base: string, body: unknown = {}) => {
    const res = await call(base, token, "POST", "/v1/gateway/pairing/start", body);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as {
      session_id: string;
      pair_code: string;
      namespace: string;
      expires_at: string;
      ws_url: string;
    };
  };
  const status = async (base: string, session: string) =>
    (await call(base, token, "GET", `/v1/gateway/pairing/status?session_id=${session}`)).body as Json;
  const connected = (base: string, session: string) =>
    until("the bridge to connect", 20_000, async () => {
      const s = await status(base, session);
      return s.connected && s.gateway_public_key ? s : undefined;
    });

  test("an owner's command reaches the proxy admin API through a bridge on another replica; secrets stay sealed", async () => {
    const secret = `sk-pairing-${randomBytes(12).toString("hex")}`;
    const upstream = await startRecordingServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
    const session = await start(cpA());
    assert.match(session.pair_code, /^[A-HJ-NP-Z2-9]{8}$/);
    assert.equal(session.namespace, namespace);
    assert.match(session.ws_url, /^ws:\/\/.*\/v1\/gateway\/pairing\/connect\?session_id=/);
    const capture = await startFrameCapture(cpB());
    const bridge = await startBridge(stack, session, capture.url);
    try {
      const s = await connected(cpA(), session.session_id);
      assert.equal(s.key_algorithm, "x25519-xsalsa20poly1305-sealedbox");
      assert.equal(typeof s.expires_at, "number");

      const list = await relay(cpA(), token, session.session_id, {
        method: "GET",
        path: "/api/admin/connections",
      });
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.equal(list.body.status, 200);
      assert.deepEqual(JSON.parse(list.body.body), { connections: [] });
      assert.match(list.body.request_id, /^[0-9a-f-]{36}$/);

      const created = await relay(cpA(), token, session.session_id, {
        method: "POST",
        path: "/api/admin/connections",
        body: {
          id: "relayed",
          base_url: upstream.url,
          auth_secret_key: "api_key",
          secrets: { api_key: secret },
        },
      });
      assert.equal(created.body.status, 201, created.body.body);
      assert.equal(JSON.parse(created.body.body).id, "relayed");

      // The proxy opened the sealed value: its connection test sends the real credential upstream.
      const tested = await relay(cpB(), token, session.session_id, {
        method: "POST",
        path: "/api/admin/connections/relayed/test",
      });
      assert.equal(tested.body.status, 200, tested.body.body);
      assert.equal(upstream.requests.at(-1)?.headers.authorization, `Bearer ${secret}`);

      const clear = await call(cpA(), token, "POST", "/v1/gateway/pairing/command", {
        session_id: session.session_id,
        method: "POST",
        path: "/api/admin/credential-variables",
        body: JSON.stringify({ key: "PLAIN", value: secret }),
      });
      assert.equal(clear.status, 400);
      assert.equal(clear.body.code, "SECRET_NOT_SEALED");
      assert.deepEqual(clear.body.details, { fields: ["value"] });

      // The sealed value made it to the proxy only: no control-plane log, bridge log, frame, row or Redis value.
      const frames = capture.frames.join("\n");
      assert.ok(frames.includes('\\"sealed\\":\\"'), "the secret crossed the socket sealed");
      const places: Record<string, string> = {
        frames,
        "control-plane logs": stack.controlPlanes.map((p) => p.output()).join("\n"),
        "bridge logs": bridge.output(),
        "proxy logs": stack.proxy.output(),
        database: await dumpDatabase(stack.db.url),
        redis: await dumpPrefix(stack.prefix),
      };
      for (const [where, text] of Object.entries(places)) {
        assert.ok(text.length > 0, `${where} captured nothing`);
        assert.ok(!text.includes(secret), `the secret appears in clear in the ${where}`);
      }
    } finally {
      await bridge.stop();
      await capture.close();
      await upstream.close();
    }
  });

  test("relays outside the allowlist are refused by the bridge; admin credentials come from the bridge only", async () => {
    const session = await start(cpA());
    const bridge = await startBridge(stack, session, cpB());
    try {
      await connected(cpA(), session.session_id);
      for (const [method, path] of [
        ["GET", "/api/admin/pairing-key"],
        ["GET", "/metrics"],
        ["GET", "/api/admin/connections?limit=1"],
        ["GET", "/api/admin/connections/../credential-variables"],
        ["DELETE", "/api/admin/service-catalog"],
        ["GET", "/proxy/relayed/v1/data"],
      ] as const) {
        const res = await relay(cpA(), token, session.session_id, { method, path });
        assert.equal(res.status, 200, `${method} ${path}`);
        assert.equal(res.body.status, 400, `${method} ${path}`);
        assert.equal(res.body.error, "Unsupported relay path or method");
      }
      // An owner-supplied admin token is dropped; the bridge's own token still lets the command through.
      const res = await call(cpA(), token, "POST", "/v1/gateway/pairing/command", {
        session_id: session.session_id,
        method: "GET",
        path: "/api/admin/connections",
        headers: { "x-sigilum-admin-token": "wrong", authorization: "Bearer wrong" },
      });
      assert.equal(res.body.status, 200);
    } finally {
      await bridge.stop();
    }
    const after = await status(cpB(), session.session_id);
    assert.equal(after.connected, false);
    const offline = await relay(cpB(), token, session.session_id, {
      method: "GET",
      path: "/api/admin/connections",
    });
    assert.equal(offline.status, 503);
    assert.equal(offline.body.code, "GATEWAY_NOT_CONNECTED");
  });

  test("control plane killed: the bridge reconnects with growing delays, then resumes relaying", async () => {
    const lone = await stack.startControlPlane();
    const port = lone.port;
    const session = await start(cpUrl(lone));
    const bridge = await startBridge(stack, session, cpUrl(lone));
    const bridgeUrl = `http://127.0.0.1:${bridge.port}`;
    try {
      await connected(cpA(), session.session_id);
      assert.equal((await fetch(`${bridgeUrl}/health/ready`)).status, 200);
      await lone.stop("SIGKILL");
      const delays = await until("four reconnect attempts", 30_000, async () => {
        const found = logLines(bridge.output())
          .filter((l) => l.msg?.startsWith("reconnecting in"))
          .map((l) => l.delay_ms as number);
        return found.length >= 4 ? found : undefined;
      });
      for (let i = 0; i + 2 < delays.length; i++)
        assert.ok(delays[i + 2]! > delays[i]!, `delays grow: ${delays}`);
      const health = (await (await fetch(`${bridgeUrl}/health`)).json()) as Json;
      assert.notEqual(health.pairing.state, "connected");
      assert.ok(health.pairing.failed_attempts >= 3);
      assert.equal((await fetch(`${bridgeUrl}/health/ready`)).status, 503);

      const offline = await status(cpA(), session.session_id);
      assert.equal(offline.connected, false, "a crashed replica's lease does not count as connected");
      const back = await stack.startControlPlane(port);
      await connected(cpUrl(back), session.session_id);
      const res = await relay(cpA(), token, session.session_id, {
        method: "GET",
        path: "/api/admin/connections",
      });
      assert.equal(res.body.status, 200, JSON.stringify(res.body));
      const opened = logLines(bridge.output()).filter((l) => l.msg?.startsWith("websocket connected"));
      assert.equal(opened.length, 2);
      assert.equal((await fetch(`${bridgeUrl}/health/ready`)).status, 200);
    } finally {
      await bridge.stop();
    }
  });

  test("an expired session or a wrong code stops the bridge with exit 42 and PAIR_SESSION_TERMINAL", async () => {
    const expired = await start(cpA(), { ttl_seconds: 30 });
    await onDatabase(stack.db.url, (c) =>
      c.query("UPDATE pairing_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", [
        expired.session_id,
      ]),
    );
    const wrong = await start(cpA());
    for (const [session, code, marker] of [
      [expired, expired.pair_code, /PAIR_SESSION_EXPIRED/],
      [wrong, "AAAAAAAA", /PAIR_CODE_INVALID/],
    ] as const) {
      const run = await runScript(
        serviceMain("pairing-bridge"),
        [
          "--session-id",
          session.session_id,
          "--pair-code",
          code,
          "--namespace",
          namespace,
          "--api-url",
          cpB(),
          "--gateway-admin-url",
          stack.proxyUrl,
        ],
        {
          env: { PATH: process.env.PATH, BRIDGE_ADDR: "127.0.0.1:0", GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN },
          timeoutMs: 30_000,
        },
      );
      assert.equal(run.code, 42, run.stderr);
      assert.match(run.stdout, /^\[sigilum\] gateway pairing bridge starting$/m);
      assert.match(run.stdout, /^\[sigilum\] preflight: ok$/m);
      assert.match(run.stderr, /^\[sigilum\] PAIR_SESSION_TERMINAL: /m);
      assert.match(run.stderr, marker);
      assert.ok(!run.stdout.includes(code) && !run.stderr.includes(code), "the pair code is never printed");
    }
  });
});

interface LogLine {
  msg?: string;
  [k: string]: unknown;
}

function logLines(output: string): LogLine[] {
  return output.split("\n").flatMap((line) => {
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

async function onDatabase<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Every row of every table, as JSON text. */
function dumpDatabase(url: string): Promise<string> {
  return onDatabase(url, async (c) => {
    const { rows } = await c.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    );
    const parts: string[] = [];
    for (const { tablename } of rows) {
      parts.push(JSON.stringify((await c.query(`SELECT * FROM "${tablename}"`)).rows));
    }
    return parts.join("\n");
  });
}
