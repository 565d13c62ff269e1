// The Helm chart's bootstrap Job: generates the secrets and the gateway identity (deploy/bootstrap/secrets.ts)
// into the pod's memory-backed scratch directory, then creates the Kubernetes Secrets the services mount. A Secret
// that already exists is kept as it is (409 from the API server): later installs and upgrades never rotate a key.
// Needs only `create` on secrets in its namespace (the chart's Role). Never prints a secret.
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { ConfigError } from "../packages/shared/src/config.ts";
import { type KubernetesBootstrapConfig, loadKubernetesBootstrapConfig } from "./bootstrap/config.ts";
import { secretManifest } from "./bootstrap/secret-manifest.ts";
import { BootstrapError, bootstrap, GENERATED_SECRETS } from "./bootstrap/secrets.ts";

function createSecret(
  api: KubernetesBootstrapConfig["api"],
  body: object,
  ca: string,
  token: string,
  namespace: string,
): Promise<number> {
  const { host, port } = api;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method: "POST",
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
        ca,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
    // TLS refused (not the cluster's CA), connection refused, timeout: a message, never a stack trace.
    req.on("error", (err) =>
      reject(new BootstrapError(`the Kubernetes API at ${host}:${port}: ${err.message}`)),
    );
    req.end(JSON.stringify(body));
  });
}

try {
  const config = loadKubernetesBootstrapConfig();
  const { scratch, serviceAccountDir } = config;
  const { namespace } = await bootstrap({
    secretsDir: join(scratch, "secrets"),
    sigilumHome: join(scratch, "sigilum"),
    namespace: config.namespace,
    postgresHost: undefined,
    log: (line) => console.log(line.replace(scratch, "(scratch)")),
  });
  const [ca, token, podNamespace] = await Promise.all(
    ["ca.crt", "token", "namespace"].map((f) =>
      readFile(join(serviceAccountDir, f), "utf8").catch(() => {
        throw new BootstrapError(
          `no ${join(serviceAccountDir, f)}: run as the chart's bootstrap ServiceAccount`,
        );
      }),
    ),
  );
  const { labels } = config;
  const secrets = [
    secretManifest(
      config.generatedObject,
      labels,
      Object.fromEntries(
        await Promise.all(
          GENERATED_SECRETS.map(async (n) => [n, await readFile(join(scratch, "secrets", n))] as const),
        ),
      ),
    ),
    secretManifest(config.identityObject, labels, {
      "identity.json": await readFile(join(scratch, "sigilum", "identities", namespace, "identity.json")),
    }),
  ];
  for (const secret of secrets) {
    const status = await createSecret(
      config.api,
      secret,
      ca as string,
      (token as string).trim(),
      (podNamespace as string).trim(),
    );
    if (status === 201) console.log(`created Secret ${secret.metadata.name}`);
    else if (status === 409) console.log(`kept    Secret ${secret.metadata.name} (exists)`);
    else
      throw new BootstrapError(
        `creating Secret ${secret.metadata.name}: the Kubernetes API answered ${status}`,
      );
  }
} catch (err) {
  if (!(err instanceof BootstrapError) && !(err instanceof ConfigError)) throw err;
  console.error(`bootstrap: ${err.message}`);
  process.exit(1);
}
