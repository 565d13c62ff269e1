import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { createLogger, decisionLog, fingerprint, maskIp } from "../src/logger.ts";

function capture(level = "info") {
  const lines: string[] = [];
  const logger = createLogger("test", { level, destination: { write: (s: string) => lines.push(s) } });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

const SECRET = "SECRET-3b1f0c2e-never-in-logs";

describe("sanitizer rules (spec §9)", () => {
  test("secrets planted anywhere never reach the output", () => {
    const { logger, lines } = capture();
    logger.info(
      {
        authorization: `Bearer ${SECRET}`,
        api_key: SECRET,
        apiKey: SECRET,
        nested: { deeper: { password: SECRET, list: [{ token: SECRET }] } },
        headers: {
          authorization: SECRET,
          cookie: SECRET,
          "x-sigilum-admin-token": SECRET,
          "x-sigilum-authz": SECRET,
          signature: SECRET,
          "sigilum-agent-cert": SECRET,
        },
        secrets: { upstream: SECRET, list: [SECRET] },
        privateKey: [SECRET],
        client_secret: SECRET,
        upstream_url: `https://user:${SECRET}@api.example.com/v1`,
        err: new Error(`connect to redis://:${SECRET}@redis:6379 failed`),
      },
      "request",
    );
    logger.child({ gateway_token: SECRET, namespace: "alice" }).info({ masterKey: SECRET }, "child");
    assert.equal(lines.length, 2);
    for (const line of lines) assert.ok(!line.includes(SECRET), line);
    assert.ok(!lines[1]!.includes("alice"), lines[1]);
  });

  test("numbers and booleans pass through, empty strings stay empty, even under sensitive keys", () => {
    const { logger, records } = capture();
    logger.info({ status: 403, token_count: 2, has_signature: true, namespace: "", remote_ip: "" });
    const r = records()[0]!;
    assert.equal(r.status, 403);
    assert.equal(r.token_count, 2);
    assert.equal(r.has_signature, true);
    assert.equal(r.namespace, "");
    assert.equal(r.remote_ip, "");
  });

  test("IPs are masked to /24 and /64, with or without a port", () => {
    assert.equal(maskIp("203.0.113.10"), "203.0.113.0/24");
    assert.equal(maskIp("203.0.113.10:44123"), "203.0.113.0/24");
    assert.equal(maskIp("2001:db8::1"), "2001:db8::/64");
    assert.equal(maskIp("[2001:db8:1:2:3:4:5:6]:443"), "2001:db8:1:2::/64");
    assert.equal(maskIp("::1"), "::/64");
    assert.equal(maskIp("::ffff:10.1.2.3"), "10.1.2.0/24");
    assert.equal(maskIp("localhost"), undefined);
    const { logger, records } = capture();
    logger.info({
      remote_ip: "203.0.113.10",
      clientIp: "2001:db8::1",
      agent_ip: "localhost",
      description: "kept",
    });
    const r = records()[0]!;
    assert.equal(r.remote_ip, "203.0.113.0/24");
    assert.equal(r.clientIp, "2001:db8::/64");
    assert.equal(r.agent_ip, fingerprint("localhost"));
    assert.equal(r.description, "kept");
  });

  test("identities are fingerprinted sha256:<12 hex> of the trimmed value; subject stays clear", () => {
    const expected = `sha256:${createHash("sha256").update("alice").digest("hex").slice(0, 12)}`;
    assert.equal(fingerprint(" alice "), expected);
    const { logger, records, lines } = capture();
    logger.info({
      namespace: "alice",
      public_key: "ed25519:AAAA",
      publicKey: "ed25519:AAAA",
      agent_key: "ed25519:BBBB",
      key_id: "did:sigilum:alice#k1",
      claim_id: "cl_123",
      subject: "customer-12345",
    });
    const r = records()[0]!;
    assert.equal(r.namespace, expected);
    for (const key of ["public_key", "publicKey", "agent_key", "key_id", "claim_id"]) {
      assert.match(String(r[key]), /^sha256:[0-9a-f]{12}$/, key);
    }
    assert.equal(r.subject, "customer-12345");
    assert.ok(!lines[0]!.includes("alice"));
    assert.ok(!lines[0]!.includes("ed25519:"));
  });

  test("long strings are truncated, deep nesting is cut, class instances are named", () => {
    const { logger, records } = capture();
    logger.info({
      body: "x".repeat(1000),
      a: { b: { c: { d: { e: "too deep" } } } },
      list: Array.from({ length: 60 }, (_, i) => i),
      socket: new (class Socket {
        secretState = SECRET;
      })(),
    });
    const r = records()[0]!;
    assert.equal(r.body, `${"x".repeat(256)}...(truncated)`);
    assert.deepEqual(r.a, { b: { c: { d: { e: "[truncated]" } } } });
    assert.equal((r.list as unknown[]).length, 51);
    assert.equal(r.socket, "[Socket]");
  });

  test("errors keep type, message and stack frames, sanitized", () => {
    const { logger, records } = capture();
    logger.error(new TypeError("bad thing"), "failed");
    const err = records()[0]!.err as { type: string; message: string; stack: string[] };
    assert.equal(err.type, "TypeError");
    assert.equal(err.message, "bad thing");
    assert.ok(err.stack.length > 0 && err.stack[0]!.startsWith("at "));
  });

  test("property: a secret under any sensitive key at any depth never appears", () => {
    const sensitiveKey = fc.constantFrom(
      "token",
      "accessToken",
      "X-Api-Key",
      "api_key",
      "password",
      "client_secret",
      "Authorization",
      "set-cookie",
      "privateKey",
      "signature",
      "agent_cert",
      "credentials",
    );
    const plainKey = fc.constantFrom("data", "items", "meta", "x", "payload");
    fc.assert(
      fc.property(
        fc.uuid(),
        sensitiveKey,
        fc.array(plainKey, { maxLength: 3 }),
        fc.boolean(),
        (id, key, path, inList) => {
          const secret = `SECRET-${id}`;
          let value: unknown = { [key]: inList ? [secret, { nested: secret }] : secret };
          for (const p of path.reverse()) value = { [p]: value };
          const { logger, lines } = capture();
          logger.info(value as Record<string, unknown>, "msg");
          return lines.length === 1 && !lines[0]!.includes(secret);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("logger", () => {
  test("JSON lines with level label, name and RFC 3339 timestamp; level filtering", () => {
    const { logger, records } = capture("warn");
    logger.info("hidden");
    logger.warn("shown");
    const rs = records();
    assert.equal(rs.length, 1);
    assert.equal(rs[0]!.level, "warn");
    assert.equal(rs[0]!.name, "test");
    assert.equal(rs[0]!.msg, "shown");
    assert.ok(!Number.isNaN(Date.parse(String(rs[0]!.timestamp))));
  });

  test("decisionLog writes the §9 base fields and the event name", () => {
    const { logger, records } = capture();
    decisionLog(logger, "proxy_auth_denied", {
      request_id: "req-1",
      connection: "linear",
      remote_ip: "203.0.113.10",
      namespace: "alice",
      subject: "bob",
      stage: "replay_detection",
      decision: "deny",
      reason_code: "AUTH_REPLAY_DETECTED",
      status: 403,
    });
    const r = records()[0]!;
    assert.equal(r.kind, "decision");
    assert.equal(r.component, "gateway");
    assert.equal(r.event, "proxy_auth_denied");
    assert.equal(r.request_id, "req-1");
    assert.equal(r.remote_ip, "203.0.113.0/24");
    assert.equal(r.namespace, fingerprint("alice"));
    assert.equal(r.status, 403);
    assert.equal(r.reason_code, "AUTH_REPLAY_DETECTED");
  });
});
