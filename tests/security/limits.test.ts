import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { createConnection, sign, startGateway } from "./support/agent.ts";
import { sendSigned } from "./support/http.ts";
import { refusedUnforwarded } from "./support/refused.ts";
import type { Stack } from "./support/stack.ts";

/**
 * Findings 3 and 4: one set of limits (packages/shared/src/limits.ts) checked by the verifier before the nonce
 * is spent, so nothing it accepts is refused later by the proxy; and a second content-digest line is refused.
 */

describe("request limits and repeated digests", () => {
  let stack: Stack;
  let gw: string;
  let agent: SigilumIdentity;

  before(async () => {
    ({ stack, gw, agent } = await startGateway(["lim"]));
    await createConnection(gw, "lim", stack.upstream.url, "limits-key");
  });
  after(() => stack?.stop());

  /** The nonce of a refused request was not spent: a valid request signed with it passes. */
  async function nonceUnspent(nonce: string) {
    const reply = await sendSigned(gw, sign(agent, gw, "/proxy/lim/after", { nonce }));
    assert.equal(reply.status, 200, `nonce ${nonce} was spent: ${reply.text}`);
  }

  test("a 7 KB path (the verifier accepted it, the proxy refused its token) is served", async () => {
    const path = `/proxy/lim/${"a".repeat(7 * 1024)}`;
    const reply = await sendSigned(gw, sign(agent, gw, path));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(stack.upstream.requests.at(-1)?.url.length, path.length - "/proxy/lim".length);
  });

  test("a path over 8192 bytes → 414 REQUEST_TARGET_TOO_LONG before the nonce is spent", async () => {
    for (const size of [8200, 12 * 1024, 16 * 1024]) {
      const nonce = randomUUID();
      await refusedUnforwarded(
        stack,
        () => sendSigned(gw, sign(agent, gw, `/proxy/lim/${"b".repeat(size)}`, { nonce })),
        414,
        "REQUEST_TARGET_TOO_LONG",
      );
      await nonceUnspent(nonce);
    }
  });

  test("a subject of 1024 characters is served; 1025 → 431 REQUEST_HEADER_TOO_LARGE, nonce unspent", async () => {
    const ok = await sendSigned(gw, sign(agent, gw, "/proxy/lim/sub", { subject: "s".repeat(1024) }));
    assert.equal(ok.status, 200, ok.text);
    const nonce = randomUUID();
    await refusedUnforwarded(
      stack,
      () => sendSigned(gw, sign(agent, gw, "/proxy/lim/sub", { subject: "s".repeat(1025), nonce })),
      431,
      "REQUEST_HEADER_TOO_LARGE",
    );
    await nonceUnspent(nonce);
  });

  test("the verifier itself (as Envoy calls it) refuses over-limit requests before spending the nonce", async () => {
    const verifier = `http://127.0.0.1:${stack.replicas[0]!.verifier.port}`;
    const host: [string, string] = ["host", new URL(gw).host];
    const nonce = randomUUID();
    const long = sign(agent, gw, `/proxy/lim/${"c".repeat(9000)}`, { nonce });
    const longReply = await sendSigned(verifier, long, {
      path: `/check${new URL(long.url).pathname}`,
      headers: [host],
    });
    assert.equal(longReply.status, 414, longReply.text);
    assert.equal(longReply.code, "REQUEST_TARGET_TOO_LONG");
    const subject = sign(agent, gw, "/proxy/lim/v", { subject: "x".repeat(2000), nonce });
    const subjectReply = await sendSigned(verifier, subject, { path: "/check/proxy/lim/v", headers: [host] });
    assert.equal(subjectReply.status, 431, subjectReply.text);
    assert.equal(subjectReply.code, "REQUEST_HEADER_TOO_LARGE");
    await nonceUnspent(nonce);
  });

  test("an oversized certificate header → 431 REQUEST_HEADER_TOO_LARGE", async () => {
    const signed = sign(agent, gw, "/proxy/lim/cert");
    signed.headers["sigilum-agent-cert"] = `${signed.headers["sigilum-agent-cert"]}${"A".repeat(5000)}`;
    await refusedUnforwarded(stack, () => sendSigned(gw, signed), 431, "REQUEST_HEADER_TOO_LARGE");
  });

  test("a duplicated Host → 400 REQUEST_HOST_INVALID (it was a 503)", async () => {
    const signed = sign(agent, gw, "/proxy/lim/host");
    const reply = () =>
      sendSigned(gw, signed, {
        headers: [
          ["host", new URL(gw).host],
          ["host", "evil.example"],
        ],
      });
    await refusedUnforwarded(stack, reply, 400, "REQUEST_HOST_INVALID");
  });

  test("a second content-digest line → 403 AUTH_HEADERS_INVALID (the first one used to win)", async () => {
    const signed = sign(agent, gw, "/proxy/lim/digest", { method: "POST", body: '{"a":1}' });
    const reply = () =>
      sendSigned(gw, signed, {
        headers: [["content-digest", "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"]],
      });
    await refusedUnforwarded(stack, reply, 403, "AUTH_HEADERS_INVALID");
  });
});
