import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { parse } from "yaml";
import { envoyFiles } from "../../deploy/envoy/files.ts";
import { loadConfig as loadControlPlaneConfig } from "../../services/control-plane/src/config.ts";
import { loadBridgeConfig } from "../../services/pairing-bridge/src/config.ts";
import { loadProxyConfig } from "../../services/proxy/src/config.ts";
import { loadUsageWorkerConfig } from "../../services/proxy/src/usage-worker/config.ts";
import { loadVerifierConfig } from "../../services/verifier/src/config.ts";
import { type Compose, dockerfileStages, interpolate, loadCompose, readRepoFile } from "./helpers/compose.ts";
import { envoyBootstrapErrors } from "./helpers/envoy-proto.ts";
import { loopbackValues } from "./helpers/loopback.ts";
import { unreadVariables } from "./helpers/read-variables.ts";

const read = readRepoFile;
const readFileSyncCached = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
let compose: Compose;
let dockerfile: string;
let secrets: string;

/** What a user passes on `docker compose up` to pair the bridge (README "With Docker"). */
const PAIRING = {
  PAIRING_SESSION_ID: "ps_compose",
  PAIRING_CODE: "ABCD2345",
  GATEWAY_SIGILUM_NAMESPACE: "acme",
};

/**
 * A service's environment as its process would see it, with the /secrets files made real in a temp dir; `vars` as
 * if set in the shell that runs `docker compose up`.
 */
function envOf(service: string, vars: Record<string, string> = {}): Record<string, string> {
  const environment = compose.services[service]?.environment ?? {};
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment)) {
    env[name] = interpolate(value, vars).replace(/^\/secrets\//, `${secrets}/`);
  }
  return env;
}

before(async () => {
  compose = await loadCompose();
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
    assert.equal(controlPlane.databaseUrl, "postgres://sigilum:pw@postgres:5432/sigilum");
    assert.equal(loadBridgeConfig(envOf("pairing-bridge")).listen.port, 38130);
    const usageWorker = loadUsageWorkerConfig(envOf("usage-worker"));
    assert.equal(usageWorker.listen.port, 38125);
    assert.equal(usageWorker.registryUrl, proxy.registryUrl, "delivers to the registry the proxy reports to");
    assert.equal(usageWorker.redisPrefix, proxy.redisPrefix, "consumes the proxies' queue");
    // Each caller's Host header passes the callee's browser guard (Host allowlist).
    const cli: Record<string, string> = envOf("cli");
    const adminHosts = createHostAllowlist([proxy.publicUrl], proxy.allowedHosts, { anyIpAddress: true });
    assert.ok(adminHosts.allows(new URL(cli.GATEWAY_ADMIN_URL as string).host), "cli → admin API");
    const controlHosts = createHostAllowlist([controlPlane.publicUrl], controlPlane.allowedHosts, {
      anyIpAddress: true,
    });
    const bridge = loadBridgeConfig(envOf("pairing-bridge", PAIRING)).pairing;
    assert.ok(bridge, "PAIRING_SESSION_ID and PAIRING_CODE from the shell pair the bridge");
    for (const url of [verifier.registryUrl, proxy.registryUrl, cli.SIGILUM_API_URL, bridge.apiUrl]) {
      assert.ok(url);
      assert.ok(controlHosts.allows(new URL(url).host), `→ control plane as ${url}`);
    }
    assert.ok(adminHosts.allows(new URL(bridge.adminUrl).host), "bridge → admin API");
  });

  test("the pairing bridge relays to the proxy's admin API with the generated token; unpaired without a session", () => {
    assert.equal(loadBridgeConfig(envOf("pairing-bridge")).pairing, null, "no session: idle, not failing");
    const bridge = loadBridgeConfig(envOf("pairing-bridge", PAIRING)).pairing;
    assert.deepEqual(
      bridge && {
        apiUrl: bridge.apiUrl,
        sessionId: bridge.sessionId,
        pairCode: bridge.pairCode,
        namespace: bridge.namespace,
        adminUrl: bridge.adminUrl,
        adminToken: bridge.adminToken,
      },
      {
        apiUrl: "http://control-plane:8787",
        sessionId: "ps_compose",
        pairCode: "ABCD2345",
        namespace: "acme",
        adminUrl: "http://proxy:38120",
        adminToken: loadProxyConfig(envOf("proxy")).admin.token,
      },
    );
  });

  test("no service is left with a loopback address it dials (a default that fits one machine, not a container)", () => {
    const configs = {
      verifier: loadVerifierConfig(envOf("verifier")),
      proxy: loadProxyConfig(envOf("proxy")),
      "usage-worker": loadUsageWorkerConfig(envOf("usage-worker")),
      "control-plane": loadControlPlaneConfig(envOf("control-plane")),
      "pairing-bridge": loadBridgeConfig(envOf("pairing-bridge", PAIRING)),
    };
    for (const [name, config] of Object.entries(configs)) assert.deepEqual(loopbackValues(config), [], name);
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

describe("docker-compose.yml: the findings of the Kubernetes issue", () => {
  const LONG_RUNNING = [
    "control-plane",
    "verifier",
    "proxy",
    "usage-worker",
    "pairing-bridge",
    "envoy",
    "redis",
    "postgres",
  ];

  test("every long-running service has a healthcheck (compose's or its image's), Envoy included", () => {
    const stages = dockerfileStages(dockerfile);
    for (const name of LONG_RUNNING) {
      const service = compose.services[name];
      const image = service?.build?.target ? stages.get(service.build.target)?.healthcheck : undefined;
      assert.ok(service?.healthcheck ?? image, `${name} has no healthcheck`);
    }
    const envoy = compose.services.envoy?.healthcheck?.test.join(" ") ?? "";
    assert.match(envoy, /127\.0\.0\.1\/38101/, "Envoy's own /ready listener");
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        if (condition === "service_healthy")
          assert.ok(
            LONG_RUNNING.includes(dependency),
            `${name} waits on ${dependency}, which has a healthcheck`,
          );
      }
    }
  });

  test("the gateway namespace comes from the identity the bootstrap job made (set once, then printed)", () => {
    for (const name of ["verifier", "proxy", "usage-worker"])
      assert.equal(compose.services[name]?.environment?.GATEWAY_SIGILUM_NAMESPACE, undefined, name);
    assert.equal(interpolate(compose.services.bootstrap?.environment?.GATEWAY_SIGILUM_NAMESPACE ?? "x"), "");
    assert.equal(
      interpolate(compose.services.bootstrap?.environment?.GATEWAY_SIGILUM_NAMESPACE ?? "", {
        GATEWAY_SIGILUM_NAMESPACE: "acme",
      }),
      "acme",
    );
  });

  test("the CLI container uses the services' homes: service keys where the verifier reads them", () => {
    const cli = compose.services.cli;
    const verifier = compose.services.verifier;
    const volumeAt = (volumes: string[] | undefined, path: string) =>
      volumes?.find((v) => v.split(":")[1] === path)?.split(":");
    const cliHome = String(cli?.environment?.GATEWAY_SIGILUM_HOME);
    assert.equal(cliHome, verifier?.environment?.GATEWAY_SIGILUM_HOME);
    const [cliVolume, , cliMode] = volumeAt(cli?.volumes, cliHome) ?? [];
    const [verifierVolume] = volumeAt(verifier?.volumes, cliHome) ?? [];
    assert.equal(cliVolume, verifierVolume, "the same named volume");
    assert.notEqual(cliMode, "ro", "service add writes the key file");
    assert.notEqual(cli?.environment?.SIGILUM_HOME, cliHome, "agent identities apart from the gateway's");
    assert.equal(cli?.environment?.GATEWAY_ADMIN_URL, "http://proxy:38120");
    assert.deepEqual(cli?.profiles, ["tools"]);
    for (const name of ["GATEWAY_ADMIN_TOKEN_FILE", "JWT_SECRET_FILE"])
      assert.match(String(cli?.environment?.[name]), /^\/secrets\//, name);
  });

  test("verifier, proxy and usage worker scale with --scale: no fixed name or host port, read-only volumes", () => {
    for (const name of ["verifier", "proxy", "usage-worker"]) {
      const service = compose.services[name];
      assert.equal(service?.container_name, undefined, name);
      assert.equal(service?.ports, undefined, `${name} publishes no host port`);
      for (const volume of service?.volumes ?? []) assert.match(volume, /:ro$/, `${name}: ${volume}`);
      assert.equal(service?.read_only, true, `${name}: read-only root filesystem`);
    }
    const envoy = parse(readFileSyncCached("envoy/envoy.yaml"));
    for (const cluster of envoy.static_resources.clusters)
      assert.equal(cluster.type, "STRICT_DNS", `${cluster.name}: Envoy resolves every replica`);
  });
});

describe("Envoy configs", () => {
  test("envoy/envoy.yaml and the chart's files/envoy.yaml are what deploy/envoy/generate.ts writes", async () => {
    for (const { path, content } of envoyFiles())
      assert.equal(await read(path), content, `${path} is stale: run npm run envoy:generate`);
  });

  test("envoy/envoy.yaml is valid against Envoy's v3 protos, and the check catches a typo", () => {
    const config = parse(readFileSyncCached("envoy/envoy.yaml"));
    assert.deepEqual(envoyBootstrapErrors(config), []);
    config.static_resources.clusters[0].conect_timeout = "1s";
    assert.deepEqual(envoyBootstrapErrors(config), [
      "bootstrap.static_resources.clusters[0].conect_timeout: no field conect_timeout in .envoy.config.cluster.v3.Cluster",
    ]);
  });
});

describe("Dockerfile", () => {
  test("Node 24 slim pinned by digest, non-root, production dependencies only", () => {
    const from = [...dockerfile.matchAll(/^ARG NODE_IMAGE=(\S+)$/gm)].map((m) => m[1]);
    assert.equal(from.length, 1);
    assert.match(from[0] as string, /^node:24(\.\d+\.\d+)?(-bookworm|-trixie)?-slim@sha256:[0-9a-f]{64}$/);
    for (const line of dockerfile.match(/^FROM .*$/gm) ?? [])
      assert.match(line, /^FROM (\$\{NODE_IMAGE\}|runtime) AS /, line);
    assert.match(dockerfile, /npm install --omit=dev/);
  });

  test("one target per service, each non-root with a HEALTHCHECK on its health route", () => {
    const stages = dockerfileStages(dockerfile);
    for (const target of ["verifier", "proxy", "usage-worker", "pairing-bridge", "control-plane"]) {
      const stage = stages.get(target);
      assert.equal(stage?.user, "node", target);
      assert.match(
        String(stage?.healthcheck?.at(-1)),
        /^http:\/\/127\.0\.0\.1:\d+\/health(\/ready)?$/,
        target,
      );
    }
    assert.equal(stages.get("cli")?.user, "node");
  });
});

describe("no variable is set in vain", () => {
  test("every variable compose sets is one its service's code reads", async () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (!service.build) continue; // third-party images: redis, postgres, envoy
      const names = Object.keys(service.environment ?? {});
      assert.deepEqual(await unreadVariables(name, names), [], name);
    }
  });
});
