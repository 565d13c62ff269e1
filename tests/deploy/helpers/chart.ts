import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { kubeTools } from "./kube-tools.ts";

/** Renders k8s/sigilum-gateway with the real Helm binary, as `helm install` would, without a cluster. */

export const CHART = fileURLToPath(new URL("../../../k8s/sigilum-gateway", import.meta.url));
export const RELEASE = "gw";
export const RELEASE_NAMESPACE = "sigilum";

const run = promisify(execFile);

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects, checked by the schema validation
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: idem
  [field: string]: any;
}

export interface Rendered {
  /** Every object, hooks (bootstrap Job and its RBAC) included. */
  manifests: Manifest[];
  notes: string;
}

/** Runs helm with a throwaway HOME and no kubeconfig: nothing outside the test is read or written. */
export async function helm(args: string[], values?: object): Promise<{ stdout: string; stderr: string }> {
  const { helm: binary } = await kubeTools();
  const dir = await mkdtemp(join(tmpdir(), "helm-"));
  try {
    const valuesArgs: string[] = [];
    if (values) {
      await writeFile(join(dir, "values.json"), JSON.stringify(values));
      valuesArgs.push("-f", join(dir, "values.json"));
    }
    return await run(binary, [...args, ...valuesArgs], {
      env: { PATH: process.env.PATH ?? "", HOME: dir, KUBECONFIG: join(dir, "none"), HELM_CACHE_HOME: dir },
      maxBuffer: 32 * 1024 * 1024,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

export async function renderChart(values: object): Promise<Rendered> {
  const { stdout } = await helm(
    ["install", RELEASE, CHART, "--dry-run=client", "--namespace", RELEASE_NAMESPACE, "-o", "json"],
    values,
  );
  const release = JSON.parse(stdout) as {
    manifest: string;
    hooks: { manifest: string }[];
    info: { notes: string };
  };
  return {
    manifests: [release.manifest, ...release.hooks.map((h) => h.manifest)].flatMap(parseManifests),
    notes: release.info.notes,
  };
}

export const find = (manifests: Manifest[], kind: string, name: string): Manifest => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered chart`);
  return found;
};

/** The chart's name for a component's objects. */
export const component = (name: string) => `${RELEASE}-sigilum-gateway-${name}`;
