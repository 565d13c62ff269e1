import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import fc from "fast-check";
import { envoyCheck, envoyHeaders, rawCheck } from "./helpers/envoy-check.ts";
import { type RunningVerifier, SERVICE_API_KEY, startVerifier } from "./helpers/harness.ts";

/** Bad input of every shape: always a 4xx/5xx JSON envelope, never an allow, never a crash. */

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Raw bytes over a socket: no client-side validation of paths, header names or values. */
function sendRaw(port: number, bytes: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error("timeout")));
    socket.on("data", (c) => chunks.push(c));
    // The server may close while we are still sending (oversized input): what arrived before is the answer.
    socket.on("error", (error) => (chunks.length ? undefined : reject(error)));
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const head = text.slice(0, split === -1 ? text.length : split).split("\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? "")?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status, headers, body: split === -1 ? "" : text.slice(split + 4) });
    });
    socket.end(bytes);
  });
}

function assertEnvelope(
  response: RawResponse | { status: number; headers: Record<string, unknown>; body: string },
) {
  assert.ok(response.status >= 400 && response.status <= 599, `status ${response.status}: ${response.body}`);
  assert.equal(response.headers["x-sigilum-authz"], undefined, "never an allow");
  if (response.headers["x-sigilum-code"] === "AUTH_CLAIM_REQUIRED") return;
  const envelope = JSON.parse(response.body) as Record<string, unknown>;
  assert.equal(typeof envelope["code"], "string");
  assert.equal(typeof envelope["error"], "string");
  assert.equal(typeof envelope["request_id"], "string");
}

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/);
const headerValue = fc
  .string({ unit: "binary-ascii", maxLength: 200 })
  .map((s) => s.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, " "));
const signingHeader = fc.constantFrom(
  "signature",
  "signature-input",
  "content-digest",
  "sigilum-namespace",
  "sigilum-subject",
  "sigilum-agent-id",
  "sigilum-agent-key",
  "sigilum-agent-cert",
  "x-envoy-auth-partial-body",
  "x-forwarded-proto",
  "content-length",
  "transfer-encoding",
);

describe("bad input (fast-check)", () => {
  let feed: ControlPlane;
  let verifier: RunningVerifier;
  const agent = createIdentity("fuzz-agent");

  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    feed.approve("crm", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url, { GATEWAY_MAX_REQUEST_BODY_BYTES: "4096" });
  });
  after(async () => {
    await verifier?.stop();
    await feed?.close();
  });

  test("random raw requests: methods, paths, headers, bodies", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom("GET", "POST", "PUT", "DELETE", "CONNECT", "TRACE", "OPTIONS", "HEAD"),
          token,
        ),
        fc.oneof(
          fc.string({ unit: "binary-ascii", maxLength: 80 }),
          fc.constantFrom("/proxy/crm/x", "/mcp/crm/tools", "/slack", "/proxy/", "/proxy/crm/../x", "?", ""),
        ),
        fc.array(fc.tuple(fc.oneof(signingHeader, token), headerValue), { maxLength: 12 }),
        fc.uint8Array({ maxLength: 600 }),
        async (method, path, headers, body) => {
          const lines = [`${method} /check${path.replace(/[\r\n ]/g, "")} HTTP/1.1`, "host: 127.0.0.1:38100"];
          for (const [name, value] of headers) {
            if (name === "content-length" || name === "transfer-encoding" || name === "connection") continue;
            lines.push(`${name}: ${value}`);
          }
          lines.push(`content-length: ${body.length}`, "connection: close", "", "");
          const response = await sendRaw(
            verifier.port,
            Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), body]),
          );
          if (method === "HEAD") {
            assert.ok(response.status >= 400, `HEAD ${response.status}`);
            assert.equal(response.headers["x-sigilum-authz"], undefined);
            return;
          }
          assertEnvelope(response);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a validly signed request with any one signed part changed is never allowed", async () => {
    await fc.assert(
      fc.asyncProperty(signingHeader, headerValue, fc.boolean(), async (name, value, addBody) => {
        const signed = signRequest(agent, {
          url: "http://127.0.0.1:38100/proxy/crm/items?x=1",
          method: addBody ? "POST" : "GET",
          ...(addBody ? { body: '{"a":1}', headers: { "content-type": "application/json" } } : {}),
        });
        const headers = envoyHeaders({
          method: signed.method,
          url: signed.url,
          headers: signed.headers,
          body: signed.body,
        });
        const existing = headers.find(([n]) => n === name);
        // Mutations that leave the signed meaning unchanged (values are trimmed; the scheme only changes with a
        // trusted "https"; content-digest is unsigned without a body) are legitimately allowed: skip them.
        fc.pre(value.trim() !== "" && value.trim() !== existing?.[1]?.trim());
        fc.pre(!["content-length", "transfer-encoding", "x-forwarded-proto"].includes(name));
        fc.pre(!(name === "x-envoy-auth-partial-body" && value.trim().toLowerCase() === "false"));
        fc.pre(!(name === "content-digest" && !addBody));
        const mutated = headers.filter(([n]) => n !== name);
        mutated.push([name, value]);
        const response = await rawCheck(
          verifier.port,
          signed.method,
          "/check/proxy/crm/items?x=1",
          mutated,
          signed.body,
        );
        assertEnvelope(response);
      }),
      { numRuns: 200 },
    );
  });

  test("huge headers and many headers get an envelope, not a bare socket error", async () => {
    for (const size of [70 * 1024, 300 * 1024]) {
      const big = `GET /check/proxy/crm/x HTTP/1.1\r\nhost: x\r\nsignature: ${"a".repeat(size)}\r\nconnection: close\r\n\r\n`;
      const response = await sendRaw(verifier.port, Buffer.from(big));
      assert.equal(response.status, 431);
      assertEnvelope(response);
    }
    const many = Array.from({ length: 3000 }, (_, i) => `x-h${i}: v`).join("\r\n");
    const response = await sendRaw(
      verifier.port,
      Buffer.from(`GET /check/proxy/crm/x HTTP/1.1\r\nhost: x\r\n${many}\r\nconnection: close\r\n\r\n`),
    );
    assertEnvelope(response);
  });

  test("still alive and still allowing a good request afterwards", async () => {
    const signed = signRequest(agent, { url: "http://127.0.0.1:38100/proxy/crm/items", method: "GET" });
    const ok = await envoyCheck(verifier.port, {
      method: "GET",
      url: signed.url,
      headers: signed.headers,
      body: null,
    });
    assert.equal(ok.status, 200);
  });
});
