import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { defaultEd25519Backend } from "@sigilum-gw/shared/ed25519";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import {
  createIdentity,
  encodeCertificateHeader,
  issueCertificate,
  type SigilumIdentity,
} from "@sigilum-gw/shared/identity";
import { createConnection, sign, startGateway } from "./support/agent.ts";
import { type Reply, send, sendRaw, sendSigned } from "./support/http.ts";
import { refusedUnforwarded } from "./support/refused.ts";
import { scanForSecrets } from "./support/secrets.ts";
import { ADMIN_TOKEN, INTERNAL_SECRET, MASTER_KEY, type Stack } from "./support/stack.ts";

/**
 * The named attacks against one running gateway (verifier + proxy processes, inline mode): each asserts the exact
 * status and code and that the upstream received nothing. The last test scans logs, metrics and Redis for every
 * secret the run handled.
 */

const UPSTREAM_SECRET = `upstream-SECRET-${randomBytes(8).toString("hex")}`;
const QUERY_SECRET = `query-SECRET-${randomBytes(8).toString("hex")}`;

describe("attacks on the runtime path", () => {
  let stack: Stack;
  let gw: string;
  let agent: SigilumIdentity;

  before(async () => {
    ({ stack, gw, agent } = await startGateway(["api", "qkey"]));
    await createConnection(gw, "api", stack.upstream.url, UPSTREAM_SECRET);
    await createConnection(gw, "qkey", stack.upstream.url, QUERY_SECRET, {
      auth_mode: "query_param",
      auth_header_name: "api_key",
    });
  });
  after(() => stack?.stop());

  /** Runs `attack`, then checks the answer and that the upstream saw nothing. */
  const refused = (attack: () => Promise<Reply>, status: number, code: string, what = "") =>
    refusedUnforwarded(stack, attack, status, code, what);

  test("tampering: every signed component changed after signing → 403, never forwarded", async () => {
    const base = () => sign(agent, gw, "/proxy/api/orders?limit=1", { method: "POST", body: '{"qty":1}' });
    const other = createIdentity("agent-other");
    type Signed = ReturnType<typeof base>;
    type Change = (s: Signed) => { path?: string; method?: string };
    const header =
      (name: string, value: (s: Signed) => string): Change =>
      (s) => {
        s.headers[name] = value(s);
        return {};
      };
    const input = (from: RegExp, to: string) =>
      header("signature-input", (s) => s.headers["signature-input"]!.replace(from, to));
    const older = `created=${Math.floor(Date.now() / 1000) - 1}`;
    const tamper: [string, Change, string][] = [
      ["method", () => ({ method: "PUT" }), "AUTH_SIGNATURE_INVALID"],
      ["path", () => ({ path: "/proxy/api/admin?limit=1" }), "AUTH_SIGNATURE_INVALID"],
      ["query", () => ({ path: "/proxy/api/orders?limit=1000" }), "AUTH_SIGNATURE_INVALID"],
      [
        "body",
        (s) => {
          s.body = Buffer.from('{"qty":9}');
          return {};
        },
        "AUTH_SIGNATURE_INVALID",
      ],
      ["content-digest", header("content-digest", () => "sha-256=:AAAA:"), "AUTH_SIGNATURE_INVALID"],
      ["sigilum-subject", header("sigilum-subject", () => "admin"), "AUTH_SIGNATURE_INVALID"],
      ["sigilum-namespace", header("sigilum-namespace", () => "victim-ns"), "AUTH_IDENTITY_INVALID"],
      ["sigilum-agent-key", header("sigilum-agent-key", () => other.publicKey), "AUTH_IDENTITY_INVALID"],
      ["signature created", input(/created=\d+/, older), "AUTH_SIGNATURE_INVALID"],
      ["signature nonce", input(/nonce="[^"]+"/, 'nonce="other"'), "AUTH_SIGNATURE_INVALID"],
      [
        "signature bytes",
        header("signature", () => `sig1=:${Buffer.alloc(64, 7).toString("base64")}:`),
        "AUTH_SIGNATURE_INVALID",
      ],
      [
        "component list without the subject",
        input(/ "sigilum-subject"/, ""),
        "AUTH_SIGNED_COMPONENTS_INVALID",
      ],
    ];
    for (const [what, change, code] of tamper) {
      const signed = base();
      const { path, method } = change(signed);
      await refused(
        () => sendSigned(gw, { ...signed, method: method ?? signed.method }, path ? { path } : {}),
        403,
        code,
        what,
      );
    }
  });

  test("certificate forgery and key substitution → 403, never forwarded", async () => {
    const attacker = createIdentity("agent-attacker");
    const victimCert = agent.certificate;
    // The victim's certificate with the attacker's key written in, proof unchanged: the proof fails.
    const tampered = sign(attacker, gw, "/proxy/api/forged");
    tampered.headers["sigilum-agent-cert"] = encodeCertificateHeader({
      ...victimCert,
      keyId: attacker.keyId,
      publicKey: attacker.publicKey,
    });
    tampered.headers["sigilum-namespace"] = agent.namespace;
    await refused(() => sendSigned(gw, tampered), 403, "AUTH_IDENTITY_INVALID", "tampered certificate");
    // The victim's valid certificate with the attacker's key and signature: key and certificate disagree.
    const substituted = sign(attacker, gw, "/proxy/api/substituted");
    substituted.headers["sigilum-agent-cert"] = encodeCertificateHeader(victimCert);
    substituted.headers["sigilum-namespace"] = agent.namespace;
    await refused(() => sendSigned(gw, substituted), 403, "AUTH_IDENTITY_INVALID", "substituted key");
    // A valid self-issued certificate claiming the victim's namespace: approval binds the key, not the name.
    const selfIssued = issueCertificate(defaultEd25519Backend(), attacker.privateKey, {
      namespace: agent.namespace,
      did: agent.did,
      keyId: attacker.keyId,
      publicKey: attacker.publicKey,
      issuedAt: new Date().toISOString(),
      expiresAt: null,
    });
    const claimed = signRequest(
      { ...attacker, namespace: agent.namespace, did: agent.did, certificate: selfIssued },
      { url: `${gw}/proxy/api/claimed` },
    );
    await refused(() => sendSigned(gw, claimed), 403, "AUTH_CLAIM_REQUIRED", "self-issued certificate");
  });

  test("duplicate signing headers → 403 AUTH_HEADERS_INVALID; folded, CRLF and NUL headers → 400", async () => {
    const signed = sign(agent, gw, "/proxy/api/dup");
    await refused(
      () => sendSigned(gw, signed, { headers: [["sigilum-subject", "admin"]] }),
      403,
      "AUTH_HEADERS_INVALID",
      "second sigilum-subject",
    );
    await refused(
      () => sendSigned(gw, signed, { headers: [["signature", signed.headers.signature!]] }),
      403,
      "AUTH_HEADERS_INVALID",
      "second signature",
    );
    const host = new URL(gw).host;
    const lines = Object.entries(signed.headers)
      .map(([n, v]) => `${n}: ${v}\r\n`)
      .join("");
    const before = stack.upstream.requests.length;
    for (const [what, extra] of [
      ["obs-fold", "sigilum-subject: alice\r\n admin\r\n"],
      ["NUL", "x-note: a\u0000b\r\n"],
      ["bare CR", "x-note: a\rsigilum-subject: admin\r\n"],
    ] as const) {
      const raw = await sendRaw(
        gw,
        `GET /proxy/api/dup HTTP/1.1\r\nhost: ${host}\r\n${lines}${extra}connection: close\r\n\r\n`,
      );
      assert.deepEqual(raw.statuses, [400], `${what}: ${raw.text}`);
    }
    assert.equal(stack.upstream.requests.length, before);
  });

  test("CL/TE conflicts and smuggled second requests (raw sockets) → 400, nothing forwarded", async () => {
    const host = new URL(gw).host;
    const smuggled = "GET /proxy/api/smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    const before = stack.upstream.requests.length;
    for (const [what, head, body] of [
      ["CL and TE", "content-length: 4\r\ntransfer-encoding: chunked\r\n", `0\r\n\r\n${smuggled}`],
      ["two different CL", "content-length: 4\r\ncontent-length: 60\r\n", `abcd${smuggled}`],
      ["TE not chunked-last", "transfer-encoding: chunked, identity\r\n", `0\r\n\r\n${smuggled}`],
      ["TE obfuscated", "transfer-encoding : chunked\r\n", `0\r\n\r\n${smuggled}`],
    ] as const) {
      const raw = await sendRaw(gw, `POST /proxy/api/x HTTP/1.1\r\nhost: ${host}\r\n${head}\r\n${body}`);
      assert.equal(raw.statuses[0], 400, `${what}: ${raw.text}`);
      assert.ok(
        raw.statuses.every((s) => s === 400),
        `${what}: ${raw.statuses}`,
      );
    }
    assert.equal(stack.upstream.requests.length, before);
  });

  test("oversize: a 100 MB body → 413 REQUEST_BODY_TOO_LARGE at once; 2 MiB of headers → 431", async () => {
    const started = Date.now();
    const host = new URL(gw).host;
    const before = stack.upstream.requests.length;
    const big = await sendRaw(
      gw,
      `POST /proxy/api/upload HTTP/1.1\r\nhost: ${host}\r\ncontent-length: ${100 * 1024 * 1024}\r\n\r\n${"x".repeat(64 * 1024)}`,
    );
    assert.equal(big.statuses[0], 413, big.text);
    assert.match(big.text, /REQUEST_BODY_TOO_LARGE/);
    assert.ok(Date.now() - started < 5000);
    const headers = await sendRaw(
      gw,
      `GET /proxy/api/x HTTP/1.1\r\nhost: ${host}\r\nx-pad: ${"p".repeat(2 * 1024 * 1024)}\r\n\r\n`,
    );
    assert.equal(headers.statuses[0], 431, headers.text.slice(0, 200));
    assert.equal(stack.upstream.requests.length, before);
  });

  test("slow headers and slow bodies (20 sockets each) do not stop other clients from being served", async () => {
    const host = new URL(gw).host;
    const hold = { quietMs: 4000 };
    const slow = [
      ...Array.from({ length: 20 }, () =>
        sendRaw(gw, `GET /proxy/api/slow HTTP/1.1\r\nhost: ${host}\r\n`, {
          ...hold,
          chunks: [{ data: "x-a: 1\r\n", delayMs: 1000 }],
        }),
      ),
      ...Array.from({ length: 20 }, () =>
        sendRaw(gw, `POST /proxy/api/slow HTTP/1.1\r\nhost: ${host}\r\ncontent-length: 1000\r\n\r\nab`, {
          ...hold,
          chunks: [{ data: "c", delayMs: 1000 }],
        }),
      ),
    ];
    await sleep(300);
    const started = Date.now();
    const served = await sendSigned(gw, sign(agent, gw, "/proxy/api/meanwhile"));
    assert.equal(served.status, 200, served.text);
    assert.ok(Date.now() - started < 2000, `served in ${Date.now() - started} ms`);
    await Promise.all(slow);
    assert.equal(stack.upstream.requests.filter((r) => r.url.startsWith("/slow")).length, 0);
  });

  test("traversal and encoded variants → 400 PATH_TRAVERSAL", async () => {
    for (const path of [
      "/proxy/api/../admin",
      "/proxy/api/%2e%2e/admin",
      "/proxy/api/%2E./admin",
      "/proxy/api/a/%2e%2e%2f%2e%2e/admin",
      "/proxy/api/..%5cadmin",
      "/proxy/api/./x",
      "/proxy/api/..;/admin",
      "/proxy/api/%2e%2e;/admin",
    ]) {
      // Signed for a clean path (an SDK normalizes dot segments away); the route check comes first anyway.
      await refused(
        () => sendSigned(gw, sign(agent, gw, "/proxy/api/x"), { path }),
        400,
        "PATH_TRAVERSAL",
        path,
      );
    }
  });

  test("absolute-form request targets → 400, never a forward to the named host", async () => {
    const host = new URL(gw).host;
    const before = stack.upstream.requests.length;
    const upstreamHost = new URL(stack.upstream.url).host;
    for (const target of [`http://${upstreamHost}/proxy/api/x`, `http://evil.example/proxy/api/x`]) {
      const raw = await sendRaw(gw, `GET ${target} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
      assert.deepEqual(raw.statuses, [400], raw.text);
      assert.match(raw.text, /"code":"INVALID_REQUEST"/);
    }
    assert.equal(stack.upstream.requests.length, before);
  });

  test("credential smuggling: the agent's Authorization, query key look-alikes, a forged x-sigilum-authz", async () => {
    const reply = await sendSigned(gw, sign(agent, gw, "/proxy/api/who"), {
      headers: [
        ["authorization", "Bearer attacker-token"],
        ["x-sigilum-authz", "v1.forged.forged"],
      ],
    });
    assert.equal(reply.status, 200, reply.text);
    const seen = stack.upstream.requests.at(-1)!;
    assert.equal(seen.headers.authorization, `Bearer ${UPSTREAM_SECRET}`);
    assert.equal(seen.headers["x-sigilum-authz"], undefined);

    const query = await sendSigned(
      gw,
      sign(agent, gw, "/proxy/qkey/q?api_key=evil&api%5Fkey=evil2&api_key%00=x&a=1"),
    );
    assert.equal(query.status, 200, query.text);
    const url = new URL(stack.upstream.requests.at(-1)!.url, "http://u");
    assert.deepEqual(url.searchParams.getAll("api_key"), [QUERY_SECRET]);

    // An unsigned request with a forged token is refused by the verifier, whatever the token says.
    await refused(
      () => send(gw, "/proxy/api/who", { headers: { "x-sigilum-authz": "v1.eyJtIjoiR0VUIn0.AAAA" } }),
      403,
      "AUTH_SIGNATURE_INVALID",
      "forged x-sigilum-authz",
    );
  });

  test("secrets scan: no secret in the logs, the metrics or Redis after every attack above", async () => {
    const metrics = await send(gw, "/metrics");
    assert.equal(metrics.status, 200);
    const findings = await scanForSecrets({
      secrets: {
        UPSTREAM_SECRET,
        QUERY_SECRET,
        ADMIN_TOKEN,
        MASTER_KEY,
        INTERNAL_SECRET,
        "agent private key": Buffer.from(agent.privateKey).toString("base64"),
      },
      logs: stack.logs(),
      metrics: metrics.text,
      redisPrefix: stack.prefix,
    });
    assert.deepEqual(findings, []);
    // The scanner does find a secret where one is (in any of the encodings it checks).
    const planted = await scanForSecrets({
      secrets: { UPSTREAM_SECRET },
      logs: `{"msg":"${Buffer.from(UPSTREAM_SECRET).toString("base64")}"}`,
    });
    assert.deepEqual(planted, ["UPSTREAM_SECRET in logs"]);
  });
});
