import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadVerifierConfig } from "../src/config.ts";

const base = { GATEWAY_INTERNAL_SECRET: "s".repeat(40) };

describe("verifier config", () => {
  test("defaults follow the spec", () => {
    const c = loadVerifierConfig(base);
    assert.deepEqual(c.listen, { host: undefined, port: 38110 });
    assert.equal(c.redisPrefix, "sigilum:");
    assert.equal(c.claims.ttlSeconds, 30);
    assert.equal(c.claims.refreshSeconds, 10);
    assert.equal(c.claims.staleIfErrorSeconds, 0);
    assert.equal(c.submissions.ratePerMinute, 30);
    assert.equal(c.bypass.enabled, false);
    assert.equal(c.nonceTtlSeconds, 600);
  });
  test("refresh is clamped to the TTL; the nonce window outlives the signature window", () => {
    const c = loadVerifierConfig({
      ...base,
      GATEWAY_CLAIMS_CACHE_TTL_SECONDS: "5",
      GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS: "20",
      SIGILUM_TIMESTAMP_TOLERANCE_SECONDS: "900",
      SIGILUM_NONCE_TTL_SECONDS: "60",
    });
    assert.equal(c.claims.refreshSeconds, 5);
    assert.equal(c.signatureMaxAgeSeconds, 900);
    assert.equal(c.nonceTtlSeconds, 960);
  });
  test("LOG_LEVEL, LISTEN_ADDRESS_FILE and SIGILUM_ED25519_BACKEND reach their fields; unset, the defaults", () => {
    const c = loadVerifierConfig({
      ...base,
      LOG_LEVEL: "Debug",
      LISTEN_ADDRESS_FILE: "/run/verifier.json",
      SIGILUM_ED25519_BACKEND: "noble",
    });
    assert.equal(c.logLevel, "debug");
    assert.equal(c.listenAddressFile, "/run/verifier.json");
    assert.equal(c.ed25519Backend, "noble");
    const d = loadVerifierConfig(base);
    assert.equal(d.logLevel, "info");
    assert.equal(d.listenAddressFile, undefined);
    assert.equal(d.ed25519Backend, undefined);
    assert.throws(
      () => loadVerifierConfig({ ...base, SIGILUM_ED25519_BACKEND: "openssl" }),
      /invalid SIGILUM_ED25519_BACKEND value "openssl": expected sodium-native\|node-crypto\|noble/,
    );
  });
  test("GATEWAY_PUBLIC_URL keeps scheme and host only", () => {
    assert.equal(
      loadVerifierConfig({ ...base, GATEWAY_PUBLIC_URL: "https://gw.example:8443/base" }).publicOrigin,
      "https://gw.example:8443",
    );
  });
  test("bad values stop start-up naming the variable, never echoing a secret", () => {
    assert.throws(() => loadVerifierConfig({}), /GATEWAY_INTERNAL_SECRET is required/);
    assert.throws(
      () => loadVerifierConfig({ GATEWAY_INTERNAL_SECRET: "short-secret" }),
      (e: Error) => {
        assert.match(e.message, /GATEWAY_INTERNAL_SECRET/);
        assert.doesNotMatch(e.message, /short-secret/);
        return true;
      },
    );
    assert.throws(
      () => loadVerifierConfig({ ...base, GATEWAY_TRUSTED_PROXY_CIDRS: "not-a-cidr" }),
      /GATEWAY_TRUSTED_PROXY_CIDRS/,
    );
    assert.throws(
      () => loadVerifierConfig({ ...base, GATEWAY_CLAIMS_STALE_IF_ERROR_SECONDS: "-1" }),
      /GATEWAY_CLAIMS_STALE_IF_ERROR_SECONDS/,
    );
    assert.throws(
      () => loadVerifierConfig({ ...base, GATEWAY_ADMIN_ACCESS_MODE: "token" }),
      /GATEWAY_ADMIN_TOKEN is required/,
    );
    assert.throws(() => loadVerifierConfig({ ...base, VERIFIER_ADDR: "nope:port" }), /VERIFIER_ADDR/);
  });
});

describe("<NAME>_FILE variables", () => {
  test("a secret comes from its file; unrelated *_FILE variables are ignored", async () => {
    const { mkdtemp, writeFile, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "verifier-config-"));
    try {
      await writeFile(join(dir, "secret"), `${"f".repeat(40)}\n`);
      const c = loadVerifierConfig({
        GATEWAY_INTERNAL_SECRET_FILE: join(dir, "secret"),
        TF_CLI_CONFIG_FILE: join(dir, "does-not-exist"),
      });
      assert.equal(c.internalSecret, "f".repeat(40));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
