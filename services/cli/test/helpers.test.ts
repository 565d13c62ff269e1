import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import { connectionDefaults } from "../src/commands/service/common.ts";
import { localUrl, parseListenAddress, stackAddresses } from "../src/core/addresses.ts";
import { isExpired, readTokenClaims } from "../src/lib/owner-token.ts";
import { keyValues, maskSecret, table } from "../src/output.ts";
import { embeddedDatabaseUrl, postgresSocketDir } from "../src/stack/embedded-postgres.ts";
import { embeddedRedisAddress, stackRedisPrefix } from "../src/stack/embedded-redis.ts";
import { stackLayout } from "../src/stack/layout.ts";
import { buildStackPlan, type ServicePlan, withReportedPort } from "../src/stack/plan.ts";
import { redactUrl } from "../src/stack/redis-check.ts";

describe("listen addresses", () => {
  test("host:port, [v6]:port, :port and a bare port", () => {
    assert.deepEqual(parseListenAddress("X", "127.0.0.1:38100"), {
      addr: "127.0.0.1:38100",
      host: "127.0.0.1",
      port: 38100,
    });
    assert.deepEqual(parseListenAddress("X", "[::1]:8787"), { addr: "[::1]:8787", host: "::1", port: 8787 });
    assert.deepEqual(parseListenAddress("X", ":38110"), { addr: ":38110", host: "", port: 38110 });
    assert.deepEqual(parseListenAddress("X", "9000"), { addr: ":9000", host: "", port: 9000 });
  });

  test("bad addresses name the variable", () => {
    for (const bad of ["", "host:", "1.2.3.4:70000", "a b:1", "http://x:1"]) {
      assert.throws(() => parseListenAddress("GATEWAY_ADDR", bad), /GATEWAY_ADDR=/);
    }
  });

  test("wildcard listeners are reached on loopback", () => {
    assert.equal(localUrl(parseListenAddress("X", ":1")), "http://127.0.0.1:1");
    assert.equal(localUrl(parseListenAddress("X", "0.0.0.0:2")), "http://127.0.0.1:2");
    assert.equal(localUrl(parseListenAddress("X", "[::1]:3")), "http://[::1]:3");
  });

  test("defaults bind loopback only; each variable overrides its service", () => {
    const defaults = stackAddresses({});
    assert.equal(defaults.gateway.addr, "127.0.0.1:38100");
    assert.equal(defaults.verifier.addr, "127.0.0.1:38110");
    assert.equal(defaults.proxy.addr, "127.0.0.1:38120");
    assert.equal(defaults.controlPlane.addr, "127.0.0.1:8787");
    assert.equal(stackAddresses({ CONTROL_PLANE_ADDR: "127.0.0.1:1234" }).controlPlane.port, 1234);
  });
});

describe("stack plan", () => {
  const layout = stackLayout("/data");
  const plans = buildStackPlan({
    layout,
    addresses: stackAddresses({
      GATEWAY_ADDR: "127.0.0.1:5000",
      VERIFIER_ADDR: "127.0.0.1:5001",
      CONTROL_PLANE_ADDR: "127.0.0.1:5002",
    }),
    gatewayNamespace: "alice",
    redis: { embedded: false, url: "redis://127.0.0.1:6379", prefix: "sigilum:abc:" },
    database: { embedded: false, url: "postgres://u@db.internal:5432/sigilum" },
  });
  const byName = byNameOf(plans);

  test("four services started from their own entry points", () => {
    assert.deepEqual(
      plans.map((p) => p.name),
      ["control-plane", "verifier", "proxy", "usage-worker"],
    );
    for (const plan of plans.filter((p) => p.name !== "usage-worker")) {
      assert.equal(plan.command, process.execPath);
      assert.ok(plan.args.at(-1)?.endsWith(`services/${plan.name}/src/main.ts`));
    }
    assert.ok(byName["usage-worker"]?.args.at(-1)?.endsWith("services/proxy/src/usage-worker/main.ts"));
    for (const plan of plans)
      assert.equal(plan.env.REDIS_PREFIX, "sigilum:abc:", `${plan.name} uses the stack prefix`);
  });

  test("the proxy only queues usage events; the usage worker delivers them to the local control plane", () => {
    assert.equal(byName.proxy?.env.GATEWAY_USAGE_DELIVERY, "separate");
    const worker = byName["usage-worker"];
    assert.equal(worker?.env.SIGILUM_REGISTRY_URL, "http://127.0.0.1:5002");
    assert.equal(worker?.env.GATEWAY_SIGILUM_HOME, byName.proxy?.env.GATEWAY_SIGILUM_HOME);
    assert.equal(worker?.env.GATEWAY_SIGILUM_NAMESPACE, "alice");
    assert.equal(worker?.env.USAGE_WORKER_ADDR, "127.0.0.1:38125");
    assert.equal(worker?.url, "http://127.0.0.1:38125");
  });

  test("the proxy runs inline on GATEWAY_ADDR and calls the verifier; the verifier reads the control plane", () => {
    assert.equal(byName.proxy?.env.AUTHZ_MODE, "inline");
    assert.equal(byName.proxy?.env.GATEWAY_ADDR, "127.0.0.1:5000");
    assert.equal(byName.proxy?.url, "http://127.0.0.1:5000");
    assert.equal(byName.proxy?.env.VERIFIER_URL, "http://127.0.0.1:5001");
    assert.equal(byName.verifier?.env.SIGILUM_REGISTRY_URL, "http://127.0.0.1:5002");
    assert.equal(byName.verifier?.env.GATEWAY_SIGILUM_NAMESPACE, "alice");
    assert.equal(byName.verifier?.env.GATEWAY_SIGILUM_HOME, "/data/gateway-home");
    assert.equal(byName.verifier?.env.GATEWAY_SIGILUM_HOME, byName.proxy?.env.GATEWAY_SIGILUM_HOME);
    assert.equal(byName["control-plane"]?.env.CONTROL_PLANE_DATA_DIR, "/data/control-plane");
    assert.equal(byName["control-plane"]?.env.DATABASE_URL, "postgres://u@db.internal:5432/sigilum");
  });

  test("secrets are passed as file paths, never as values", () => {
    assert.equal(byName.proxy?.env.GATEWAY_MASTER_KEY_FILE, "/data/secrets/gateway-master-key");
    for (const plan of plans) {
      assert.equal(plan.env.GATEWAY_MASTER_KEY, undefined);
      assert.equal(plan.env.GATEWAY_INTERNAL_SECRET, undefined);
      assert.equal(plan.env.GATEWAY_ADMIN_TOKEN, undefined);
    }
    assert.equal(
      byName.verifier?.env.GATEWAY_INTERNAL_SECRET_FILE,
      byName.proxy?.env.GATEWAY_INTERNAL_SECRET_FILE,
    );
  });
});

describe("the stack's own Redis", () => {
  const layout = stackLayout("/data");
  const address = parseListenAddress("SIGILUM_REDIS_ADDR", "127.0.0.1:6391");
  const plans = buildStackPlan({
    layout,
    addresses: stackAddresses({}),
    gatewayNamespace: "alice",
    redis: { embedded: true, url: "redis://127.0.0.1:6391", prefix: "sigilum:abc:", address },
    database: { embedded: false, url: "postgres://u@127.0.0.1/db" },
  });

  test("starts first, from PATH, AOF on, files under the data directory, loopback", () => {
    const redis = plans[0];
    assert.equal(redis?.name, "redis");
    assert.equal(redis?.command, "redis-server");
    const args = redis?.args.join(" ") ?? "";
    assert.match(args, /--port 6391 --bind 127\.0\.0\.1 --dir \/data\/redis --appendonly yes/);
    assert.equal(redis?.cwd, "/data/redis");
    assert.equal(redis?.health, "redis://127.0.0.1:6391");
    for (const plan of plans.slice(1)) assert.equal(plan.env.REDIS_URL, "redis://127.0.0.1:6391");
  });

  test("keys are prefixed per data directory unless REDIS_PREFIX is set", () => {
    const a = stackRedisPrefix({}, "/data/a");
    assert.match(a, /^sigilum:[0-9a-f]{12}:$/);
    assert.notEqual(a, stackRedisPrefix({}, "/data/b"));
    assert.equal(a, stackRedisPrefix({}, "/data/a"));
    assert.equal(stackRedisPrefix({ REDIS_PREFIX: "mine:" }, "/data/a"), "mine:");
  });

  test("without SIGILUM_REDIS_ADDR a free loopback port is chosen", async () => {
    const chosen = await embeddedRedisAddress({});
    assert.equal(chosen.host, "127.0.0.1");
    assert.ok(chosen.port > 0);
    assert.equal((await embeddedRedisAddress({ SIGILUM_REDIS_ADDR: "127.0.0.1:6399" })).port, 6399);
  });
});

describe("owner token", () => {
  test("matches the reference CLI's local JWT byte for byte (spec §D.10)", async () => {
    const token = await mintOwnerToken({
      namespace: "alice",
      secret: "test-jwt-secret",
      now: 1700000000_000,
    });
    assert.equal(
      token,
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyX2xvY2FsX2FsaWNlIiwiZW1haWwiOiJhbGljZUBsb2NhbC5zaWdpbHVtIiwibmFtZXNwYWNlIjoiYWxpY2UiLCJpc3MiOiJzaWdpbHVtLWFwaSIsImF1ZCI6InNpZ2lsdW0tZGFzaGJvYXJkIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDA2MDQ4MDB9.mQOkRf8n535mOIQzuvpH4RrSCPLVimgdPOYpu2NdGx0",
    );
  });

  test("claims are readable for display; expiry is judged on exp", async () => {
    const token = await mintOwnerToken({ namespace: "bob", secret: "s", now: 1000_000, ttlSeconds: 10 });
    const claims = readTokenClaims(token);
    assert.equal(claims?.namespace, "bob");
    assert.equal(claims?.sub, "user_local_bob");
    assert.equal(isExpired(claims, 1009), false);
    assert.equal(isExpired(claims, 1010), true);
    assert.equal(readTokenClaims("not.a.jwt!"), undefined);
    assert.equal(readTokenClaims("a.b.c"), undefined);
  });
});

describe("output helpers", () => {
  test("table pads every column but the last", () => {
    assert.deepEqual(
      table(
        ["A", "BB"],
        [
          ["xyz", "1"],
          ["q", "22"],
        ],
      ),
      ["A    BB", "xyz  1", "q    22"],
    );
  });

  test("keyValues aligns values", () => {
    assert.deepEqual(
      keyValues(
        [
          ["mode", "gateway"],
          ["none", undefined],
        ],
        8,
      ),
      ["  mode:    gateway", "  none:"],
    );
  });

  test("maskSecret never shows more than 8 characters of a secret", () => {
    assert.equal(maskSecret("sk_live_0123456789abcdef"), "sk_l...cdef");
    assert.equal(maskSecret("short"), "****");
  });

  test("redactUrl hides a Redis password", () => {
    assert.equal(redactUrl("redis://:hunter2@127.0.0.1:6379/0"), "redis://:****@127.0.0.1:6379/0");
    assert.equal(redactUrl("::"), "(invalid URL)");
  });
});

describe("connection defaults by auth mode (spec §C.4)", () => {
  test("bearer, header_key, query_param", () => {
    assert.deepEqual(connectionDefaults("echo", "bearer"), {
      header: "Authorization",
      prefix: "Bearer ",
      secretKey: "access_token",
    });
    assert.deepEqual(connectionDefaults("echo", "header_key"), {
      header: "X-echo-Key",
      prefix: "",
      secretKey: "upstream_key",
    });
    assert.deepEqual(connectionDefaults("echo", "query_param"), {
      header: "api_key",
      prefix: "",
      secretKey: "api_key",
    });
  });
});

describe("the stack's own PostgreSQL", () => {
  const layout = stackLayout("/data");
  const socketDir = postgresSocketDir(layout);
  const binaries = { dir: "/pg/bin", postgres: "/pg/bin/postgres", initdb: "/pg/bin/initdb", version: "15" };
  const plans = buildStackPlan({
    layout,
    addresses: stackAddresses({}),
    gatewayNamespace: "alice",
    redis: { embedded: false, url: "redis://127.0.0.1:6379", prefix: "sigilum:abc:" },
    database: { embedded: true, url: embeddedDatabaseUrl(socketDir), binaries, socketDir },
  });
  const postgres = plans[0];

  test("starts before the control plane, which reaches it over its Unix socket only", () => {
    assert.deepEqual(
      plans.map((p) => p.name),
      ["postgres", "control-plane", "verifier", "proxy", "usage-worker"],
    );
    assert.equal(socketDir, "/data/run/postgres");
    const args = postgres?.args.join(" ") ?? "";
    assert.match(args, /\/pg\/bin\/postgres -D \/data\/postgres /);
    assert.match(args, /-c listen_addresses= /, "no TCP listener");
    assert.match(args, /-c unix_socket_directories=\/data\/run\/postgres -c unix_socket_permissions=0700/);
    assert.equal(postgres?.cwd, socketDir, "the supervisor creates the socket directory (0700)");
    assert.equal(postgres?.stopSignal, "SIGINT", "fast shutdown");
    const url = byNameOf(plans)["control-plane"]?.env.DATABASE_URL ?? "";
    assert.equal(url, "postgres://sigilum@localhost/postgres?host=%2Fdata%2Frun%2Fpostgres");
    assert.equal(postgres?.health, url);
    assert.equal(new URL(url).password, "", "no password: only this user reaches the socket");
  });

  test("as root it runs in a user namespace as nobody; otherwise directly", () => {
    const asRoot = process.getuid?.() === 0;
    assert.equal(postgres?.command, asRoot ? "unshare" : "/pg/bin/postgres");
    if (asRoot)
      assert.deepEqual(postgres?.args.slice(0, 3), ["--user", "--map-user=65534", "--map-group=65534"]);
  });

  test("a data directory too deep for a socket path gets a per-stack socket directory in the temp dir", () => {
    const deep = stackLayout(`/${"d".repeat(100)}`);
    const dir = postgresSocketDir(deep);
    assert.match(dir, /sigilum-pg-[0-9a-f]{12}$/);
    assert.equal(dir, postgresSocketDir(stackLayout(`/${"d".repeat(100)}`)));
    assert.notEqual(dir, postgresSocketDir(stackLayout(`/${"e".repeat(100)}`)));
  });
});

function byNameOf(plans: ServicePlan[]): Record<string, ServicePlan> {
  return Object.fromEntries(plans.map((p) => [p.name, p]));
}

describe("services on port 0 report the port they got", () => {
  const layout = stackLayout("/data");
  const input = {
    layout,
    gatewayNamespace: "alice",
    redis: { embedded: false, url: "redis://127.0.0.1:6379", prefix: "sigilum:abc:" },
    database: { embedded: false, url: "postgres://u@127.0.0.1/db" },
  } as const;
  const free = stackAddresses({
    GATEWAY_ADDR: "127.0.0.1:0",
    VERIFIER_ADDR: "127.0.0.1:0",
    CONTROL_PLANE_ADDR: "127.0.0.1:0",
    USAGE_WORKER_ADDR: "127.0.0.1:0",
  });

  test("a service given port 0 is told where to write the address it got", () => {
    assert.equal(parseListenAddress("X", "127.0.0.1:0").port, 0);
    const plans = byNameOf(buildStackPlan({ ...input, addresses: free }));
    assert.equal(plans["control-plane"]?.addressFile, "/data/run/control-plane.address.json");
    assert.equal(plans["control-plane"]?.env.LISTEN_ADDRESS_FILE, "/data/run/control-plane.address.json");
    assert.equal(plans.proxy?.addressFile, "/data/run/proxy.address.json");
    const fixed = byNameOf(buildStackPlan({ ...input, addresses: stackAddresses({}) }));
    assert.equal(fixed["control-plane"]?.addressFile, undefined);
    assert.equal(fixed["control-plane"]?.env.LISTEN_ADDRESS_FILE, undefined);
  });

  test("once reported, the others reach it on that port and it keeps it (no report asked again)", () => {
    const addresses = withReportedPort(free, "control-plane", 45123);
    const plans = byNameOf(buildStackPlan({ ...input, addresses }));
    assert.equal(plans["control-plane"]?.addressFile, undefined);
    assert.equal(plans["control-plane"]?.env.CONTROL_PLANE_ADDR, "127.0.0.1:45123");
    assert.equal(plans["control-plane"]?.health, "http://127.0.0.1:45123/health");
    assert.equal(plans.verifier?.env.SIGILUM_REGISTRY_URL, "http://127.0.0.1:45123");
    assert.equal(plans["usage-worker"]?.env.SIGILUM_REGISTRY_URL, "http://127.0.0.1:45123");
    assert.equal(plans.verifier?.addressFile, "/data/run/verifier.address.json", "still waiting for its own");
    const gateway = withReportedPort(addresses, "proxy", 45124);
    assert.equal(
      byNameOf(buildStackPlan({ ...input, addresses: gateway })).proxy?.url,
      "http://127.0.0.1:45124",
    );
  });
});
