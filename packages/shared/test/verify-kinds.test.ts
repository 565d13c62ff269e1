import assert from "node:assert/strict";
import { test } from "node:test";
import { createSigilumVerifier, signRequest } from "../src/http-signatures.ts";
import { createIdentity } from "../src/identity.ts";

// Receivers that answer these failures with their own codes (the control plane) match `kind`, never the text.
test("expired, not-yet-valid and digest failures carry a structured kind; others none", () => {
  const agent = createIdentity("kinds-ns");
  const created = 1_700_000_000;
  const url = "http://gateway.test/proxy/svc/v1";
  const signed = signRequest(agent, { url, method: "POST", body: '{"a":1}', created });
  const input = (body: string) => ({
    method: "POST",
    targetUri: url,
    headers: signed.headers,
    body: Buffer.from(body),
  });
  const at = (now: number) => createSigilumVerifier({ maxAgeSeconds: 300, now: () => now });

  assert.equal(at(created).verify(input('{"a":1}')).ok, true);
  const expired = at(created + 301).verify(input('{"a":1}'));
  assert.ok(!expired.ok);
  assert.equal(expired.code, "AUTH_SIGNATURE_INVALID");
  assert.equal(expired.kind, "expired");
  const early = at(created - 3600).verify(input('{"a":1}'));
  assert.ok(!early.ok);
  assert.equal(early.kind, "not_yet_valid");
  const tampered = at(created).verify(input('{"a":2}'));
  assert.ok(!tampered.ok);
  assert.equal(tampered.code, "AUTH_SIGNATURE_INVALID");
  assert.equal(tampered.kind, "digest_mismatch");
  const wrongPath = at(created).verify({ ...input('{"a":1}'), targetUri: `${url}/other` });
  assert.ok(!wrongPath.ok);
  assert.equal(wrongPath.kind, undefined);
});
