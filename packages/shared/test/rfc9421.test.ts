import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { availableEd25519Backends } from "../src/ed25519.ts";
import {
  defaultResolver,
  type HttpRequestMessage,
  signMessage,
  verifyMessage,
} from "../src/http-signatures.ts";

// RFC 9421 Appendix B.1.4 key and B.2.6 "Signing a Request Using ed25519".
const seed = Buffer.from("9f8362f87a484a954e6e740c5b4c0e84229139a20aa8ab56ff66586f6a7d29c5", "hex");
const publicKey = Buffer.from("26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb", "hex");
const message: HttpRequestMessage = {
  method: "POST",
  targetUri: "https://example.com/foo?param=Value&Pet=dog",
  headers: {
    host: "example.com",
    date: "Tue, 20 Apr 2021 02:07:55 GMT",
    "content-type": "application/json",
    "content-digest":
      "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    "content-length": "18",
  },
};
const expectedBase = [
  '"date": Tue, 20 Apr 2021 02:07:55 GMT',
  '"@method": POST',
  '"@path": /foo',
  '"@authority": example.com',
  '"content-type": application/json',
  '"content-length": 18',
  '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
].join("\n");
const expectedInput =
  'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"';
const expectedSignature =
  "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

for (const backend of availableEd25519Backends()) {
  test(`RFC 9421 B.2.6 signer reproduces the signature byte for byte (${backend.name})`, () => {
    assert.deepEqual(Buffer.from(backend.publicKeyFromSeed(seed)), publicKey);
    const signed = signMessage({
      label: "sig-b26",
      components: ["date", "@method", "@path", "@authority", "content-type", "content-length"],
      params: [
        ["created", 1618884473],
        ["keyid", "test-key-ed25519"],
      ],
      resolve: defaultResolver(message),
      sign: (base) => backend.sign(seed, base),
    });
    assert.equal(signed.base, expectedBase);
    assert.equal(Buffer.byteLength(signed.base), 284);
    assert.equal(
      createHash("sha256").update(signed.base).digest("hex"),
      "e6402577f54303accfda63dfbde1a7b8c5e5e6f3f7898637b7d78dc07ee1896a",
    );
    assert.equal(signed.signatureInput, expectedInput);
    assert.equal(signed.signature, expectedSignature);
  });

  test(`RFC 9421 B.2.6 verifier accepts the RFC's headers and rejects a changed component (${backend.name})`, () => {
    const key = backend.importPublicKey(publicKey);
    const verify = (msg: HttpRequestMessage) =>
      verifyMessage({
        label: "sig-b26",
        signatureInput: expectedInput,
        signature: expectedSignature,
        resolve: defaultResolver(msg),
        verify: (base, sig) => backend.verify(key, base, sig),
      });
    const ok = verify(message);
    assert.ok(ok.ok);
    assert.equal(ok.base, expectedBase);
    assert.equal(verify({ ...message, method: "PUT" }).ok, false);
    assert.equal(verify({ ...message, targetUri: "https://example.com/bar?param=Value&Pet=dog" }).ok, false);
    assert.equal(
      verify({ ...message, headers: { ...message.headers, date: "Wed, 21 Apr 2021 02:07:55 GMT" } }).ok,
      false,
    );
    // @path does not cover the query, so B.2.6 still verifies with another query: the RFC's own caveat.
    assert.equal(verify({ ...message, targetUri: "https://example.com/foo?x=1" }).ok, true);
  });
}

test("Signature-Input parameters are used exactly as received (no re-serialisation)", () => {
  const backend = availableEd25519Backends()[0]!;
  const reordered =
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");keyid="test-key-ed25519";created=1618884473';
  const result = verifyMessage({
    label: "sig-b26",
    signatureInput: reordered,
    signature: expectedSignature,
    resolve: defaultResolver(message),
    verify: (base, sig) => backend.verify(backend.importPublicKey(publicKey), base, sig),
  });
  assert.equal(result.ok, false);
});
