import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Manifest } from "./chart.ts";

/**
 * A container's environment as its process sees it in the cluster: plain values as they are, and every
 * `<NAME>_FILE` path resolved through the pod's volume mounts to the Secret key behind it, written with a sample
 * value under `root` (so the services' own config loaders can read it).
 */

export interface SecretFile {
  secret: string;
  key: string;
}

export interface PodEnv {
  env: Record<string, string>;
  /** `<NAME>_FILE` → the Secret key it reads. */
  files: Record<string, SecretFile>;
}

// biome-ignore lint/suspicious/noExplicitAny: rendered pod spec
type Any = any;

/** Where each mounted path comes from: path inside the container → Secret and key. */
function secretPaths(pod: Any, container: Any): Map<string, SecretFile> {
  const paths = new Map<string, SecretFile>();
  for (const mount of container.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find((v: Any) => v.name === mount.name);
    const sources: Any[] = volume?.secret
      ? [{ secret: { name: volume.secret.secretName, items: volume.secret.items } }]
      : (volume?.projected?.sources ?? []);
    for (const source of sources) {
      if (!source.secret) continue;
      for (const item of source.secret.items ?? []) {
        paths.set(join(mount.mountPath, item.path), { secret: source.secret.name, key: item.key });
      }
    }
  }
  return paths;
}

export async function podEnv(
  workload: Manifest,
  containerName: string,
  root: string,
  sample: (file: SecretFile) => string,
): Promise<PodEnv> {
  const pod = workload.spec.template.spec;
  const container = [...(pod.initContainers ?? []), ...pod.containers].find(
    (c: Any) => c.name === containerName,
  );
  if (!container) throw new Error(`${workload.metadata.name} has no container ${containerName}`);
  const mounted = secretPaths(pod, container);
  const env: Record<string, string> = {};
  const files: Record<string, SecretFile> = {};
  for (const variable of container.env ?? []) {
    if (variable.valueFrom)
      throw new Error(`${variable.name}: only plain values and *_FILE paths are expected`);
    let value = String(variable.value ?? "");
    if (variable.name.endsWith("_FILE")) {
      const source = mounted.get(value);
      if (!source) throw new Error(`${containerName}: ${variable.name}=${value} is not a mounted Secret key`);
      files[variable.name] = source;
      const local = join(root, containerName, value);
      await mkdir(dirname(local), { recursive: true });
      await writeFile(local, `${sample(source)}\n`);
      value = local;
    }
    env[variable.name] = value;
  }
  return { env, files };
}

/** Every Secret key a container can read at `path` (e.g. the gateway's Sigilum home). */
export function mountedSecretKeys(workload: Manifest, containerName: string): Map<string, SecretFile> {
  const pod = workload.spec.template.spec;
  const container = pod.containers.find((c: Any) => c.name === containerName);
  return secretPaths(pod, container);
}
