import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { aad, createSecretBox, SecretCryptoError } from "../src/store/crypto.ts";

describe("secret box (AES-256-GCM under an HKDF-derived key)", () => {
  const box = createSecretBox({ masterKey: "master-key-one" });

  test("round trip; random IV per record; ciphertext does not contain the plaintext", () => {
    const a = box.seal("sk-live-SECRET", aad.connectionSecret("conn", 1));
    const b = box.seal("sk-live-SECRET", aad.connectionSecret("conn", 1));
    assert.notEqual(a.iv, b.iv);
    assert.notEqual(a.ct, b.ct);
    assert.equal(box.open(a, aad.connectionSecret("conn", 1)), "sk-live-SECRET");
    assert.ok(!JSON.stringify(a).includes("SECRET"));
    assert.match(a.kid, /^[0-9a-f]{8}$/);
  });

  test("a ciphertext copied to another record or version fails (AAD binds id and field)", () => {
    const sealed = box.seal("value", aad.connectionSecret("conn-a", 1));
    assert.throws(() => box.open(sealed, aad.connectionSecret("conn-b", 1)), SecretCryptoError);
    assert.throws(() => box.open(sealed, aad.connectionSecret("conn-a", 2)), SecretCryptoError);
    assert.throws(() => box.open(sealed, aad.variable("conn-a")), SecretCryptoError);
  });

  test("tampering with ciphertext, tag or iv fails; malformed records fail", () => {
    const sealed = box.seal("value", "x");
    const flip = (b64: string) => {
      const buf = Buffer.from(b64, "base64");
      buf[0] = buf[0]! ^ 1;
      return buf.toString("base64");
    };
    assert.throws(() => box.open({ ...sealed, ct: flip(sealed.ct) }, "x"), SecretCryptoError);
    assert.throws(() => box.open({ ...sealed, tag: flip(sealed.tag) }, "x"), SecretCryptoError);
    assert.throws(() => box.open({ ...sealed, iv: flip(sealed.iv) }, "x"), SecretCryptoError);
    assert.throws(() => box.open({ ...sealed, iv: "AAAA" }, "x"), SecretCryptoError);
    assert.throws(() => box.open(undefined, "x"), SecretCryptoError);
    assert.throws(() => box.open({ v: 2 }, "x"), SecretCryptoError);
  });

  test("another master key cannot open; the previous key keeps old records readable", () => {
    const old = box.seal("value", "x");
    const other = createSecretBox({ masterKey: "master-key-two" });
    assert.notEqual(other.currentKeyId, box.currentKeyId);
    assert.throws(() => other.open(old, "x"), /no master key with id/);
    const rotated = createSecretBox({ masterKey: "master-key-two", previousMasterKey: "master-key-one" });
    assert.equal(rotated.open(old, "x"), "value");
    assert.equal(rotated.isStale(old), true);
    const fresh = rotated.seal("value", "x");
    assert.equal(fresh.kid, rotated.currentKeyId);
    assert.equal(rotated.isStale(fresh), false);
  });

  test("the key id is stable for a master key (derived, not random)", () => {
    assert.equal(createSecretBox({ masterKey: "master-key-one" }).currentKeyId, box.currentKeyId);
  });

  test("an empty master key is refused", () => {
    assert.throws(() => createSecretBox({ masterKey: "" }), SecretCryptoError);
  });
});
