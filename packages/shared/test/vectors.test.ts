import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sdkVectors, vectorBody } from "@sigilum-gw/testkit/vectors";
import { availableEd25519Backends } from "../src/ed25519.ts";
import { createSigilumVerifier } from "../src/http-signatures.ts";
import { MemoryNonceStore } from "../src/replay.ts";

/** How each reference SDK reason maps onto our gateway auth codes (documented in docs/protocol.md). */
const EXPECTED_CODE: Record<string, string> = {
  SIG_CONTENT_DIGEST_MISMATCH: "AUTH_SIGNATURE_INVALID",
  SIG_VERIFICATION_FAILED: "AUTH_SIGNATURE_INVALID",
  SIG_NAMESPACE_MISMATCH: "AUTH_IDENTITY_INVALID",
  SIG_KEY_MISMATCH: "AUTH_IDENTITY_INVALID",
  SIG_CERT_INVALID: "AUTH_IDENTITY_INVALID",
  SIG_MISSING_SIGNATURE_HEADERS: "AUTH_SIGNATURE_INVALID",
  SIG_SIGNING_BASE_INVALID: "AUTH_SIGNATURE_INVALID",
  SIG_SUBJECT_COMPONENT_MISSING: "AUTH_SIGNED_COMPONENTS_INVALID",
  SIG_SIGNED_COMPONENTS_INVALID: "AUTH_SIGNED_COMPONENTS_INVALID",
  SIG_ALGORITHM_UNSUPPORTED: "AUTH_SIGNATURE_INVALID",
  SIG_KEY_ID_MISMATCH: "AUTH_IDENTITY_INVALID",
  SIG_INTERNAL_ERROR: "AUTH_SIGNATURE_INVALID",
  SIG_CERT_HEADER_INVALID: "AUTH_IDENTITY_INVALID",
};

const now = () => sdkVectors.created_unix + 3;

for (const backend of availableEd25519Backends()) {
  describe(`SDK vectors with ${backend.name}`, () => {
    const verifier = createSigilumVerifier({ backend, now });

    for (const vector of sdkVectors.valid) {
      test(`valid: ${vector.name}`, () => {
        const result = verifier.verify({
          method: vector.method,
          targetUri: vector.url,
          headers: vector.headers,
          body: vectorBody(vector),
        });
        assert.equal(result.ok, true, result.ok ? "" : result.reason);
        assert.ok(result.ok);
        assert.equal(result.namespace, vector.expect.namespace);
        assert.equal(result.subject, vector.expect.subject);
        assert.equal(result.keyId, vector.expect.keyId);
      });
    }

    for (const vector of sdkVectors.invalid) {
      test(`invalid: ${vector.name} (${vector.expect.reference_code})`, () => {
        const result = verifier.verify({
          method: vector.method,
          targetUri: vector.url,
          headers: vector.headers,
          body: vectorBody(vector),
        });
        assert.equal(result.ok, false);
        assert.ok(!result.ok);
        assert.equal(result.code, EXPECTED_CODE[vector.expect.reference_code ?? ""], result.reason);
        assert.ok(result.reason.length > 0);
      });
    }
  });
}

test("every valid vector verifies once; the same vector against the replay window is a replay", async () => {
  const verifier = createSigilumVerifier({ now });
  const window = new MemoryNonceStore(now);
  for (const vector of sdkVectors.valid) {
    const request = {
      method: vector.method,
      targetUri: vector.url,
      headers: vector.headers,
      body: vectorBody(vector),
    };
    const first = verifier.verify(request);
    assert.ok(first.ok);
    assert.equal(await window.checkAndRecord(first.namespace, first.nonce, 600), true);
    const second = verifier.verify(request);
    assert.ok(second.ok);
    assert.equal(
      await window.checkAndRecord(second.namespace, second.nonce, 600),
      false,
      `${vector.name} replayed`,
    );
  }
});

test("vectors are rejected outside the freshness window", () => {
  const vector = sdkVectors.valid[0]!;
  const request = {
    method: vector.method,
    targetUri: vector.url,
    headers: vector.headers,
    body: vectorBody(vector),
  };
  const late = createSigilumVerifier({ now: () => sdkVectors.created_unix + 301 }).verify(request);
  assert.ok(!late.ok && late.code === "AUTH_SIGNATURE_INVALID" && /expired/.test(late.reason));
  const early = createSigilumVerifier({ now: () => sdkVectors.created_unix - 60 }).verify(request);
  assert.ok(!early.ok && /future/.test(early.reason));
  const skew = createSigilumVerifier({ now: () => sdkVectors.created_unix - 3, futureSkewSeconds: 5 }).verify(
    request,
  );
  assert.ok(skew.ok);
});
