import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type RunResult, runScript } from "@sigilum-gw/testkit/process";
import { GENERATED_SECRETS } from "../../deploy/bootstrap/secrets.ts";
import { type ApiServer, selfSigned, startApiServer } from "./helpers/api-server.ts";
import { component, find, type Manifest, RELEASE_NAMESPACE, renderChart } from "./helpers/chart.ts";

/**
 * The chart's bootstrap Job run as its pod runs it: the rendered container's command and environment, its scratch
 * emptyDir, a ServiceAccount directory (token, ca.crt, namespace) and the Kubernetes API over TLS
 * (helpers/api-server.ts: no cluster here). Install creates the Secrets, an upgrade keeps them, and every refusal
 * ends the Job with one line saying why, never a secret or a stack trace.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NAMESPACE = "acme-corp";
const TOKEN = `sa-token-${randomBytes(12).toString("hex")}`;

let api: ApiServer;
let job: Manifest;
let dir: string;
let runs = 0;

/** A ServiceAccount directory as the kubelet mounts it. */
async function serviceAccount(name: string, files: { token: string; ca: string }): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  await writeFile(join(path, "token"), files.token);
  await writeFile(join(path, "ca.crt"), files.ca);
  await writeFile(join(path, "namespace"), RELEASE_NAMESPACE);
  return path;
}

/** One pod of the Job: a fresh scratch emptyDir each time, the rendered command and environment. */
async function runJob(serviceAccountDir: string): Promise<RunResult> {
  const container = job.spec.template.spec.containers[0];
  const [command, script] = container.command as [string, string];
  assert.equal(command, "node");
  const scratch = join(dir, `pod-${++runs}`);
  const mount = container.volumeMounts.find((m: { name: string }) => m.name === "scratch").mountPath;
  const env: Record<string, string> = {};
  for (const { name, value } of container.env as { name: string; value: string }[]) {
    env[name] = value.startsWith(`${mount}/`) ? join(scratch, value.slice(mount.length)) : value;
  }
  return runScript(join(ROOT, script), [], {
    env: {
      ...env,
      PATH: process.env.PATH ?? "",
      KUBERNETES_SERVICE_HOST: api.host,
      KUBERNETES_SERVICE_PORT: String(api.port),
      SERVICE_ACCOUNT_DIR: serviceAccountDir,
    },
    timeoutMs: 60_000,
  });
}

const decoded = (secret: Manifest) =>
  Object.fromEntries(
    Object.entries(secret.data as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v, "base64").toString(),
    ]),
  );

describe("the bootstrap Job against the Kubernetes API", () => {
  let pod: string;
  before(async () => {
    [api, dir] = await Promise.all([startApiServer(TOKEN), mkdtemp(join(tmpdir(), "bootstrap-job-"))]);
    job = find(
      (await renderChart({ gateway: { namespace: NAMESPACE } })).manifests,
      "Job",
      component("bootstrap"),
    );
    pod = await serviceAccount("serviceaccount", { token: TOKEN, ca: api.ca });
  });
  after(async () => {
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const stored = (name: string) => api.secrets.get(`${RELEASE_NAMESPACE}/${component(name)}`);

  test("install: the generated secrets and the gateway identity as two valid Secrets in the pod's namespace, none printed", async () => {
    const run = await runJob(pod);
    assert.equal(run.code, 0, run.stderr);
    const generated = stored("secrets");
    const identity = stored("identity");
    assert.ok(generated && identity, `stored: ${[...api.secrets.keys()].join(", ")}`);
    assert.deepEqual(Object.keys(generated.data).sort(), [...GENERATED_SECRETS].sort());
    assert.equal(JSON.parse(decoded(identity)["identity.json"] as string).namespace, NAMESPACE);
    const labels = JSON.parse(
      job.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === "OBJECT_LABELS")
        .value,
    );
    assert.deepEqual(generated.metadata.labels, labels);
    assert.ok(
      api.requests.every(
        (r) => r.method === "POST" && r.path === `/api/v1/namespaces/${RELEASE_NAMESPACE}/secrets`,
      ),
    );
    assert.match(run.stdout, new RegExp(`created Secret ${component("secrets")}\\n`));
    assert.match(run.stdout, new RegExp(`created Secret ${component("identity")}\\n`));
    const printed = run.stdout + run.stderr;
    for (const [name, value] of Object.entries({ ...decoded(generated), ...decoded(identity) })) {
      for (const line of value.split("\n").filter((l) => l.length >= 16))
        assert.equal(printed.includes(line), false, `${name} was printed`);
    }
  });

  test("upgrade: the Secrets exist (409) and are kept as they are; no key is rotated", async () => {
    const before = JSON.stringify([stored("secrets"), stored("identity")]);
    const run = await runJob(pod);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`kept    Secret ${component("secrets")} \\(exists\\)`));
    assert.match(run.stdout, new RegExp(`kept    Secret ${component("identity")} \\(exists\\)`));
    assert.equal(JSON.stringify([stored("secrets"), stored("identity")]), before);
  });

  test("refusals end the Job with one line: another token (401), a CA that is not the cluster's, no ServiceAccount", async () => {
    const cases: [string, string, RegExp][] = [
      [
        "wrong token",
        await serviceAccount("wrong-token", { token: "not-the-token", ca: api.ca }),
        /^bootstrap: creating Secret \S+: the Kubernetes API answered 401\n$/,
      ],
      [
        "foreign CA",
        await serviceAccount("foreign-ca", { token: TOKEN, ca: (await selfSigned()).cert }),
        /^bootstrap: the Kubernetes API at 127\.0\.0\.1:\d+: .*certificate.*\n$/,
      ],
      [
        "no ServiceAccount",
        join(dir, "none"),
        /^bootstrap: no \S+\/(ca\.crt|token|namespace): run as the chart's bootstrap ServiceAccount\n$/,
      ],
    ];
    for (const [label, path, message] of cases) {
      const run = await runJob(path);
      assert.equal(run.code, 1, `${label}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, message, label);
    }
  });
});
