import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { blake2b } from "@noble/hashes/blake2.js";
import { generateBoxKeyPair, openSealed, SealedBoxError } from "@sigilum-gw/shared/sealed-box";
import nacl from "tweetnacl";
// @ts-expect-error: the dashboard's plain ES module (no type declarations)
import { sealedBox } from "../dashboard/assets/lib/sealed-box.js";

/** The dashboard's browser sealed box, run in Node, opened by the gateway's libsodium (sodium-native). */

const seal = sealedBox(nacl, blake2b) as (plaintext: string, publicKeyBase64: string) => string;

describe("dashboard sealed box (tweetnacl + BLAKE2b)", () => {
  test("libsodium's crypto_box_seal_open opens what the dashboard sealed (ASCII, UTF-8, empty, 4 KiB)", () => {
    const keys = generateBoxKeyPair();
    const publicKey = keys.publicKey.toString("base64");
    for (const secret of ["sk-live-0123456789", "pässwörd ✓ 秘密", "", "x".repeat(4096)]) {
      const sealed = seal(secret, publicKey);
      assert.equal(Buffer.from(sealed, "base64").length, Buffer.byteLength(secret) + 48);
      assert.equal(openSealed(sealed, keys), secret);
    }
    assert.notEqual(seal("same", publicKey), seal("same", publicKey), "a fresh ephemeral key each time");
  });

  test("sealed to another key or altered: the gateway refuses it; a bad key is refused before sealing", () => {
    const keys = generateBoxKeyPair();
    const other = generateBoxKeyPair().publicKey.toString("base64");
    assert.throws(() => openSealed(seal("secret", other), keys), SealedBoxError);
    const bytes = Buffer.from(seal("secret", keys.publicKey.toString("base64")), "base64");
    bytes[bytes.length - 1]! ^= 1;
    assert.throws(() => openSealed(bytes.toString("base64"), keys), SealedBoxError);
    assert.throws(() => seal("secret", Buffer.alloc(16).toString("base64")), /32 bytes/);
  });
});
