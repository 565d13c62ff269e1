import assert from "node:assert/strict";
import { test } from "node:test";
import { availableEd25519Backends, defaultEd25519Backend } from "../src/ed25519.ts";
import { createSigilumVerifier, signRequest } from "../src/http-signatures.ts";
import {
  certificatePayload,
  encodeCertificateHeader,
  identityFromSeed,
  keyIdFor,
  verifyCertificate,
} from "../src/identity.ts";
import { fixtureCertificate, fixtureSeed as seed } from "./support/fixture-identity.ts";

const identity = identityFromSeed("fixture-alice", seed, fixtureCertificate);
const base = { created: 1700000000, nonce: "123e4567-e89b-12d3-a456-426614174000" };

test("fixture identity derives the documented key id and certificate", () => {
  const backend = defaultEd25519Backend();
  assert.equal(identity.publicKey, fixtureCertificate.publicKey);
  assert.equal(
    keyIdFor(identity.did, Buffer.from(backend.publicKeyFromSeed(seed))),
    fixtureCertificate.keyId,
  );
  assert.ok(verifyCertificate(backend, fixtureCertificate).ok);
  const reissued = backend.sign(seed, Buffer.from(certificatePayload(fixtureCertificate)));
  assert.equal(Buffer.from(reissued).toString("base64url"), fixtureCertificate.proof.sig);
  assert.ok(
    encodeCertificateHeader(fixtureCertificate).startsWith(
      "eyJ2ZXJzaW9uIjoxLCJuYW1lc3BhY2UiOiJmaXh0dXJlLWFsaWNlIi",
    ),
  );
});

const golden: Array<{
  name: string;
  method: string;
  url: string;
  body: string | null;
  subject?: string;
  signature: string;
  target: string;
  digest?: string;
}> = [
  {
    name: "get-no-body-fragment",
    method: "GET",
    url: "https://api.sigilum.local/v1/namespaces/alice/claims?status=approved#fragment",
    body: null,
    target: "https://api.sigilum.local/v1/namespaces/alice/claims?status=approved",
    signature:
      "sig1=:jaRXaGq5rhmHNHZ1fNtBzIjIR3Sj7djYr+boo0F9W6FXHsZ8+xCr0+zNj+Snh9eUS47bu0Iq7AmCa2Zy0CGwBA==:",
  },
  {
    name: "get-no-body-fragment",
    method: "GET",
    url: "https://api.sigilum.local/v1/namespaces/alice/claims?status=approved#fragment",
    body: null,
    subject: "customer-12345",
    target: "https://api.sigilum.local/v1/namespaces/alice/claims?status=approved",
    signature:
      "sig1=:6B/aW/EdyaTkvsJ5jMj1XWkL5vs6JWmcH+Kc6ImjrciQJesbXIyLut1lpxOFIo6H/NvtWkJoZJONAzZdNzuUDg==:",
  },
  {
    name: "post-with-body",
    method: "POST",
    url: "https://api.sigilum.local/v1/namespaces/alice/claims",
    body: '{"action":"approve"}',
    target: "https://api.sigilum.local/v1/namespaces/alice/claims",
    digest: "sha-256=:5toCTO6LRikiTvJ0Ha+F6ucUxaTs3wMsnaImDBR0NZg=:",
    signature:
      "sig1=:99nSljjUdWjgcDdRvMXGvrSuL3SScmmVS/QUFaZxiliEqx//nViWdnxlbO6AgpCdXGiE2aLjRAqkxox2sPDADA==:",
  },
  {
    name: "post-with-body",
    method: "POST",
    url: "https://api.sigilum.local/v1/namespaces/alice/claims",
    body: '{"action":"approve"}',
    subject: "customer-12345",
    target: "https://api.sigilum.local/v1/namespaces/alice/claims",
    signature:
      "sig1=:K/V1jiAKCLeivPNz690xNDtf8pfzK1QeeQr7W3a6QwwzgdmHFeQBpJNhT2IvjEKGkYIkUl4YOZUcDYm8u0/TBQ==:",
  },
  {
    name: "put-with-body-query-and-port",
    method: "PUT",
    url: "https://api.sigilum.local:8443/v1/records/alpha?view=full#section",
    body: '{"text":"hello world","count":42}',
    target: "https://api.sigilum.local:8443/v1/records/alpha?view=full",
    digest: "sha-256=:Xruw00DsBxReBcikx32MJ+Rs/9hMiEJ6/vjfZhtV2Mc=:",
    signature:
      "sig1=:4qHV1SrkeHLT+oSeQyMad3tosbXtwHuEgPD82wfIE/mDEoRgXXBLU3WqRTJfAbpzKeHZCheJZZiH+W6s5KLaDA==:",
  },
  {
    name: "put-with-body-query-and-port",
    method: "PUT",
    url: "https://api.sigilum.local:8443/v1/records/alpha?view=full#section",
    body: '{"text":"hello world","count":42}',
    subject: "customer-12345",
    target: "https://api.sigilum.local:8443/v1/records/alpha?view=full",
    signature:
      "sig1=:sppb+hZAcwVcIXOCOZEKFf/S/UWkNuUx4JIsuSk9YOs5tE1l8aOKX+c4gXvQ5nKSMwS3bQVBmk4TrKKuhfHICw==:",
  },
  {
    name: "delete-no-body-encoded-query",
    method: "DELETE",
    url: "https://api.sigilum.local/v1/audit/events?cursor=abc%2F123&limit=50#ignored",
    body: null,
    target: "https://api.sigilum.local/v1/audit/events?cursor=abc%2F123&limit=50",
    signature:
      "sig1=:iWmugyDVOLtRlOw3EIdIcYweGpiXyA6OOsB5gocXsFkv8LCX2gJotp5/CssRFnuWAiciriHVipu+zY5x0KwtBQ==:",
  },
  {
    name: "delete-no-body-encoded-query",
    method: "DELETE",
    url: "https://api.sigilum.local/v1/audit/events?cursor=abc%2F123&limit=50#ignored",
    body: null,
    subject: "customer-12345",
    target: "https://api.sigilum.local/v1/audit/events?cursor=abc%2F123&limit=50",
    signature:
      "sig1=:NQw7h9cTOsey8jSQHi3PFY0DZ7148IyivAHvpeeSYOoy5Wav3U0ShVLvk1BJm/vK19dWJkBAtizUxlwr/ksJCQ==:",
  },
];

for (const vector of golden) {
  test(`signer reproduces the reference SDK byte for byte: ${vector.name} subject=${vector.subject ?? "default"}`, () => {
    const signed = signRequest(identity, {
      ...base,
      method: vector.method,
      url: vector.url,
      body: vector.body,
      subject: vector.subject,
    });
    assert.equal(signed.url, vector.target);
    assert.equal(signed.headers.signature, vector.signature);
    if (vector.digest) assert.equal(signed.headers["content-digest"], vector.digest);
    const verifier = createSigilumVerifier({ now: () => base.created + 5, allowAgentIdComponent: false });
    const result = verifier.verify({
      method: signed.method,
      targetUri: signed.url,
      headers: signed.headers,
      body: signed.body,
    });
    assert.ok(result.ok, result.ok ? "" : result.reason);
    assert.equal(result.subject, vector.subject ?? "fixture-alice");
  });
}

test("extra caller headers are kept but not signed", () => {
  const signed = signRequest(identity, {
    created: 1700000000,
    nonce: "n-1",
    method: "POST",
    url: "https://api.sigilum.id/v1/claims",
    body: '{"a":1}',
    headers: { "Content-Type": "application/json", authorization: "Bearer sk_live_x" },
  });
  assert.equal(signed.headers["content-digest"], "sha-256=:AVq9f1zFei3ZS3WQ8ErYCEJzkF7jPsXOvq5iJ2qX+GI=:");
  assert.equal(
    signed.headers.signature,
    "sig1=:lNYUtKPY6gRaVO8IxmHm9aQQcdqLq0D6hEZImb4KAdal+hvY4nSaO0kmjRE/uRrl3ilaImJ3m2MTy5pEtb/PDg==:",
  );
  assert.equal(signed.headers["content-type"], "application/json");
});

test("duplicate signing header lines are rejected as AUTH_HEADERS_INVALID", () => {
  const signed = signRequest(identity, { ...base, url: "https://api.sigilum.local/x" });
  const verifier = createSigilumVerifier({ now: () => base.created });
  const headers = Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k, [v]]));
  assert.ok(verifier.verify({ method: "GET", targetUri: signed.url, headers }).ok);
  for (const name of [
    "signature",
    "signature-input",
    "sigilum-namespace",
    "sigilum-subject",
    "sigilum-agent-key",
    "sigilum-agent-cert",
    "sigilum-agent-id",
  ]) {
    const result = verifier.verify({
      method: "GET",
      targetUri: signed.url,
      headers: { ...headers, [name]: [signed.headers[name] ?? "x", "other"] },
    });
    assert.ok(!result.ok && result.code === "AUTH_HEADERS_INVALID", name);
  }
});

test("an unsigned sigilum-agent-id header is an identity error; a blank nonce is a nonce error", () => {
  const verifier = createSigilumVerifier({ now: () => base.created });
  const signed = signRequest(identity, { ...base, url: "https://api.sigilum.local/x" });
  const withAgentId = verifier.verify({
    method: "GET",
    targetUri: signed.url,
    headers: { ...signed.headers, "sigilum-agent-id": "bot-1" },
  });
  assert.ok(!withAgentId.ok && withAgentId.code === "AUTH_IDENTITY_INVALID");
  const blank = signRequest(identity, { ...base, nonce: "   ", url: "https://api.sigilum.local/x" });
  const result = verifier.verify({ method: "GET", targetUri: blank.url, headers: blank.headers });
  assert.ok(!result.ok && result.code === "AUTH_NONCE_INVALID");
});

test("a request with a body must sign content-digest; without a body it must not", () => {
  const verifier = createSigilumVerifier({ now: () => base.created });
  const signed = signRequest(identity, {
    ...base,
    method: "POST",
    url: "https://api.sigilum.local/x",
    body: "{}",
  });
  const noBody = verifier.verify({
    method: "POST",
    targetUri: signed.url,
    headers: signed.headers,
    body: null,
  });
  assert.ok(!noBody.ok && noBody.code === "AUTH_SIGNED_COMPONENTS_INVALID");
});

test("every backend signs with each seed's own key, also when one signer keeps signing (memoized key material)", () => {
  const seeds = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
  const message = Buffer.from("usage event");
  for (const backend of availableEd25519Backends()) {
    const keys = seeds.map((seed) => backend.importPublicKey(backend.publicKeyFromSeed(seed)));
    for (let round = 0; round < 2; round++) {
      for (const [i, seed] of seeds.entries()) {
        const signature = backend.sign(seed, message);
        assert.ok(backend.verify(keys[i]!, message, signature), `${backend.name}: seed ${i} round ${round}`);
        assert.ok(!backend.verify(keys[1 - i]!, message, signature), `${backend.name}: not the other key`);
      }
    }
  }
});
