import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { z } from "zod";
import { loadConfig as loadControlPlaneConfig } from "../../services/control-plane/src/config.ts";
import { loadBridgeConfig } from "../../services/pairing-bridge/src/config.ts";
import { loadProxyConfig } from "../../services/proxy/src/config.ts";
import { loadUsageWorkerConfig } from "../../services/proxy/src/usage-worker/config.ts";
import { loadVerifierConfig } from "../../services/verifier/src/config.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => readFile(new URL(path, ROOT), "utf8");

const serviceSchema = z.looseObject({
  build: z.looseObject({ context: z.string(), target: z.string().optional() }).optional(),
  image: z.string().optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  volumes: z.array(z.string()).optional(),
  ports: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  deploy: z.looseObject({ replicas: z.number().optional() }).optional(),
  depends_on: z.record(z.string(), z.looseObject({ condition: z.string() })).optional(),
});
const composeSchema = z.looseObject({
  services: z.record(z.string(), serviceSchema),
  volumes: z.record(z.string(), z.unknown()),
});

let compose: z.infer<typeof composeSchema>;
let dockerfile: string;
let secrets: string;

/** `${VAR:-default}` → default (what `docker compose up` uses with no .env). */
function interpolate(value: string | number): string {
  return String(value).replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, "$1");
}

/** A service's environment as its process would see it, with the /secrets files made real in a temp dir. */
function envOf(service: string): Record<string, string> {
  const environment = compose.services[service]?.environment ?? {};
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment)) {
    env[name] = interpolate(value).replace(/^\/secrets\//, `${secrets}/`);
  }
  return env;
}

before(async () => {
  compose = composeSchema.parse(parse(await read("docker-compose.yml"), { merge: true }));
  dockerfile = await read("Dockerfile");
  secrets = await mkdtemp(join(tmpdir(), "compose-secrets-"));
  const values: Record<string, string> = {
    master_key: "m".repeat(64),
    internal_secret: "i".repeat(64),
    admin_token: "a".repeat(48),
    jwt_secret: "j".repeat(64),
    database_url: "postgres://sigilum:pw@postgres:5432/sigilum",
  };
  for (const [name, value] of Object.entries(values)) await writeFile(join(secrets, name), `${value}\n`);
});
after(() => rm(secrets, { recursive: true, force: true }));

describe("docker-compose.yml", () => {
  test("every build target is a stage of the Dockerfile", () => {
    const stages = new Set([...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]));
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.build?.target)
        assert.ok(stages.has(service.build.target), `${name}: no stage ${service.build.target}`);
    }
  });

  test("Envoy fronts the gateway on 38100 with the checked-in config; verifier and proxy are replicated", () => {
    const envoy = compose.services.envoy;
    assert.ok(envoy?.volumes?.includes("./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro"));
    assert.ok(envoy?.ports?.some((p) => interpolate(p) === "38100:38100"));
    assert.ok((compose.services.verifier?.deploy?.replicas ?? 1) >= 2);
    assert.ok((compose.services.proxy?.deploy?.replicas ?? 1) >= 2);
  });

  test("behind Envoy the proxy demands the verifier's token and the admin API a token", () => {
    const env = envOf("proxy");
    assert.equal(env.AUTHZ_MODE, "envoy");
    assert.equal(env.GATEWAY_ADMIN_ACCESS_MODE, "token");
    assert.ok(env.GATEWAY_ADMIN_TOKEN_FILE, "admin token comes from a secret file");
    assert.ok(env.GATEWAY_MASTER_KEY_FILE, "master key comes from a secret file");
    for (const [name, value] of Object.entries(env)) {
      if (/KEY|TOKEN|SECRET/.test(name))
        assert.match(name, /_FILE$/, `${name}=${value} puts a secret in the environment`);
    }
  });

  test("Redis persists every write (the gateway keeps credentials there)", () => {
    const command = compose.services.redis?.command ?? [];
    assert.equal(command[command.indexOf("--appendonly") + 1], "yes");
  });

  test("each service's environment passes its own config validation", () => {
    const verifier = loadVerifierConfig(envOf("verifier"));
    assert.equal(verifier.listen.port, 38110);
    assert.equal(verifier.internalSecret, "i".repeat(64));
    const proxy = loadProxyConfig(envOf("proxy"));
    assert.equal(proxy.listen.port, 38120);
    assert.equal(proxy.authzMode, "envoy");
    const controlPlane = loadControlPlaneConfig(envOf("control-plane"));
    assert.equal(controlPlane.DATABASE_URL, "postgres://sigilum:pw@postgres:5432/sigilum");
    assert.equal(loadBridgeConfig(envOf("pairing-bridge")).listen.port, 38130);
    const usageWorker = loadUsageWorkerConfig(envOf("usage-worker"));
    assert.equal(usageWorker.listen.port, 38125);
    assert.equal(usageWorker.registryUrl, proxy.registryUrl, "delivers to the registry the proxy reports to");
    assert.equal(usageWorker.redisPrefix, proxy.redisPrefix, "consumes the proxies' queue");
  });

  test("usage events are delivered by the usage worker, not inside the proxies", () => {
    assert.equal(loadProxyConfig(envOf("proxy")).usageDelivery, "separate");
    assert.equal(compose.services["usage-worker"]?.build?.target, "usage-worker");
    assert.ok(
      (compose.services["usage-worker"]?.deploy?.replicas ?? 1) >= 2,
      "delivery keeps up with two proxies",
    );
    assert.match(
      dockerfile,
      /FROM runtime AS usage-worker[\s\S]*?CMD \["node", "services\/proxy\/src\/usage-worker\/main\.ts"\]/,
    );
  });
});

describe("envoy/envoy.yaml against compose", () => {
  test("Envoy's clusters point at the compose services on the ports they listen on", async () => {
    const envoy = parse(await read("envoy/envoy.yaml")) as {
      static_resources: {
        clusters: Array<{
          name: string;
          load_assignment: {
            endpoints: Array<{
              lb_endpoints: Array<{
                endpoint: { address: { socket_address: { address: string; port_value: number } } };
              }>;
            }>;
          };
        }>;
      };
    };
    const ports: Record<string, number> = { verifier: 38110, proxy: 38120 };
    for (const cluster of envoy.static_resources.clusters) {
      const address = cluster.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address;
      assert.ok(
        address && compose.services[address.address],
        `${cluster.name} → ${address?.address} is not a compose service`,
      );
      assert.equal(address.port_value, ports[cluster.name], cluster.name);
    }
  });
});
