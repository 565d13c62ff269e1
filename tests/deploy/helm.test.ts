import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ALLOW_HEADERS } from "@sigilum-gw/shared/ext-authz";
import { createHostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import { parse } from "yaml";
import { secretManifest } from "../../deploy/bootstrap/secret-manifest.ts";
import { bootstrap, GENERATED_SECRETS } from "../../deploy/bootstrap/secrets.ts";
import { loadConfig as loadControlPlaneConfig } from "../../services/control-plane/src/config.ts";
import { loadBridgeConfig } from "../../services/pairing-bridge/src/config.ts";
import { loadProxyConfig } from "../../services/proxy/src/config.ts";
import { loadUsageWorkerConfig } from "../../services/proxy/src/usage-worker/config.ts";
import { loadVerifierConfig } from "../../services/verifier/src/config.ts";
import { CHART, component, find, helm, type Manifest, type Rendered, renderChart } from "./helpers/chart.ts";
import { envoyBootstrapErrors } from "./helpers/envoy-proto.ts";
import { validateManifest } from "./helpers/kube-schemas.ts";
import { kubeTools } from "./helpers/kube-tools.ts";
import { loopbackValues } from "./helpers/loopback.ts";
import { mountedSecretKeys, podEnv, type SecretFile } from "./helpers/pod-env.ts";
import { unreadVariables } from "./helpers/read-variables.ts";

/**
 * The Helm chart, rendered once per values set by the real Helm v4 binary and checked against the Kubernetes
 * schemas, Envoy's protos and the services' own config loaders.
 */

const run = promisify(execFile);
const NAMESPACE = "acme-corp";
const REQUIRED = { gateway: { namespace: NAMESPACE } };
const EVERY_FLAG = {
  gateway: { namespace: NAMESPACE, publicUrl: "https://gateway.example.com", preloadServices: ["linear"] },
  redis: { existingSecret: { name: "redis-credentials", key: "url" } },
  metrics: { serviceMonitor: { enabled: true, labels: { release: "prometheus" } } },
  networkPolicy: {
    metricsFrom: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
  },
  ingress: {
    enabled: true,
    className: "nginx",
    tlsSecret: "gateway-tls",
    controlPlaneHost: "control.example.com",
  },
  gatewayApi: {
    enabled: true,
    parentRefs: [{ name: "public", namespace: "gateways" }],
    hostnames: ["gw.example"],
  },
  controlPlane: { publicUrl: "https://control.example.com", allowedOrigins: "https://control.example.com" },
  pairingBridge: { sessionSecret: { name: "gw-pairing", sessionIdKey: "session_id", codeKey: "code" } },
};
const FLAGS_OFF = {
  gateway: { namespace: NAMESPACE },
  networkPolicy: { enabled: false },
  pairingBridge: { enabled: false },
  cli: { enabled: false },
  verifier: {
    autoscaling: { enabled: false, minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 70 },
  },
  topologySpread: { enabled: false },
};

const WORKLOADS = ["envoy", "verifier", "proxy", "usage-worker", "control-plane", "pairing-bridge", "cli"];

let defaults: Rendered;
let everyFlag: Rendered;
let flagsOff: Rendered;
let scratch: string;

before(async () => {
  [defaults, everyFlag, flagsOff] = await Promise.all([
    renderChart(REQUIRED),
    renderChart(EVERY_FLAG),
    renderChart(FLAGS_OFF),
  ]);
  scratch = await mkdtemp(join(tmpdir(), "helm-env-"));
});
after(() => rm(scratch, { recursive: true, force: true }));

const of = (r: Rendered, kind: string) => r.manifests.filter((m) => m.kind === kind);
const labelsMatch = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const podLabels = (d: Manifest): Record<string, string> => d.spec.template.metadata.labels;
const deployment = (r: Rendered, name: string) => find(r.manifests, "Deployment", component(name));
const container = (d: Manifest, name: string) =>
  [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers].find(
    (c: { name: string }) => c.name === name,
  );

describe("helm lint and schemas", () => {
  test("helm lint --strict passes with the required value and with every flag on", async () => {
    for (const values of [REQUIRED, EVERY_FLAG, FLAGS_OFF]) {
      const { stdout } = await helm(["lint", "--strict", CHART], values);
      assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test("the documented in-cluster stores example passes lint and the values schema", async () => {
    const example = join(CHART, "examples", "in-cluster-stores.yaml");
    const { stdout } = await helm(["lint", "--strict", CHART, "-f", example], REQUIRED);
    assert.match(stdout, /0 chart\(s\) failed/);
  });

  test("without gateway.namespace the install stops and says what to set", async () => {
    await assert.rejects(
      helm(["template", "gw", CHART]),
      /gateway\.namespace is required: the Sigilum namespace/,
    );
  });

  test("values.schema.json refuses credentials in redis.url, unknown keys and bad namespaces", async () => {
    const bad: [object, RegExp][] = [
      [{ ...REQUIRED, redis: { url: "redis://user:secret@redis:6379" } }, /redis\/url/],
      [{ ...REQUIRED, verifer: { replicas: 3 } }, /additional properties 'verifer' not allowed/],
      [{ gateway: { namespace: "Not_Valid" } }, /gateway\/namespace/],
      [{ ...REQUIRED, proxy: { replicas: 0 } }, /proxy/],
    ];
    for (const [values, message] of bad)
      await assert.rejects(helm(["template", "gw", CHART], values), message);
  });

  test("every rendered object is valid against the Kubernetes (and CRD) schemas", async () => {
    for (const rendered of [defaults, everyFlag, flagsOff]) {
      for (const manifest of rendered.manifests) {
        await assert.doesNotReject(validateManifest(manifest), `${manifest.kind} ${manifest.metadata.name}`);
      }
    }
    const kinds = new Set(everyFlag.manifests.map((m) => m.kind));
    for (const kind of [
      "ServiceMonitor",
      "HTTPRoute",
      "Ingress",
      "NetworkPolicy",
      "HorizontalPodAutoscaler",
      "Job",
    ])
      assert.ok(kinds.has(kind), kind);
  });

  test("the schema validation rejects a broken object (it can fail)", async () => {
    const broken = structuredClone(deployment(defaults, "proxy"));
    broken.spec.template.spec.containers[0].ports[0].containerPort = "38120";
    await assert.rejects(validateManifest(broken), /containerPort must be integer/);
  });

  test("flags off: no NetworkPolicy, bridge, CLI, verifier HPA or topology spread", () => {
    assert.equal(of(flagsOff, "NetworkPolicy").length, 0);
    assert.ok(!flagsOff.manifests.some((m) => m.metadata.name === component("pairing-bridge")));
    assert.ok(!flagsOff.manifests.some((m) => m.metadata.name === component("cli")));
    assert.deepEqual(
      of(flagsOff, "HorizontalPodAutoscaler").map((h) => h.metadata.name),
      [component("proxy")],
    );
    assert.equal(deployment(flagsOff, "verifier").spec.replicas, 2);
    for (const d of of(flagsOff, "Deployment"))
      assert.equal(d.spec.template.spec.topologySpreadConstraints, undefined);
  });
});

describe("wiring", () => {
  test("every selector matches the pods it is meant for", () => {
    for (const rendered of [defaults, everyFlag]) {
      const deployments = of(rendered, "Deployment");
      assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), WORKLOADS.map(component).sort());
      for (const d of deployments) {
        assert.ok(
          labelsMatch(d.spec.selector.matchLabels, podLabels(d)),
          `${d.metadata.name} selects its pods`,
        );
        const others = deployments.filter(
          (o) => o !== d && labelsMatch(d.spec.selector.matchLabels, podLabels(o)),
        );
        assert.deepEqual(others, [], `${d.metadata.name}'s selector matches no other Deployment`);
      }
      for (const kind of ["Service", "PodDisruptionBudget", "NetworkPolicy"]) {
        for (const m of of(rendered, kind)) {
          const selector =
            kind === "Service" ? m.spec.selector : (m.spec.selector ?? m.spec.podSelector).matchLabels;
          const targets = deployments.filter((d) => labelsMatch(selector, podLabels(d)));
          assert.equal(targets.length, 1, `${kind} ${m.metadata.name} selects exactly one Deployment`);
          assert.equal(targets[0]?.metadata.name, m.metadata.name, `${kind} ${m.metadata.name}`);
        }
      }
      for (const hpa of of(rendered, "HorizontalPodAutoscaler")) {
        const target = find(rendered.manifests, "Deployment", hpa.spec.scaleTargetRef.name);
        assert.equal(target.spec.replicas, undefined, "the HPA owns the replica count");
        assert.equal(hpa.spec.metrics[0].resource.name, "cpu");
      }
      // Each Service's target port is a named port of its pods.
      for (const service of of(rendered, "Service")) {
        const d = find(rendered.manifests, "Deployment", service.metadata.name);
        const names = d.spec.template.spec.containers.flatMap((c: { ports?: { name: string }[] }) =>
          (c.ports ?? []).map((p) => p.name),
        );
        for (const port of service.spec.ports)
          assert.ok(names.includes(port.targetPort), service.metadata.name);
      }
    }
  });

  test("HPA and PDB for the verifier and the proxy", () => {
    const hpas = of(defaults, "HorizontalPodAutoscaler").map((h) => h.metadata.name);
    assert.deepEqual(hpas.sort(), [component("proxy"), component("verifier")]);
    const pdbs = of(defaults, "PodDisruptionBudget").map((p) => p.metadata.name);
    for (const name of ["envoy", "verifier", "proxy", "control-plane"])
      assert.ok(pdbs.includes(component(name)));
  });

  test("NetworkPolicies allow exactly the listed paths", () => {
    for (const rendered of [defaults, everyFlag]) {
      const policies = of(rendered, "NetworkPolicy");
      const componentOf = (labels: Record<string, string>) => labels["app.kubernetes.io/component"] ?? "?";
      // (destination:port) → who may connect: a component name, "anyone", or "metrics" (the metricsFrom peers).
      const allowed = new Map<string, Set<string>>();
      for (const policy of policies) {
        const dest = componentOf(policy.spec.podSelector.matchLabels);
        for (const rule of policy.spec.ingress ?? []) {
          for (const port of rule.ports) {
            const key = `${dest}:${port.port}`;
            const set = allowed.get(key) ?? new Set<string>();
            if (!rule.from) set.add("anyone");
            for (const peer of rule.from ?? [])
              set.add(peer.podSelector ? componentOf(peer.podSelector.matchLabels) : "metrics");
            allowed.set(key, set);
          }
        }
      }
      const metrics = rendered === everyFlag ? ["metrics"] : [];
      const expected: Record<string, string[]> = {
        "envoy:38100": ["anyone"],
        "verifier:38110": ["envoy", ...metrics],
        "proxy:38120": ["envoy", "pairing-bridge", "cli", ...metrics],
        "control-plane:8787": ["anyone"],
        ...(metrics.length ? { "usage-worker:38125": metrics, "pairing-bridge:38130": metrics } : {}),
      };
      const actual = Object.fromEntries([...allowed].map(([k, v]) => [k, [...v].sort()]));
      assert.deepEqual(actual, Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, v.sort()])));
      // Every workload is covered by a policy (no pod is left open by omission).
      const covered = policies.map((p) => componentOf(p.spec.podSelector.matchLabels)).sort();
      assert.deepEqual(covered, [...WORKLOADS].sort());
    }
  });

  test("probes use the services' health routes on their own ports", () => {
    const expected: Record<string, { live: string; ready: string; port: string }> = {
      verifier: { live: "/health/live", ready: "/health/ready", port: "http" },
      proxy: { live: "/health/live", ready: "/health/ready", port: "http" },
      "usage-worker": { live: "/health/live", ready: "/health/ready", port: "http" },
      "pairing-bridge": { live: "/health/live", ready: "/health/ready", port: "http" },
      "control-plane": { live: "/health", ready: "/health", port: "http" },
      envoy: { live: "/ready", ready: "/ready", port: "ready" },
    };
    for (const [name, want] of Object.entries(expected)) {
      const main = deployment(defaults, name).spec.template.spec.containers[0];
      assert.equal(main.livenessProbe.httpGet.path, want.live, name);
      assert.equal(main.readinessProbe.httpGet.path, want.ready, name);
      assert.equal(main.readinessProbe.httpGet.port, want.port, name);
      assert.ok(
        main.ports.some((p: { name: string }) => p.name === want.port),
        `${name}: probe port is declared`,
      );
    }
    // tests/deploy/compose-processes.test.ts requests these same paths from the running services.
  });

  test("every container: non-root, read-only root, no privilege escalation, no capabilities, resources", () => {
    for (const rendered of [defaults, everyFlag]) {
      for (const workload of [...of(rendered, "Deployment"), ...of(rendered, "Job")]) {
        const pod = workload.spec.template.spec;
        assert.equal(pod.securityContext.runAsNonRoot, true, workload.metadata.name);
        assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
        for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
          const where = `${workload.metadata.name}/${c.name}`;
          assert.equal(c.securityContext.readOnlyRootFilesystem, true, where);
          assert.equal(c.securityContext.allowPrivilegeEscalation, false, where);
          assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"], where);
          assert.ok(c.resources.requests.cpu && c.resources.requests.memory, `${where} requests`);
          assert.ok(c.resources.limits.cpu && c.resources.limits.memory, `${where} limits`);
        }
        if (workload.kind === "Deployment") {
          assert.equal(pod.automountServiceAccountToken, false, `${workload.metadata.name}: no API token`);
          const spread = pod.topologySpreadConstraints[0];
          assert.ok(
            labelsMatch(spread.labelSelector.matchLabels, podLabels(workload)),
            workload.metadata.name,
          );
        }
      }
    }
  });

  test("secrets only by reference: no Secret object, no secret value, every secret a mounted file", () => {
    for (const rendered of [defaults, everyFlag]) {
      assert.equal(
        of(rendered, "Secret").length,
        0,
        "the chart renders no Secret: the bootstrap Job creates them",
      );
      for (const workload of [...of(rendered, "Deployment"), ...of(rendered, "Job")]) {
        const pod = workload.spec.template.spec;
        for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
          for (const variable of c.env ?? []) {
            const where = `${workload.metadata.name}/${c.name} ${variable.name}`;
            assert.equal(variable.valueFrom, undefined, `${where}: secrets are files, not env`);
            if (/KEY|TOKEN|SECRET|PASSWORD/.test(variable.name)) assert.match(variable.name, /_FILE$/, where);
            assert.doesNotMatch(
              String(variable.value),
              /\/\/[^/@\s]+:[^/@\s]*@/,
              `${where}: credentials in a URL`,
            );
          }
        }
      }
    }
    const role = find(defaults.manifests, "Role", component("bootstrap"));
    assert.deepEqual(role.rules, [{ apiGroups: [""], resources: ["secrets"], verbs: ["create"] }]);
  });

  test("each service's environment passes its own config validation, with the wiring it needs", async () => {
    for (const [label, rendered] of [
      ["defaults", defaults],
      ["every flag", everyFlag],
    ] as const) {
      const samples: Record<string, string> = {
        master_key: "m".repeat(64),
        internal_secret: "i".repeat(64),
        admin_token: "a".repeat(48),
        jwt_secret: "j".repeat(64),
        session_id: "ps_helm",
        code: "ABCD2345",
      };
      const sample = (file: SecretFile) =>
        samples[file.key] ??
        (file.secret === "redis-credentials"
          ? "rediss://:pw@redis.example:6380"
          : "postgres://sigilum:pw@db:5432/sigilum");
      const root = join(scratch, label);
      const envOf = async (name: string, containerName = name) =>
        podEnv(deployment(rendered, name), containerName, root, sample);

      const verifier = await envOf("verifier");
      const proxy = await envOf("proxy");
      const usage = await envOf("usage-worker");
      const controlPlane = await envOf("control-plane");
      const migrate = await envOf("control-plane", "migrate");
      const bridge = await envOf("pairing-bridge");
      const cli = await envOf("cli");

      const v = loadVerifierConfig(verifier.env);
      const p = loadProxyConfig(proxy.env);
      const u = loadUsageWorkerConfig(usage.env);
      const cp = loadControlPlaneConfig(controlPlane.env);
      assert.deepEqual(loadControlPlaneConfig(migrate.env), cp, "the migration step reads the same database");
      const b = loadBridgeConfig(bridge.env);
      assert.equal(b.listen.port, 38130);

      assert.equal(v.listen.port, 38110);
      assert.equal(p.listen.port, 38120);
      assert.equal(u.listen.port, 38125);
      assert.equal(cp.listen.port, 8787);
      assert.equal(p.authzMode, "envoy");
      assert.equal(p.usageDelivery, "separate");
      assert.equal(p.admin.mode, "token");
      assert.equal(v.internalSecret, samples.internal_secret, "verifier and proxy share the internal secret");
      // Callers use the URL the control plane's signatures are checked against.
      const registry =
        rendered === everyFlag ? "https://control.example.com" : `http://${component("control-plane")}:8787`;
      assert.equal(cp.publicUrl, registry);
      for (const config of [v, p, u]) {
        assert.equal(config.registryUrl, registry);
        assert.equal(config.redisPrefix, v.redisPrefix);
      }
      // Each caller's Host header passes the callee's browser guard (Host allowlist).
      const adminHosts = createHostAllowlist([p.publicUrl], p.allowedHosts, { anyIpAddress: true });
      assert.ok(adminHosts.allows(new URL(cli.env.GATEWAY_ADMIN_URL as string).host), "CLI pod → admin API");
      const controlHosts = createHostAllowlist([cp.publicUrl], cp.allowedHosts, {
        anyIpAddress: true,
      });
      for (const url of [
        registry,
        cli.env.SIGILUM_API_URL as string,
        `http://${component("control-plane")}:8787`,
      ])
        assert.ok(controlHosts.allows(new URL(url).host), `→ control plane as ${url}`);
      assert.equal(cp.redisPrefix, v.redisPrefix);
      assert.equal(v.signerNamespace, NAMESPACE);
      assert.equal(u.identity.namespace, NAMESPACE);
      assert.equal(cp.databaseUrl, "postgres://sigilum:pw@db:5432/sigilum");
      if (rendered === everyFlag) {
        assert.equal(v.redisUrl, "rediss://:pw@redis.example:6380", "Redis URL from the referenced Secret");
        assert.equal(v.publicOrigin, "https://gateway.example.com");
        assert.deepEqual(v.claims.preloadServices, ["linear"]);
      } else assert.equal(v.redisUrl, "redis://redis:6379");

      // The generated secrets each component reads, and nothing more.
      const keys = (env: { files: Record<string, SecretFile> }) =>
        Object.values(env.files)
          .filter((f) => f.secret === component("secrets"))
          .map((f) => f.key)
          .sort();
      assert.deepEqual(keys(verifier), ["internal_secret"]);
      assert.deepEqual(keys(proxy), ["admin_token", "internal_secret", "master_key"]);
      assert.deepEqual(keys(usage), []);
      assert.deepEqual(keys(controlPlane), ["jwt_secret"]);
      assert.deepEqual(keys(cli), ["admin_token", "jwt_secret"]);
      assert.deepEqual(keys(bridge), ["admin_token"]);
      for (const key of [...keys(proxy), ...keys(controlPlane)])
        assert.ok(
          (GENERATED_SECRETS as readonly string[]).includes(key),
          `${key} is created by the bootstrap Job`,
        );

      // The bridge dials the control plane as everyone does and relays to the admin API with its token; it pairs
      // with the session Secret when one is named (by reference), and idles unpaired without one.
      if (rendered === everyFlag) {
        assert.ok(b.pairing, "the session Secret pairs the bridge");
        assert.deepEqual(
          {
            apiUrl: b.pairing.apiUrl,
            sessionId: b.pairing.sessionId,
            pairCode: b.pairing.pairCode,
            namespace: b.pairing.namespace,
            adminUrl: b.pairing.adminUrl,
            adminToken: b.pairing.adminToken,
          },
          {
            apiUrl: registry,
            sessionId: "ps_helm",
            pairCode: "ABCD2345",
            namespace: NAMESPACE,
            adminUrl: cli.env.GATEWAY_ADMIN_URL,
            adminToken: p.admin.token,
          },
        );
        assert.deepEqual(bridge.files.PAIRING_CODE_FILE, { secret: "gw-pairing", key: "code" });
        assert.ok(controlHosts.allows(new URL(b.pairing.apiUrl).host), "bridge → control plane");
        assert.ok(adminHosts.allows(new URL(b.pairing.adminUrl).host), "bridge → admin API");
      } else {
        assert.equal(b.pairing, null, "no session Secret: unpaired");
        assert.equal(bridge.env.GATEWAY_ADMIN_URL, cli.env.GATEWAY_ADMIN_URL, "ready to relay once paired");
      }
      // No service is left with a loopback address it dials: in a pod that is the container itself.
      for (const [name, config] of Object.entries({ v, p, u, cp, b })) {
        assert.deepEqual(loopbackValues(config), [], `${label}: ${name}`);
      }

      // The CLI pod talks to the same services with the same homes.
      assert.equal(cli.env.SIGILUM_API_URL, registry);
      assert.equal(cli.env.GATEWAY_ADMIN_URL, `http://${component("proxy")}:38120`);
      assert.equal(cli.env.GATEWAY_SIGILUM_HOME, verifier.env.GATEWAY_SIGILUM_HOME);
      assert.notEqual(
        cli.env.SIGILUM_HOME,
        cli.env.GATEWAY_SIGILUM_HOME,
        "agent identities apart from the gateway's",
      );
    }
  });

  test("the gateway's Sigilum home holds its identity under the configured namespace and the service keys", () => {
    for (const name of ["verifier", "proxy", "usage-worker", "cli"]) {
      const mounted = mountedSecretKeys(deployment(defaults, name), name);
      assert.deepEqual(mounted.get(`/sigilum/identities/${NAMESPACE}/identity.json`), {
        secret: component("identity"),
        key: "identity.json",
      });
      const volume = deployment(defaults, name).spec.template.spec.volumes.find(
        (v: { name: string }) => v.name === "sigilum-home",
      );
      const keys = volume.projected.sources.find((s: { secret: { name: string } }) =>
        s.secret.name.endsWith("service-keys"),
      );
      assert.equal(keys.secret.optional, true, `${name}: service keys are optional until one is added`);
    }
  });

  test("the bootstrap Job runs before install and upgrade with only its own Role", () => {
    const job = find(defaults.manifests, "Job", component("bootstrap"));
    const hook = job.metadata.annotations ?? {};
    assert.equal(hook["helm.sh/hook"], "pre-install,pre-upgrade");
    const pod = job.spec.template.spec;
    assert.equal(pod.serviceAccountName, component("bootstrap"));
    assert.deepEqual(pod.containers[0].command, ["node", "deploy/bootstrap-kubernetes.ts"]);
    const env = Object.fromEntries(
      pod.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    assert.equal(env.GATEWAY_SIGILUM_NAMESPACE, NAMESPACE);
    assert.equal(env.GENERATED_OBJECT, component("secrets"));
    assert.equal(env.IDENTITY_OBJECT, component("identity"));
    assert.equal(pod.volumes[0].emptyDir.medium, "Memory", "generated keys never touch the node's disk");
    for (const kind of ["ServiceAccount", "Role", "RoleBinding"]) {
      const weight = Number(
        find(defaults.manifests, kind, component("bootstrap")).metadata.annotations?.["helm.sh/hook-weight"],
      );
      assert.ok(weight < Number(hook["helm.sh/hook-weight"]), `${kind} exists before the Job`);
    }
  });

  test("the control plane migrates in an init step with the same image", () => {
    const d = deployment(defaults, "control-plane");
    const init = container(d, "migrate");
    assert.deepEqual(init.command, ["node", "services/control-plane/src/migrate.ts"]);
    assert.equal(init.image, container(d, "control-plane").image);
  });

  test("images: one per Dockerfile target", () => {
    for (const name of ["verifier", "proxy", "usage-worker", "control-plane", "pairing-bridge", "cli"])
      assert.equal(
        deployment(defaults, name).spec.template.spec.containers[0].image,
        `sigilum-gateway-${name}:0.1.0`,
      );
  });

  test("ServiceMonitor, Ingress and HTTPRoute reach the right Services", () => {
    const monitor = of(everyFlag, "ServiceMonitor")[0] as Manifest;
    const scraped = of(everyFlag, "Service").filter((s) =>
      labelsMatch(monitor.spec.selector.matchLabels, s.metadata.labels),
    );
    assert.deepEqual(
      scraped.map((s) => s.metadata.name).sort(),
      ["verifier", "proxy", "usage-worker", "pairing-bridge", "control-plane"].map(component).sort(),
    );
    for (const s of scraped)
      assert.ok(s.spec.ports.some((p: { name: string }) => p.name === monitor.spec.endpoints[0].port));
    const ingress = of(everyFlag, "Ingress")[0] as Manifest;
    assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, component("envoy"));
    // The dashboard's host leads to the control plane, whose public URL (what owners sign) is that host.
    assert.equal(ingress.spec.rules[1].host, "control.example.com");
    assert.equal(ingress.spec.rules[1].http.paths[0].backend.service.name, component("control-plane"));
    assert.equal(EVERY_FLAG.controlPlane.publicUrl, `https://${ingress.spec.rules[1].host}`);
    assert.deepEqual(ingress.spec.tls[0].hosts, ["gateway.example.com", "control.example.com"]);
    const route = of(everyFlag, "HTTPRoute")[0] as Manifest;
    assert.deepEqual(route.spec.backendRefs ?? route.spec.rules[0].backendRefs, [
      { name: component("envoy"), port: 38100 },
    ]);
  });

  test("NOTES.txt says how to reach the gateway and get the admin token", () => {
    assert.match(defaults.notes, /port-forward svc\/gw-sigilum-gateway-envoy 38100:38100/);
    assert.match(
      defaults.notes,
      /get secret gw-sigilum-gateway-secrets -o jsonpath='\{\.data\.admin_token\}' \| base64 -d/,
    );
    assert.match(everyFlag.notes, /https:\/\/gateway\.example\.com/);
    // Unpaired: how to give the bridge a session; paired: which Secret it reads.
    assert.match(defaults.notes, /exec deploy\/gw-sigilum-gateway-cli -- sigilum pairing start/);
    assert.match(defaults.notes, /--set pairingBridge\.sessionSecret\.name=gw-pairing/);
    assert.match(everyFlag.notes, /paired with the session in Secret gw-pairing/);
  });
});

describe("the chart's Envoy", () => {
  const envoyConfig = (rendered: Rendered) =>
    parse(find(rendered.manifests, "ConfigMap", component("envoy")).data["envoy.yaml"]);

  test("its config is valid against Envoy's v3 protos", () => {
    assert.deepEqual(envoyBootstrapErrors(envoyConfig(defaults)), []);
  });

  test("its clusters are the headless verifier and proxy Services on the ports their pods listen on", () => {
    const config = envoyConfig(defaults);
    for (const cluster of config.static_resources.clusters) {
      const address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      const service = find(defaults.manifests, "Service", address.address);
      assert.equal(service.spec.clusterIP, "None", `${cluster.name}: Envoy sees every pod`);
      assert.equal(service.spec.ports[0].port, address.port_value);
      const pod = find(defaults.manifests, "Deployment", address.address).spec.template.spec.containers[0];
      assert.equal(pod.ports[0].containerPort, address.port_value);
    }
    const extAuthz =
      config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0];
    assert.equal(extAuthz.typed_config.http_service.server_uri.uri, `http://${component("verifier")}:38110`);
    assert.deepEqual(
      extAuthz.typed_config.http_service.authorization_response.allowed_upstream_headers.patterns.map(
        (p: { exact: string }) => p.exact,
      ),
      [...ALLOW_HEADERS],
    );
  });

  test("the admin API is not routed through Envoy; /ready is Envoy's own health check", () => {
    const config = envoyConfig(defaults);
    const routes =
      config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config
        .virtual_hosts[0].routes;
    const admin = routes.find((r: { match: { prefix: string } }) => r.match.prefix === "/api/admin/");
    assert.deepEqual(admin.direct_response, { status: 404 });
    const ready = config.static_resources.listeners[1];
    assert.equal(ready.address.socket_address.port_value, 38101);
    const filter = ready.filter_chains[0].filters[0].typed_config.http_filters[0];
    assert.equal(filter.typed_config.pass_through_mode, false);
    assert.deepEqual(filter.typed_config.headers, [{ name: ":path", string_match: { exact: "/ready" } }]);
  });

  test("a config change rolls the Envoy pods (checksum annotation)", () => {
    const annotation = deployment(defaults, "envoy").spec.template.metadata.annotations["checksum/config"];
    assert.match(annotation, /^[0-9a-f]{64}$/);
  });
});

describe("the bootstrap Job's Secrets", () => {
  test("carry the generated files exactly as `kubectl create secret --from-file` encodes them, and validate", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bootstrap-k8s-"));
    try {
      const { namespace } = await bootstrap({
        secretsDir: join(dir, "secrets"),
        sigilumHome: join(dir, "sigilum"),
        namespace: NAMESPACE,
        postgresHost: undefined,
        log: () => {},
      });
      assert.equal(namespace, NAMESPACE);
      assert.deepEqual((await readdir(join(dir, "secrets"))).sort(), [...GENERATED_SECRETS].sort());
      const files = Object.fromEntries(
        await Promise.all(
          GENERATED_SECRETS.map(async (n) => [n, await readFile(join(dir, "secrets", n))] as const),
        ),
      );
      const ours = secretManifest(component("secrets"), { "app.kubernetes.io/component": "secrets" }, files);
      await validateManifest(ours);
      const { kubectl } = await kubeTools();
      const { stdout } = await run(
        kubectl,
        [
          "create",
          "secret",
          "generic",
          component("secrets"),
          `--from-file=${join(dir, "secrets")}`,
          "--dry-run=client",
          "-o",
          "json",
        ],
        { env: { PATH: process.env.PATH ?? "", HOME: dir, KUBECONFIG: join(dir, "none") } },
      );
      assert.deepEqual(ours.data, (JSON.parse(stdout) as { data: Record<string, string> }).data);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("no variable is set in vain", () => {
  test("every variable the chart sets is one its service's code reads", async () => {
    for (const d of [...of(everyFlag, "Deployment"), ...of(everyFlag, "Job")]) {
      const name = d.metadata.labels?.["app.kubernetes.io/component"] as string;
      if (name === "envoy") continue;
      for (const c of [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers]) {
        const names = (c.env ?? []).map((e: { name: string }) => e.name);
        assert.deepEqual(await unreadVariables(name, names), [], `${d.metadata.name}/${c.name}`);
      }
    }
  });

  test("the check catches a misspelled variable", async () => {
    assert.deepEqual(await unreadVariables("verifier", ["VERIFIER_ADDR", "VERIFER_ADDR"]), ["VERIFER_ADDR"]);
  });
});
