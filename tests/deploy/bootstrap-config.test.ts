import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runScript } from "@sigilum-gw/testkit/process";
import { loadComposeBootstrapConfig, loadKubernetesBootstrapConfig } from "../../deploy/bootstrap/config.ts";
import { ConfigError } from "../../packages/shared/src/config.ts";

/** The bootstrap scripts read their environment through the shared loader: a bad value is one line naming it. */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const KUBERNETES = {
  GATEWAY_SIGILUM_NAMESPACE: "acme-corp",
  GENERATED_OBJECT: "gw-sigilum-gateway-secrets",
  IDENTITY_OBJECT: "gw-sigilum-gateway-identity",
  OBJECT_LABELS: '{"app.kubernetes.io/name":"sigilum-gateway"}',
  KUBERNETES_SERVICE_HOST: "10.0.0.1",
};

function issues(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

describe("bootstrap configuration", () => {
  test("compose: the volumes' mount points by default, whatever HOME is", () => {
    assert.deepEqual(loadComposeBootstrapConfig({ HOME: "/home/node" }), {
      secretsDir: "/secrets",
      sigilumHome: "/sigilum",
      namespace: undefined,
      postgresHost: "postgres",
    });
    const set = loadComposeBootstrapConfig({
      SECRETS_DIR: "/s",
      GATEWAY_SIGILUM_HOME: "/h",
      GATEWAY_SIGILUM_NAMESPACE: " Acme ",
      POSTGRES_HOST: "db",
    });
    assert.deepEqual(set, { secretsDir: "/s", sigilumHome: "/h", namespace: "acme", postgresHost: "db" });
  });

  test("compose: a bad namespace names the variable and what it expects", () => {
    assert.equal(
      issues(() => loadComposeBootstrapConfig({ GATEWAY_SIGILUM_NAMESPACE: "-bad-" })),
      'invalid GATEWAY_SIGILUM_NAMESPACE value "-bad-": expected 3-64 characters from a-z 0-9 -, not starting or ending with -',
    );
  });

  test("Kubernetes: the chart's environment, with the defaults of a pod", () => {
    assert.deepEqual(loadKubernetesBootstrapConfig(KUBERNETES), {
      namespace: "acme-corp",
      generatedObject: "gw-sigilum-gateway-secrets",
      identityObject: "gw-sigilum-gateway-identity",
      labels: { "app.kubernetes.io/name": "sigilum-gateway" },
      scratch: "/tmp/bootstrap",
      serviceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount",
      api: { host: "10.0.0.1", port: 443 },
    });
  });

  test("Kubernetes: every missing or bad variable is named", () => {
    assert.equal(
      issues(() => loadKubernetesBootstrapConfig({})),
      [
        "GATEWAY_SIGILUM_NAMESPACE is required",
        "GENERATED_OBJECT is required",
        "IDENTITY_OBJECT is required",
        "KUBERNETES_SERVICE_HOST is required",
      ].join("; "),
    );
    const bad = (name: string, value: string) =>
      issues(() => loadKubernetesBootstrapConfig({ ...KUBERNETES, [name]: value }));
    assert.equal(
      bad("KUBERNETES_SERVICE_PORT", "https"),
      'invalid KUBERNETES_SERVICE_PORT value "https": expected an integer between 1 and 65535',
    );
    assert.equal(
      bad("OBJECT_LABELS", '{"a":1}'),
      'invalid OBJECT_LABELS value "{\\"a\\":1}": expected a JSON object of string labels',
    );
    assert.equal(
      bad("OBJECT_LABELS", "{not json"),
      'invalid OBJECT_LABELS value "{not json": expected a JSON object of string labels',
    );
    assert.equal(
      bad("IDENTITY_OBJECT", "Gw_Identity"),
      'invalid IDENTITY_OBJECT value "Gw_Identity": expected a Kubernetes object name',
    );
  });

  test("the scripts stop with that one line and exit 1, no stack trace", async () => {
    const env = { PATH: process.env.PATH ?? "" };
    const kubernetes = await runScript(join(ROOT, "deploy/bootstrap-kubernetes.ts"), [], {
      env: { ...env, ...KUBERNETES, KUBERNETES_SERVICE_HOST: "", KUBERNETES_SERVICE_PORT: "0" },
      timeoutMs: 30_000,
    });
    assert.equal(kubernetes.code, 1);
    assert.equal(
      kubernetes.stderr,
      'bootstrap: KUBERNETES_SERVICE_HOST is required; invalid KUBERNETES_SERVICE_PORT value "0": expected an integer between 1 and 65535\n',
    );
    const compose = await runScript(join(ROOT, "deploy/bootstrap.ts"), [], {
      env: { ...env, GATEWAY_SIGILUM_NAMESPACE: "Not a namespace" },
      timeoutMs: 30_000,
    });
    assert.equal(compose.code, 1);
    assert.match(
      compose.stderr,
      /^bootstrap: invalid GATEWAY_SIGILUM_NAMESPACE value "Not a namespace": expected .*\n$/,
    );
    assert.equal(compose.stdout, "");
  });
});
