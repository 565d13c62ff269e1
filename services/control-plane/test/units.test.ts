import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfigError } from "@sigilum-gw/shared/config";
import {
  loadOrCreateJwtSecret,
  mintOwnerToken,
  readJwtSecret,
  verifyOwnerToken,
} from "@sigilum-gw/shared/owner-token";
import fc from "fast-check";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { generateServiceKey, hashServiceKey, serviceKeyHint } from "../src/auth/service-keys.ts";
import { targetUriOf } from "../src/auth/signed-request.ts";
import { newClaimId } from "../src/claims/records.ts";
import { decideStatus } from "../src/claims/submit.ts";
import { loadConfig } from "../src/config.ts";
import { ipMatchesRange, isIpRange } from "../src/net/ip-ranges.ts";
import { claimPolicy } from "../src/owners/claim-policy.ts";

const SECRET = "s".repeat(40);

describe("owner JWT", () => {
  test("mints exactly the reference CLI token shape", async () => {
    const token = await mintOwnerToken({
      namespace: "alice",
      secret: SECRET,
      ttlSeconds: 60,
      now: 1_700_000_000_000,
    });
    assert.deepEqual(decodeProtectedHeader(token), { alg: "HS256", typ: "JWT" });
    const payload = decodeJwt(token);
    assert.deepEqual(Object.keys(payload), ["sub", "email", "namespace", "iss", "aud", "iat", "exp"]);
    assert.deepEqual(payload, {
      sub: "user_local_alice",
      email: "alice@local.sigilum",
      namespace: "alice",
      iss: "sigilum-api",
      aud: "sigilum-dashboard",
      iat: 1_700_000_000,
      exp: 1_700_000_060,
    });
  });

  test("verifies signature, issuer, audience, expiry and required claims", async () => {
    const ok = await verifyOwnerToken(await mintOwnerToken({ namespace: "alice", secret: SECRET }), SECRET);
    assert.deepEqual(ok, {
      ok: true,
      claims: { sub: "user_local_alice", email: "alice@local.sigilum", namespace: "alice" },
    });
    const wrongKey = await verifyOwnerToken(
      await mintOwnerToken({ namespace: "alice", secret: "t".repeat(40) }),
      SECRET,
    );
    assert.equal(wrongKey.ok, false);
    const expired = await mintOwnerToken({
      namespace: "a1c",
      secret: SECRET,
      ttlSeconds: 1,
      now: Date.now() - 5000,
    });
    assert.deepEqual(await verifyOwnerToken(expired, SECRET), { ok: false, expired: true });
    const { SignJWT } = await import("jose");
    const key = new TextEncoder().encode(SECRET);
    const noNamespace = await new SignJWT({ sub: "u", email: "e" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("sigilum-api")
      .setAudience("sigilum-dashboard")
      .setExpirationTime("1h")
      .sign(key);
    assert.equal((await verifyOwnerToken(noNamespace, SECRET)).ok, false);
    const wrongAudience = await new SignJWT({ sub: "u", email: "e", namespace: "alice" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("sigilum-api")
      .setAudience("someone-else")
      .setExpirationTime("1h")
      .sign(key);
    assert.equal((await verifyOwnerToken(wrongAudience, SECRET)).ok, false);
    const noExp = await new SignJWT({ sub: "u", email: "e", namespace: "alice" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("sigilum-api")
      .setAudience("sigilum-dashboard")
      .sign(key);
    assert.equal((await verifyOwnerToken(noExp, SECRET)).ok, false);
    // alg=none and garbage never pass.
    const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(
      JSON.stringify({
        sub: "u",
        email: "e",
        namespace: "alice",
        iss: "sigilum-api",
        aud: "sigilum-dashboard",
        exp: 9e9,
      }),
    ).toString("base64url")}.`;
    assert.equal((await verifyOwnerToken(none, SECRET)).ok, false);
    await fc.assert(
      fc.asyncProperty(fc.string(), async (s) => {
        assert.equal((await verifyOwnerToken(s, SECRET)).ok, false);
      }),
      { numRuns: 200 },
    );
  });

  test("the JWT secret file is created once with mode 0600 and reused", () => {
    const dir = mkdtempSync(join(tmpdir(), "cp-secret-"));
    try {
      const data = join(dir, "nested", "data");
      assert.equal(readJwtSecret(data), undefined);
      const first = loadOrCreateJwtSecret(data);
      assert.ok(first.length >= 48);
      assert.equal(statSync(join(data, "jwt-secret")).mode & 0o777, 0o600);
      assert.equal(loadOrCreateJwtSecret(data), first);
      assert.equal(readJwtSecret(data), first);
      assert.equal(
        loadOrCreateJwtSecret(data, "configured-secret-value-of-32-chars!!"),
        "configured-secret-value-of-32-chars!!",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("service keys and ids", () => {
  test("sk_live_ + 48 hex, stored as sha256 hex, hinted by the last four", () => {
    const key = generateServiceKey();
    assert.match(key, /^sk_live_[0-9a-f]{48}$/);
    assert.notEqual(generateServiceKey(), key);
    assert.match(hashServiceKey(key), /^[0-9a-f]{64}$/);
    assert.equal(hashServiceKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(serviceKeyHint(key), `...${key.slice(-4)}`);
    assert.match(newClaimId(), /^cl_[0-9a-f]{24}$/);
  });
});

describe("IP ranges (reference ipMatchesCIDR cases)", () => {
  const cases: [string, string, boolean][] = [
    ["2001:db8::1234", "2001:db8::/64", true],
    ["2001:db8:1::1", "2001:db8::/64", false],
    ["2001:db8::1", "2001:db8::1", true],
    ["::2", "::1", false],
    ["::ffff:192.168.1.10", "192.168.1.0/24", true],
    ["::ffff:10.0.0.10", "192.168.1.0/24", false],
    ["2001:db8::1", "10.0.0.0/8", false],
    ["not-an-ip", "10.0.0.0/8", false],
    ["2001:db8::1", "2001:db8::/129", false],
    ["10.1.2.3", "10.0.0.0/8", true],
    ["10.1.2.3", "10.1.2.3", true],
    ["10.1.2.3", "10.1.2.3/33", false],
  ];
  for (const [ip, range, expected] of cases) {
    test(`${ip} in ${range} → ${expected}`, () => assert.equal(ipMatchesRange(ip, range), expected));
  }
  test("range validation", () => {
    assert.equal(isIpRange("10.0.0.0/8"), true);
    assert.equal(isIpRange("10.0.0.0/8/1"), false);
    assert.equal(isIpRange("10.0.0.0/x"), false);
    assert.equal(isIpRange(""), false);
  });
});

describe("claim decisions", () => {
  const limits = {
    maxApprovedAgentsPerService: 10,
    maxConnectedServicesPerNamespace: 10,
    maxPendingAuthorizations: 20,
    claimNonceTtlSeconds: 600,
  };
  const base = { approvedForService: 0, connectedServices: 0, pending: 0 };
  const policy = claimPolicy({});

  test("reference order: service limit, agent limit, pending limit, auto-approve, pending", () => {
    assert.equal(decideStatus(limits, base, policy, "s", "1.1.1.1").status, "pending");
    const svc = decideStatus(limits, { ...base, connectedServices: 10 }, policy, "s", "1.1.1.1");
    assert.deepEqual([svc.status, svc.reason], ["rejected", "service_limit_reached"]);
    assert.match(svc.message, /up to 10 service connections \(10 currently connected\)/);
    // An already connected service is not blocked by the service limit.
    const connected = decideStatus(
      limits,
      { ...base, approvedForService: 1, connectedServices: 10 },
      policy,
      "s",
      "",
    );
    assert.equal(connected.status, "pending");
    const agents = decideStatus(
      limits,
      { ...base, approvedForService: 10, connectedServices: 1 },
      policy,
      "s",
      "",
    );
    assert.equal(agents.reason, "agent_limit_reached");
    assert.equal(
      decideStatus(limits, { ...base, pending: 20 }, policy, "s", "").reason,
      "max_pending_reached",
    );
    const unlimited = claimPolicy({ policy: { maxPendingLimit: false } });
    assert.equal(decideStatus(limits, { ...base, pending: 20 }, unlimited, "s", "").status, "pending");
    const trusted = claimPolicy({ policy: { autoApproveTrusted: true, trustedServices: ["s"] } });
    assert.equal(decideStatus(limits, base, trusted, "s", "").status, "approved");
    assert.equal(decideStatus(limits, base, trusted, "t", "").status, "pending");
    // Limits win over auto-approval.
    assert.equal(decideStatus(limits, { ...base, pending: 20 }, trusted, "s", "").status, "rejected");
  });

  test("policy parsing is defensive", () => {
    assert.deepEqual(claimPolicy(null), {
      autoExpire: true,
      maxPendingLimit: true,
      autoApproveTrusted: false,
      trustedServices: [],
      autoApproveIP: false,
      trustedIPRanges: [],
    });
    const odd = claimPolicy({ policy: { autoApproveTrusted: "true", trustedServices: [1, " s ", ""] } });
    assert.equal(odd.autoApproveTrusted, false);
    assert.deepEqual(odd.trustedServices, ["s"]);
  });
});

describe("config", () => {
  test("defaults", () => {
    const c = loadConfig({});
    assert.deepEqual(c.listen, { host: undefined, port: 8787 });
    assert.equal(c.dataDir, "./.data/control-plane");
    assert.equal(c.databaseUrl, undefined);
    assert.equal(c.redisUrl, undefined);
    assert.equal(c.redisPrefix, "sigilum:");
    assert.deepEqual(c.allowedOrigins, ["http://localhost:3000"]);
    assert.equal(c.limits.apiKeysPerService, 2);
    assert.equal(c.pendingAuthorizationExpiryHours, 24);
  });

  test("each variable lands in its typed field, durations in the unit their users take", () => {
    const c = loadConfig({
      CONTROL_PLANE_ADDR: "127.0.0.1:9000",
      CONTROL_PLANE_PUBLIC_URL: "https://cp.example.com/",
      CONTROL_PLANE_TRUST_PROXY: "yes",
      CONTROL_PLANE_SHUTDOWN_TIMEOUT_SECONDS: "3",
      CONTROL_PLANE_ALLOWED_HOSTS: "cp.internal",
      LOG_LEVEL: "WARN",
      DASHBOARD_SIGNUP: "on",
      DASHBOARD_LOGIN_LINK_SECONDS: "60",
      MAX_SERVICES_PER_OWNER: "7",
      MAX_WEBHOOKS_PER_SERVICE: "9",
      PAIRING_LEASE_SECONDS: "30",
      WEBHOOK_RETRY_DELAYS_SECONDS: "1, 20",
      WEBHOOK_TIMEOUT_SECONDS: "4",
      WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
      SIGILUM_ED25519_BACKEND: "Node-Crypto",
      LISTEN_ADDRESS_FILE: "/run/cp.address.json",
    });
    assert.equal(c.ed25519Backend, "node-crypto");
    assert.equal(c.listenAddressFile, "/run/cp.address.json");
    assert.deepEqual(c.listen, { host: "127.0.0.1", port: 9000 });
    assert.equal(c.publicUrl, "https://cp.example.com");
    assert.equal(c.trustProxy, true);
    assert.equal(c.shutdownTimeoutMs, 3000);
    assert.deepEqual(c.allowedHosts, ["cp.internal"]);
    assert.equal(c.logLevel, "warn");
    assert.deepEqual(c.dashboard, { sessionSeconds: 12 * 3600, loginLinkSeconds: 60, signup: true });
    assert.equal(c.limits.servicesPerOwner, 7);
    assert.equal(c.pairingLeaseMs, 30_000);
    assert.deepEqual(c.webhooks, {
      secretEncryptionKey: undefined,
      allowPrivateTargets: true,
      retryDelaysMs: [1000, 20_000],
      retryWindowMs: 86_400_000,
      timeoutMs: 4000,
      maxPerService: 9,
    });
  });

  test("bad values name the variable and never echo secrets", () => {
    const bad = (env: Record<string, string>, variable: string) => {
      try {
        loadConfig(env);
        assert.fail("expected ConfigError");
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        assert.ok(
          err.issues.some((i) => i.variable === variable),
          JSON.stringify(err.issues),
        );
        return err.message;
      }
    };
    bad({ CONTROL_PLANE_ADDR: "nope:x" }, "CONTROL_PLANE_ADDR");
    bad({ DATABASE_URL: "mysql://x" }, "DATABASE_URL");
    bad({ MAX_API_KEYS_PER_SERVICE: "0" }, "MAX_API_KEYS_PER_SERVICE");
    bad({ ALLOWED_ORIGINS: "not an origin" }, "ALLOWED_ORIGINS");
    bad({ SIGILUM_ED25519_BACKEND: "openssl" }, "SIGILUM_ED25519_BACKEND");
    const msg = bad({ JWT_SECRET: "short-secret-value" }, "JWT_SECRET");
    assert.ok(!msg.includes("short-secret-value"));
  });
});

describe("signed target URI", () => {
  const req = (headers: Record<string, string>, url = "/v1/claims?x=1") =>
    ({ headers, originalUrl: url }) as unknown as Parameters<typeof targetUriOf>[0];
  test("raw Host and request-target, no normalisation", () => {
    assert.equal(
      targetUriOf(req({ host: "API.Example:80" }), { trustProxy: false }),
      "http://API.Example:80/v1/claims?x=1",
    );
    assert.equal(targetUriOf(req({}), { trustProxy: false }), "http://localhost/v1/claims?x=1");
  });
  test("public URL wins; X-Forwarded-Proto only when trusted", () => {
    assert.equal(
      targetUriOf(req({ host: "internal:8787" }), {
        publicUrl: "https://api.example.com",
        trustProxy: false,
      }),
      "https://api.example.com/v1/claims?x=1",
    );
    const fwd = req({ host: "h", "x-forwarded-proto": "https, http" });
    assert.equal(targetUriOf(fwd, { trustProxy: false }), "http://h/v1/claims?x=1");
    assert.equal(targetUriOf(fwd, { trustProxy: true }), "https://h/v1/claims?x=1");
    assert.equal(
      targetUriOf(req({ host: "h", "x-forwarded-proto": "gopher" }), { trustProxy: true }),
      "http://h/v1/claims?x=1",
    );
  });
});

describe("DID helpers", () => {
  test("base58btc of the reference key vector", async () => {
    const { base58btc, parseSigilumDid } = await import("../src/owners/did.ts");
    const { parsePublicKey } = await import("@sigilum-gw/shared/identity");
    const raw = parsePublicKey("ed25519:J07dj/co4diCmQYTTQGq4adhnMKYejHazCYUQ7eBh0k=")!;
    assert.equal(`z${base58btc(raw)}`, "z3eSef3kgSU38hB8tamR211GBRkTC8AcBrFGfmLyyQ8oA");
    assert.equal(base58btc(new Uint8Array([0, 0, 1])), "112");
    assert.equal(parseSigilumDid("did:sigilum:alice#key-1"), "alice");
    assert.equal(parseSigilumDid("did:sigilum:Alice/x"), "Alice");
    assert.equal(parseSigilumDid("did:web:alice"), undefined);
    assert.equal(parseSigilumDid("did:sigilum:a_b"), undefined);
  });
});
