import assert from "node:assert/strict";
import { test } from "node:test";
import { createSigilumVerifier, type SignedRequest, signRequest } from "../src/http-signatures.ts";
import { createIdentity, type SigilumIdentity } from "../src/identity.ts";

/**
 * Impersonation at the verify() level: agent A signs correctly, with its own private key and its own valid
 * certificate, and lies about one identity field. Each lie is refused by its own check (the code and the reason),
 * so removing that check turns the answer into an accepted identity, not into some other refusal.
 */

const NOW = 1_800_000_000;
const verifier = createSigilumVerifier({ now: () => NOW, maxAgeSeconds: 300, futureSkewSeconds: 5 });
const URL_ = "https://gw.example/proxy/crm/v1/items";

const alice = createIdentity("imp-alice");
const bob = createIdentity("imp-bob");
/** A second key of Alice's namespace (another of her agents, approved on its own). */
const aliceOther = createIdentity("imp-alice");

function send(signer: SigilumIdentity, options: { created?: number; headers?: Record<string, string> } = {}) {
  const signed: SignedRequest = signRequest(signer, {
    url: URL_,
    method: "GET",
    created: options.created ?? NOW,
    ...(options.headers ? { headers: options.headers } : {}),
  });
  return verifier.verify({
    method: signed.method,
    targetUri: signed.url,
    headers: signed.headers,
    body: null,
  });
}

/** Alice's key and certificate, with one identity field replaced: she signs all of it herself. */
const aliceClaiming = (field: Partial<SigilumIdentity>): SigilumIdentity => ({ ...alice, ...field });

test("control: Alice's own correctly signed request verifies as Alice", () => {
  const result = send(alice);
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.namespace, alice.namespace);
  assert.equal(result.publicKey, alice.publicKey);
});

test("namespace↔certificate check: Alice claims Bob's namespace with her own valid certificate → AUTH_IDENTITY_INVALID", () => {
  const result = send(aliceClaiming({ namespace: bob.namespace }));
  assert.deepEqual(result, {
    ok: false,
    code: "AUTH_IDENTITY_INVALID",
    reason: "sigilum-namespace does not match the agent certificate",
  });
});

test("agent-key↔certificate check: Alice sends another agent's sigilum-agent-key with her own certificate → AUTH_IDENTITY_INVALID", () => {
  for (const other of [aliceOther, bob]) {
    const result = send(aliceClaiming({ publicKey: other.publicKey }));
    assert.deepEqual(result, {
      ok: false,
      code: "AUTH_IDENTITY_INVALID",
      reason: "sigilum-agent-key does not match the agent certificate",
    });
  }
});

test("keyid↔certificate check: Alice signs with another agent's keyid → AUTH_IDENTITY_INVALID", () => {
  const result = send(aliceClaiming({ keyId: aliceOther.keyId }));
  assert.deepEqual(result, {
    ok: false,
    code: "AUTH_IDENTITY_INVALID",
    reason: "keyid does not match the agent certificate",
  });
});

test("signature expiry check: a correctly signed request older than the limit → AUTH_SIGNATURE_INVALID (expired)", () => {
  assert.ok(send(alice, { created: NOW - 300 }).ok, "exactly at the limit is still fresh");
  const result = send(alice, { created: NOW - 301 });
  assert.deepEqual(result, {
    ok: false,
    code: "AUTH_SIGNATURE_INVALID",
    reason: "signature expired (created 301s ago, limit 300s)",
    kind: "expired",
  });
});

test("future skew check: a signature created beyond the skew → AUTH_SIGNATURE_INVALID (future)", () => {
  assert.ok(send(alice, { created: NOW + 5 }).ok, "inside the skew");
  const result = send(alice, { created: NOW + 6 });
  assert.deepEqual(result, {
    ok: false,
    code: "AUTH_SIGNATURE_INVALID",
    reason: "signature created in the future",
    kind: "not_yet_valid",
  });
});

test("unsigned agent-id check: a sigilum-agent-id header outside the signed components → AUTH_IDENTITY_INVALID", () => {
  const result = send(alice, { headers: { "sigilum-agent-id": "billing-bot" } });
  assert.deepEqual(result, {
    ok: false,
    code: "AUTH_IDENTITY_INVALID",
    reason: "sigilum-agent-id is present but not signed",
  });
});

test("signature check: Bob's certificate and key on a request Alice signed → AUTH_SIGNATURE_INVALID", () => {
  const result = send(
    aliceClaiming({
      namespace: bob.namespace,
      publicKey: bob.publicKey,
      keyId: bob.keyId,
      certificate: bob.certificate,
    }),
  );
  assert.deepEqual(result, {
    ok: false,
    code: "AUTH_SIGNATURE_INVALID",
    reason: "signature verification failed",
  });
});

test("content-digest check: a body swapped after signing (signed digest kept) → AUTH_SIGNATURE_INVALID", () => {
  const signed = signRequest(alice, { url: URL_, method: "POST", body: '{"amount":1}', created: NOW });
  const result = verifier.verify({
    method: signed.method,
    targetUri: signed.url,
    headers: signed.headers,
    body: Buffer.from('{"amount":9999}'),
  });
  assert.deepEqual(result, {
    ok: false,
    code: "AUTH_SIGNATURE_INVALID",
    reason: "content-digest does not match the body",
    kind: "digest_mismatch",
  });
});
