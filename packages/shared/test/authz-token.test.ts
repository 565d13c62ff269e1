import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type AuthzClaims,
  createAuthzTokenCodec,
  signAuthzToken,
  verifyAuthzToken,
} from "../src/authz-token.ts";

const SECRET = "0123456789abcdef0123456789abcdef-internal";
const CLAIMS: AuthzClaims = {
  method: "POST",
  path: "/proxy/linear/v1/issues?limit=5&q=a%20b",
  namespace: "alice",
  subject: "customer-12345",
  keyId: "did:sigilum:alice#ed25519-abc",
  publicKey: "ed25519:J07dj/co4diCmQYTTQGq4adhnMKYejHazCYUQ7eBh0k=",
  requestId: "3f2a9c1e-5b7d-4e08-9a61-0c4d2e8f7b13",
};
const T0 = 1_800_000_000;
const expected = { method: CLAIMS.method, path: CLAIMS.path };

function clock(start = T0) {
  let t = start;
  return { now: () => t, advance: (s: number) => (t += s) };
}

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

describe("authz token", () => {
  test("round trip: claims come back, format is v1.<payload>.<mac>", () => {
    const c = clock();
    const codec = createAuthzTokenCodec(SECRET, { now: c.now });
    const token = codec.sign({ ...CLAIMS, agentId: "main" });
    assert.match(token, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const result = codec.verify(token, expected);
    assert.deepEqual(result, { ok: true, claims: { ...CLAIMS, agentId: "main" }, expiresAt: T0 + 30 });
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    assert.deepEqual(Object.keys(payload).sort(), ["aid", "exp", "kid", "m", "ns", "p", "pk", "rid", "sub"]);
  });

  test("method is compared case-insensitively, path exactly (query included)", () => {
    const codec = createAuthzTokenCodec(SECRET);
    const token = codec.sign(CLAIMS);
    assert.equal(codec.verify(token, { method: "post", path: CLAIMS.path }).ok, true);
    assert.deepEqual(codec.verify(token, { method: "GET", path: CLAIMS.path }), {
      ok: false,
      reason: "method_mismatch",
    });
    for (const path of [
      "/proxy/linear/v1/issues",
      "/proxy/linear/v1/issues?limit=6&q=a%20b",
      "/proxy/linear/v1/issues/?limit=5&q=a%20b",
      "/proxy/other/v1/issues?limit=5&q=a%20b",
    ]) {
      assert.deepEqual(
        codec.verify(token, { method: "POST", path }),
        { ok: false, reason: "path_mismatch" },
        path,
      );
    }
  });

  test("expires after 30 s at most; lifetimes beyond 30 s are refused", () => {
    const c = clock();
    const codec = createAuthzTokenCodec(SECRET, { now: c.now, ttlSeconds: 300 });
    const token = codec.sign(CLAIMS);
    c.advance(29.9);
    assert.equal(codec.verify(token, expected).ok, true);
    c.advance(0.1);
    assert.deepEqual(codec.verify(token, expected), { ok: false, reason: "expired" });

    // A token minted by a signer whose clock is far ahead (or forged with the secret) is refused.
    const ahead = createAuthzTokenCodec(SECRET, { now: () => T0 + 60 }).sign(CLAIMS);
    assert.deepEqual(createAuthzTokenCodec(SECRET, { now: () => T0 }).verify(ahead, expected), {
      ok: false,
      reason: "lifetime_too_long",
    });
  });

  test("tampered payload, signature, version or secret is refused", () => {
    const codec = createAuthzTokenCodec(SECRET, { now: () => T0 });
    const token = codec.sign(CLAIMS);
    const [v, body, sig] = token.split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(body, "base64url").toString());

    const otherNs = `${v}.${b64json({ ...payload, ns: "mallory" })}.${sig}`;
    assert.deepEqual(codec.verify(otherNs, expected), { ok: false, reason: "bad_signature" });
    const flipped = `${v}.${body}.${sig.slice(0, -2)}${sig.at(-2) === "A" ? "B" : "A"}${sig.at(-1)}`;
    assert.deepEqual(codec.verify(flipped, expected), { ok: false, reason: "bad_signature" });
    assert.deepEqual(codec.verify(`v2.${body}.${sig}`, expected), { ok: false, reason: "malformed" });
    assert.deepEqual(codec.verify(`${v}.${body}.${sig.slice(0, 20)}`, expected), {
      ok: false,
      reason: "bad_signature",
    });
    const otherSecret = createAuthzTokenCodec(`${SECRET}-rotated`, { now: () => T0 });
    assert.deepEqual(otherSecret.verify(token, expected), { ok: false, reason: "bad_signature" });
  });

  test("a correctly MACed but invalid payload is malformed, not trusted", () => {
    const c = createAuthzTokenCodec(SECRET, { now: () => T0 });
    // Re-derive the key as the codec does, to MAC hostile payloads.
    const key = createHmac("sha256", Buffer.from(SECRET)).update("sigilum-gateway/authz-token/v1").digest();
    const mint = (payload: unknown) => {
      const input = `v1.${b64json(payload)}`;
      return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
    };
    const good = { m: "POST", p: CLAIMS.path, ns: "a", sub: "s", kid: "k", pk: "p", rid: "r", exp: T0 + 10 };
    assert.equal(c.verify(mint(good), expected).ok, true, "the minting helper matches the real format");
    assert.deepEqual(c.verify(mint({ ...good, exp: "later" }), expected), { ok: false, reason: "malformed" });
    assert.deepEqual(c.verify(mint({ ...good, extra: 1 }), expected), { ok: false, reason: "malformed" });
    assert.deepEqual(c.verify(mint([good]), expected), { ok: false, reason: "malformed" });
    const notJson = `v1.${Buffer.from("{not json").toString("base64url")}`;
    const notJsonToken = `${notJson}.${createHmac("sha256", key).update(notJson).digest("base64url")}`;
    assert.deepEqual(c.verify(notJsonToken, expected), { ok: false, reason: "malformed" });
  });

  test("missing, duplicated and garbage headers", () => {
    const codec = createAuthzTokenCodec(SECRET);
    const token = codec.sign(CLAIMS);
    assert.deepEqual(codec.verify(undefined, expected), { ok: false, reason: "missing" });
    assert.deepEqual(codec.verify("", expected), { ok: false, reason: "missing" });
    assert.deepEqual(codec.verify([token, token], expected), { ok: false, reason: "malformed" });
    for (const garbage of ["v1", "v1..", "v1.a.b.c", "v1.!!!.abc", `v1.${"A".repeat(9000)}.x`, "Bearer x"]) {
      assert.equal(codec.verify(garbage, expected).ok, false, garbage);
    }
  });

  test("one-off helpers agree with the codec; a short secret is refused at creation", () => {
    const now = () => T0;
    const token = signAuthzToken(SECRET, CLAIMS, { now });
    assert.equal(verifyAuthzToken(SECRET, token, { ...expected, now }).ok, true);
    assert.throws(() => createAuthzTokenCodec("too-short"), /at least 32 bytes/);
    assert.deepEqual(verifyAuthzToken("too-short", token, expected), { ok: false, reason: "bad_signature" });
  });

  test("property: random strings never verify and never throw", () => {
    const codec = createAuthzTokenCodec(SECRET, { now: () => T0 });
    const real = codec.sign(CLAIMS);
    const [, body] = real.split(".") as [string, string, string];
    const arbitraryToken = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.tuple(fc.string(), fc.string()).map(([a, b]) => `v1.${a}.${b}`),
      fc
        .base64String()
        .map((s) => `v1.${body}.${s.replace(/\+/g, "-").replace(/\//g, "_").replace(/=/g, "")}`),
      fc.json().map((j) => `v1.${Buffer.from(j).toString("base64url")}.${real.split(".")[2]}`),
    );
    fc.assert(
      fc.property(arbitraryToken, fc.string(), fc.string(), (token, method, path) => {
        const a = codec.verify(token, { method, path });
        const b = codec.verify(token, expected);
        return a.ok === false && b.ok === false;
      }),
      { numRuns: 2000 },
    );
  });

  test("property: any single-character change of a real token is refused", () => {
    const codec = createAuthzTokenCodec(SECRET, { now: () => T0 });
    const token = codec.sign(CLAIMS);
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(..."ABCxyz019-_.="), (i, ch) => {
        fc.pre(token[i] !== ch);
        const changed = token.slice(0, i) + ch + token.slice(i + 1);
        // The last base64url char carries 2 padding bits: some changes decode to the same MAC bytes.
        const sameBytes =
          i === token.length - 1 &&
          Buffer.from(changed.split(".")[2] ?? "", "base64url").equals(
            Buffer.from(token.split(".")[2]!, "base64url"),
          );
        return sameBytes || codec.verify(changed, expected).ok === false;
      }),
      { numRuns: 1000 },
    );
  });
});
