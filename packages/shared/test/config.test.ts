import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { envGroup } from "../src/config/parse.ts";
import {
  adminEnv,
  ConfigError,
  claimsEnv,
  composeEnv,
  databaseEnv,
  envBool,
  envCsv,
  envEnum,
  envInt,
  envSeconds,
  forwardingEnv,
  gatewayAddrEnv,
  gatewayIdentityEnv,
  internalAuthEnv,
  listenAddr,
  logEnv,
  mcpEnv,
  parseConfig,
  parseListenAddress,
  proxyRuntimeEnv,
  redisEnv,
  serviceApiKeyEnvName,
  serviceApiKeyFor,
  shutdownEnv,
  signatureEnv,
  storeEnv,
} from "../src/config.ts";

const SECRET = "s3cr3t-value-that-must-not-leak-0123456789";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

describe("field semantics", () => {
  const schema = envGroup({
    FLAG: envBool({ default: true }),
    COUNT: envInt({ default: 5, min: 0 }),
    WAIT: envSeconds({ default: 10 }),
    MODE: envEnum(["loopback", "token", "hybrid"], { default: "hybrid" }),
    LIST: envCsv(),
  });

  test("empty string is the same as unset", () => {
    assert.deepEqual(parseConfig(schema, { FLAG: "", COUNT: "", WAIT: "", MODE: "", LIST: "" }), {
      FLAG: true,
      COUNT: 5,
      WAIT: 10,
      MODE: "hybrid",
      LIST: [],
    });
  });

  test("bools accept 1,true,yes,on / 0,false,no,off, case-insensitive and trimmed", () => {
    for (const v of ["1", "true", "TRUE", " Yes ", "on"])
      assert.equal(parseConfig(schema, { FLAG: v }).FLAG, true, v);
    for (const v of ["0", "false", "No", " OFF"])
      assert.equal(parseConfig(schema, { FLAG: v }).FLAG, false, v);
    const err = configError(() => parseConfig(schema, { FLAG: "maybe" }));
    assert.equal(err.message, 'invalid FLAG value "maybe": expected true|false');
    assert.deepEqual(err.issues, [{ variable: "FLAG", message: err.message }]);
  });

  test("integers are strict: no whitespace, sign rules, no decimals or exponents", () => {
    assert.equal(parseConfig(schema, { COUNT: "0" }).COUNT, 0);
    assert.equal(parseConfig(schema, { COUNT: "2097152" }).COUNT, 2097152);
    for (const bad of [" 5", "5 ", "5.0", "1e3", "0x10", "-1", "five", "99999999999999999999"]) {
      const err = configError(() => parseConfig(schema, { COUNT: bad }));
      assert.match(err.message, /^invalid COUNT value ".*": expected an integer >= 0$/, bad);
    }
  });

  test("durations are whole seconds and > 0 unless said otherwise", () => {
    assert.equal(parseConfig(schema, { WAIT: "25" }).WAIT, 25);
    assert.match(
      configError(() => parseConfig(schema, { WAIT: "0" })).message,
      /WAIT.*expected an integer > 0/,
    );
  });

  test("enums are case-insensitive and canonicalized", () => {
    assert.equal(parseConfig(schema, { MODE: " Token " }).MODE, "token");
    assert.equal(
      configError(() => parseConfig(schema, { MODE: "invalid-mode" })).message,
      'invalid MODE value "invalid-mode": expected loopback|token|hybrid',
    );
  });

  test("CSV lists are trimmed and drop empty items", () => {
    assert.deepEqual(parseConfig(schema, { LIST: " a, b ,,c, " }).LIST, ["a", "b", "c"]);
  });

  test("every bad variable is reported at once", () => {
    const err = configError(() => parseConfig(schema, { FLAG: "x", COUNT: "y" }));
    assert.deepEqual(
      err.issues.map((i) => i.variable),
      ["FLAG", "COUNT"],
    );
  });
});

describe("listen addresses", () => {
  test("the three forms and port 0", () => {
    assert.deepEqual(parseListenAddress(":38100"), { host: undefined, port: 38100 });
    assert.deepEqual(parseListenAddress("127.0.0.1:38100"), { host: "127.0.0.1", port: 38100 });
    assert.deepEqual(parseListenAddress("[::1]:38100"), { host: "::1", port: 38100 });
    assert.deepEqual(parseListenAddress("localhost:0"), { host: "localhost", port: 0 });
  });

  test("bad addresses are refused", () => {
    for (const bad of ["", ":", ":65536", "host:", "::1:80", "[nope]:80", "a b:80", ":-1", "1.2.3.4:x"]) {
      assert.equal(parseListenAddress(bad), undefined, bad);
    }
  });

  test("defaults per service and override", () => {
    assert.deepEqual(parseConfig(gatewayAddrEnv, {}).GATEWAY_ADDR, { host: undefined, port: 38100 });
    const verifier = listenAddr("VERIFIER_ADDR", ":38110");
    assert.deepEqual(parseConfig(verifier, { VERIFIER_ADDR: "127.0.0.1:0" }).VERIFIER_ADDR, {
      host: "127.0.0.1",
      port: 0,
    });
    assert.match(
      configError(() => parseConfig(verifier, { VERIFIER_ADDR: "nope" })).message,
      /^invalid VERIFIER_ADDR/,
    );
  });
});

const baseEnv = { GATEWAY_MASTER_KEY: SECRET, GATEWAY_INTERNAL_SECRET: SECRET, HOME: "/home/u" };
const everything = composeEnv(
  logEnv,
  redisEnv,
  databaseEnv,
  shutdownEnv,
  forwardingEnv,
  signatureEnv,
  gatewayIdentityEnv,
  claimsEnv,
  internalAuthEnv,
  adminEnv,
  storeEnv,
  proxyRuntimeEnv,
  mcpEnv,
  gatewayAddrEnv,
);

describe("gateway schemas", () => {
  test("defaults of spec/gateway.md §11 and DESIGN.md", () => {
    const c = parseConfig(everything, baseEnv);
    assert.equal(c.REDIS_URL, "redis://127.0.0.1:6379");
    assert.equal(c.REDIS_PREFIX, "sigilum:");
    assert.equal(c.DATABASE_URL, undefined);
    assert.equal(c.AUTHZ_MODE, "inline");
    assert.equal(c.VERIFIER_URL, "http://127.0.0.1:38110");
    assert.equal(c.GATEWAY_SIGNATURE_MAX_AGE_SECONDS, 300);
    assert.equal(c.SIGILUM_NONCE_TTL_SECONDS, 600);
    assert.equal(c.GATEWAY_CLAIMS_STALE_IF_ERROR_SECONDS, 0);
    assert.equal(c.GATEWAY_CLAIMS_CACHE_TTL_SECONDS, 30);
    assert.equal(c.GATEWAY_CLAIMS_CACHE_REFRESH_SECONDS, 10);
    assert.equal(c.GATEWAY_CLAIMS_CACHE_MAX_APPROVED, 10000);
    assert.equal(c.SIGILUM_REGISTRY_URL, "https://api.sigilum.id");
    assert.equal(c.GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS, true);
    assert.equal(c.GATEWAY_ADMIN_ACCESS_MODE, "hybrid");
    assert.equal(c.GATEWAY_AUTO_REGISTER_CLAIMS, true);
    assert.equal(c.GATEWAY_ALLOW_UNSIGNED_PROXY, false);
    assert.deepEqual(c.GATEWAY_ALLOW_UNSIGNED_CONNECTIONS, []);
    assert.equal(c.GATEWAY_ALLOWED_ORIGINS.length, 7);
    assert.deepEqual(c.GATEWAY_TRUSTED_PROXY_CIDRS, []);
    assert.equal(c.GATEWAY_MAX_REQUEST_BODY_BYTES, 2097152);
    assert.equal(c.GATEWAY_ROTATION_ENFORCEMENT, "warn");
    assert.equal(c.GATEWAY_SHUTDOWN_TIMEOUT_SECONDS, 15);
    assert.equal(c.GATEWAY_ADMIN_TIMEOUT_SECONDS, 20);
    assert.equal(c.GATEWAY_PROXY_TIMEOUT_SECONDS, 120);
    assert.equal(c.GATEWAY_MCP_TIMEOUT_SECONDS, 90);
    assert.equal(c.GATEWAY_MCP_DISCOVERY_CACHE_TTL_SECONDS, 300);
    assert.equal(c.GATEWAY_MCP_DISCOVERY_STALE_IF_ERROR_SECONDS, 3600);
    assert.equal(c.GATEWAY_CLAIM_REGISTRATION_RATE_LIMIT_PER_MINUTE, 30);
    assert.equal(c.GATEWAY_MCP_TOOL_CALL_RATE_LIMIT_PER_MINUTE, 120);
    assert.equal(c.GATEWAY_MCP_CIRCUIT_BREAKER_FAILURES, 3);
    assert.equal(c.GATEWAY_MCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS, 10);
    assert.equal(c.LOG_LEVEL, "info");
    assert.equal(c.GATEWAY_LOG_PROXY_REQUESTS, true);
    assert.equal(c.GATEWAY_DATA_DIR, "/home/u/.local/share/sigilum-gateway");
    assert.equal(c.GATEWAY_SIGILUM_HOME, "/home/u/.sigilum");
    assert.deepEqual(c.GATEWAY_ADDR, { host: undefined, port: 38100 });
  });

  test("values from spec §14 are parsed as given, zeros included", () => {
    const c = parseConfig(everything, {
      ...baseEnv,
      GATEWAY_SHUTDOWN_TIMEOUT_SECONDS: "25",
      GATEWAY_CLAIMS_CACHE_MAX_APPROVED: "321",
      GATEWAY_ADMIN_TIMEOUT_SECONDS: "25",
      GATEWAY_PROXY_TIMEOUT_SECONDS: "180",
      GATEWAY_MCP_TIMEOUT_SECONDS: "75",
      GATEWAY_MCP_DISCOVERY_CACHE_TTL_SECONDS: "0",
      GATEWAY_MCP_DISCOVERY_STALE_IF_ERROR_SECONDS: "0",
      GATEWAY_CLAIM_REGISTRATION_RATE_LIMIT_PER_MINUTE: "0",
      GATEWAY_MCP_TOOL_CALL_RATE_LIMIT_PER_MINUTE: "0",
      GATEWAY_MCP_CIRCUIT_BREAKER_FAILURES: "0",
      GATEWAY_MCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS: "0",
      GATEWAY_ADMIN_ACCESS_MODE: "loopback",
      GATEWAY_AUTO_REGISTER_CLAIMS: "false",
      GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS: "false",
      XDG_DATA_HOME: "/xdg",
    });
    assert.equal(c.GATEWAY_SHUTDOWN_TIMEOUT_SECONDS, 25);
    assert.equal(c.GATEWAY_CLAIMS_CACHE_MAX_APPROVED, 321);
    assert.equal(c.GATEWAY_PROXY_TIMEOUT_SECONDS, 180);
    assert.equal(c.GATEWAY_MCP_TIMEOUT_SECONDS, 75);
    assert.equal(c.GATEWAY_MCP_DISCOVERY_CACHE_TTL_SECONDS, 0);
    assert.equal(c.GATEWAY_MCP_CIRCUIT_BREAKER_FAILURES, 0);
    assert.equal(c.GATEWAY_ADMIN_ACCESS_MODE, "loopback");
    assert.equal(c.GATEWAY_AUTO_REGISTER_CLAIMS, false);
    assert.equal(c.GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS, false);
    assert.equal(c.GATEWAY_DATA_DIR, "/xdg/sigilum-gateway");
    assert.match(
      configError(() =>
        parseConfig(everything, { ...baseEnv, GATEWAY_MCP_DISCOVERY_STALE_IF_ERROR_SECONDS: "-1" }),
      ).message,
      /GATEWAY_MCP_DISCOVERY_STALE_IF_ERROR_SECONDS/,
    );
  });

  test("trusted proxies are normalized; a bad entry is named", () => {
    const c = parseConfig(forwardingEnv, {
      GATEWAY_TRUSTED_PROXY_CIDRS: "203.0.113.0/24, 10.0.0.1, 2001:db8::/32",
    });
    assert.deepEqual(c.GATEWAY_TRUSTED_PROXY_CIDRS, ["203.0.113.0/24", "10.0.0.1/32", "2001:db8::/32"]);
    const err = configError(() =>
      parseConfig(forwardingEnv, { GATEWAY_TRUSTED_PROXY_CIDRS: "10.0.0.0/8,not-a-cidr" }),
    );
    assert.match(err.message, /GATEWAY_TRUSTED_PROXY_CIDRS/);
    assert.match(err.message, /not-a-cidr/);
    for (const bad of ["10.0.0.0/33", "::1/129", "10.0.0.0/8/1", "10.0.0.0/x"]) {
      configError(() => parseConfig(forwardingEnv, { GATEWAY_TRUSTED_PROXY_CIDRS: bad }));
    }
  });

  test("allowed origins must be http(s)://host[:port] with no path", () => {
    const ok = parseConfig(adminEnv, { GATEWAY_ALLOWED_ORIGINS: "https://a.example, http://127.0.0.1:3000" });
    assert.deepEqual(ok.GATEWAY_ALLOWED_ORIGINS, ["https://a.example", "http://127.0.0.1:3000"]);
    for (const bad of ["https://a.example/", "ftp://a.example", "https://a.example?x=1", "a.example"]) {
      const err = configError(() => parseConfig(adminEnv, { GATEWAY_ALLOWED_ORIGINS: bad }));
      assert.match(err.message, /^invalid GATEWAY_ALLOWED_ORIGINS value/, bad);
    }
  });

  test("token admin mode needs a token only when admin checks are on", () => {
    assert.equal(
      configError(() => parseConfig(adminEnv, { GATEWAY_ADMIN_ACCESS_MODE: "token" })).message,
      "GATEWAY_ADMIN_TOKEN is required when GATEWAY_ADMIN_ACCESS_MODE=token",
    );
    const composed = composeEnv(logEnv, adminEnv);
    configError(() => parseConfig(composed, { GATEWAY_ADMIN_ACCESS_MODE: "token" }));
    assert.equal(
      parseConfig(adminEnv, { GATEWAY_ADMIN_ACCESS_MODE: "token", GATEWAY_REQUIRE_SIGNED_ADMIN_CHECKS: "0" })
        .GATEWAY_ADMIN_ACCESS_MODE,
      "token",
    );
    assert.equal(
      parseConfig(adminEnv, { GATEWAY_ADMIN_ACCESS_MODE: "token", GATEWAY_ADMIN_TOKEN: " tok " })
        .GATEWAY_ADMIN_TOKEN,
      "tok",
    );
  });

  test("required secrets: missing, blank and too short", () => {
    assert.equal(configError(() => parseConfig(storeEnv, {})).message, "GATEWAY_MASTER_KEY is required");
    assert.equal(
      configError(() => parseConfig(storeEnv, { GATEWAY_MASTER_KEY: "   " })).message,
      "GATEWAY_MASTER_KEY is required",
    );
    assert.equal(
      configError(() => parseConfig(internalAuthEnv, { GATEWAY_INTERNAL_SECRET: "short-secret" })).message,
      "invalid GATEWAY_INTERNAL_SECRET value: expected at least 32 characters",
    );
  });

  test("aliases: the older name is read and named in errors", () => {
    assert.equal(
      parseConfig(signatureEnv, { SIGILUM_TIMESTAMP_TOLERANCE_SECONDS: "120" })
        .GATEWAY_SIGNATURE_MAX_AGE_SECONDS,
      120,
    );
    assert.equal(
      parseConfig(signatureEnv, {
        SIGILUM_TIMESTAMP_TOLERANCE_SECONDS: "120",
        GATEWAY_SIGNATURE_MAX_AGE_SECONDS: "60",
      }).GATEWAY_SIGNATURE_MAX_AGE_SECONDS,
      60,
    );
    const err = configError(() => parseConfig(signatureEnv, { SIGILUM_TIMESTAMP_TOLERANCE_SECONDS: "0" }));
    assert.equal(err.issues[0]?.variable, "SIGILUM_TIMESTAMP_TOLERANCE_SECONDS");
    assert.match(err.message, /read as GATEWAY_SIGNATURE_MAX_AGE_SECONDS/);
    assert.equal(
      parseConfig(claimsEnv, { SIGILUM_API_URL: "https://api.example.com/" }).SIGILUM_REGISTRY_URL,
      "https://api.example.com",
    );
    assert.equal(
      parseConfig(gatewayIdentityEnv, { SIGILUM_NAMESPACE: " Demo-Gateway " }).GATEWAY_SIGILUM_NAMESPACE,
      "demo-gateway",
    );
    configError(() => parseConfig(gatewayIdentityEnv, { GATEWAY_SIGILUM_NAMESPACE: "-bad-" }));
  });

  test("URLs: scheme checked, trailing slash trimmed", () => {
    assert.equal(
      parseConfig(redisEnv, { REDIS_URL: "rediss://r.example:6380/" }).REDIS_URL,
      "rediss://r.example:6380",
    );
    configError(() => parseConfig(redisEnv, { REDIS_URL: "http://r.example" }));
    configError(() => parseConfig(databaseEnv, { DATABASE_URL: "mysql://db" }));
    configError(() => parseConfig(redisEnv, { REDIS_PREFIX: "has space" }));
    configError(() => parseConfig(redisEnv, { REDIS_PREFIX: "{tag}:" }));
  });

  test("a ConfigError never contains a secret value", () => {
    const secretsEnv = {
      GATEWAY_MASTER_KEY: SECRET,
      GATEWAY_INTERNAL_SECRET: SECRET.slice(0, 20),
      GATEWAY_ADMIN_TOKEN: SECRET,
      SIGILUM_SERVICE_API_KEY: SECRET,
      REDIS_URL: `ftp://user:${SECRET}@redis.example`,
      DATABASE_URL: `mysql://user:${SECRET}@db.example`,
      GATEWAY_ADMIN_ACCESS_MODE: "nope",
      GATEWAY_PUBLIC_URL: `http://user:${SECRET}@bad url`,
    };
    const err = configError(() => parseConfig(everything, secretsEnv));
    assert.ok(err.issues.length >= 4, err.message);
    for (const fragment of [SECRET, SECRET.slice(0, 20), SECRET.slice(0, 12)]) {
      assert.ok(!err.message.includes(fragment), err.message);
      assert.ok(!JSON.stringify(err.issues).includes(fragment));
      assert.ok(!String(err.stack).includes(fragment));
    }
    assert.match(err.message, /invalid REDIS_URL value: expected a redis:\/\/ or rediss:\/\/ URL/);
    assert.match(err.message, /invalid GATEWAY_INTERNAL_SECRET value: expected at least 32 characters/);
  });
});

describe("service API key resolution (spec §4.1)", () => {
  test("suffix rule", () => {
    assert.equal(
      serviceApiKeyEnvName("demo-service-gateway"),
      "SIGILUM_SERVICE_API_KEY_DEMO_SERVICE_GATEWAY",
    );
    assert.equal(serviceApiKeyEnvName("  a..b__c  "), "SIGILUM_SERVICE_API_KEY_A_B_C");
    assert.equal(serviceApiKeyEnvName("../escape"), "SIGILUM_SERVICE_API_KEY_ESCAPE");
    assert.equal(serviceApiKeyEnvName("--"), "SIGILUM_SERVICE_API_KEY_DEFAULT");
  });

  test("per-connection key first, then the default, else empty", () => {
    const env = {
      SIGILUM_SERVICE_API_KEY_DEMO_SERVICE_GATEWAY: " scoped-key ",
      SIGILUM_SERVICE_API_KEY: "default-key",
    };
    assert.equal(serviceApiKeyFor("demo-service-gateway", env), "scoped-key");
    assert.equal(serviceApiKeyFor("other", env), "default-key");
    assert.equal(serviceApiKeyFor("other", { SIGILUM_SERVICE_API_KEY_OTHER: "   " }), "");
    assert.equal(serviceApiKeyFor("../escape", {}), "");
  });
});

test("service API key files in the Sigilum home are read per call; unsafe ids never read files", async () => {
  const { mkdtemp, writeFile, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const home = await mkdtemp(join(tmpdir(), "svc-key-"));
  try {
    const env = { GATEWAY_SIGILUM_HOME: home, HOME: home, SIGILUM_SERVICE_API_KEY: "default-key" };
    assert.equal(serviceApiKeyFor("linear", env), "default-key");
    await writeFile(join(home, "service-api-key-linear"), "  sk_live_file\n", { mode: 0o600 });
    assert.equal(serviceApiKeyFor("linear", env), "sk_live_file");
    assert.equal(
      serviceApiKeyFor("linear", { ...env, SIGILUM_SERVICE_API_KEY_LINEAR: "env-wins" }),
      "env-wins",
    );
    await writeFile(join(home, "service-api-key-escape"), "leaked");
    assert.equal(serviceApiKeyFor("../escape", { GATEWAY_SIGILUM_HOME: join(home, "sub"), HOME: home }), "");
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("<NAME>_FILE supplies a secret from a file; an unreadable file names the _FILE variable", async () => {
  const { mkdtemp, writeFile, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), "cfg-file-"));
  try {
    await writeFile(join(dir, "secret"), "s".repeat(40) + "\n");
    const parsed = parseConfig(internalAuthEnv, { GATEWAY_INTERNAL_SECRET_FILE: join(dir, "secret") });
    assert.equal(parsed.GATEWAY_INTERNAL_SECRET, "s".repeat(40));
    assert.throws(
      () => parseConfig(internalAuthEnv, { GATEWAY_INTERNAL_SECRET_FILE: join(dir, "missing") }),
      (e: Error) =>
        e instanceof ConfigError &&
        /GATEWAY_INTERNAL_SECRET_FILE/.test(e.message) &&
        /ENOENT/.test(e.message),
    );
    const explicit = parseConfig(internalAuthEnv, {
      GATEWAY_INTERNAL_SECRET: "e".repeat(32),
      GATEWAY_INTERNAL_SECRET_FILE: join(dir, "missing"),
    });
    assert.equal(explicit.GATEWAY_INTERNAL_SECRET, "e".repeat(32));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("*_FILE variables outside the schema are ignored (other tools' settings)", () => {
  const parsed = parseConfig(internalAuthEnv, {
    GATEWAY_INTERNAL_SECRET: "x".repeat(32),
    TF_CLI_CONFIG_FILE: "/nonexistent/.terraformrc",
    SSL_CERT_FILE: "/nonexistent/cert.pem",
  });
  assert.equal(parsed.AUTHZ_MODE, "inline");
});
