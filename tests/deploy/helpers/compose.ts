import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";

/** docker-compose.yml and the Dockerfile as data: what each container runs, with which environment. */

const ROOT = new URL("../../../", import.meta.url);
export const readRepoFile = (path: string) => readFile(new URL(path, ROOT), "utf8");

const serviceSchema = z.looseObject({
  build: z.looseObject({ context: z.string(), target: z.string().optional() }).optional(),
  image: z.string().optional(),
  entrypoint: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  volumes: z.array(z.string()).optional(),
  tmpfs: z.array(z.string()).optional(),
  ports: z.array(z.string()).optional(),
  user: z.string().optional(),
  read_only: z.boolean().optional(),
  profiles: z.array(z.string()).optional(),
  container_name: z.string().optional(),
  healthcheck: z.looseObject({ test: z.array(z.string()) }).optional(),
  deploy: z.looseObject({ replicas: z.number().optional() }).optional(),
  depends_on: z.record(z.string(), z.looseObject({ condition: z.string() })).optional(),
});
const composeSchema = z.looseObject({
  services: z.record(z.string(), serviceSchema),
  volumes: z.record(z.string(), z.unknown()),
});
export type Compose = z.infer<typeof composeSchema>;
export type ComposeService = z.infer<typeof serviceSchema>;

export async function loadCompose(): Promise<Compose> {
  return composeSchema.parse(parse(await readRepoFile("docker-compose.yml"), { merge: true }));
}

/** `${VAR:-default}` → the variable from `vars`, else the default (what `docker compose up` does). */
export function interpolate(value: string | number, vars: Record<string, string> = {}): string {
  return String(value).replace(/\$\{([A-Z0-9_]+):-([^}]*)\}/g, (_, name: string, fallback: string) =>
    vars[name] ? vars[name] : fallback,
  );
}

export interface Stage {
  name: string;
  env: Record<string, string>;
  workdir: string | undefined;
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  /** The HEALTHCHECK's CMD, exec form. */
  healthcheck: string[] | undefined;
  user: string | undefined;
}

/** Each `FROM … AS name` stage, with what it inherits from a parent stage of this Dockerfile. */
export function dockerfileStages(dockerfile: string): Map<string, Stage> {
  const stages = new Map<string, Stage>();
  let current: Stage | undefined;
  for (const line of dockerfile.replace(/\\\n/g, " ").split("\n")) {
    const from = /^FROM (\S+) AS (\S+)$/.exec(line);
    if (from) {
      const parent = stages.get(from[1] as string);
      current = {
        name: from[2] as string,
        env: { ...parent?.env },
        workdir: parent?.workdir,
        entrypoint: parent?.entrypoint,
        cmd: parent?.cmd,
        healthcheck: parent?.healthcheck,
        user: parent?.user,
      };
      stages.set(current.name, current);
      continue;
    }
    if (!current) continue;
    const [instruction, ...rest] = line.trim().split(/\s+/);
    const args = rest.join(" ");
    if (instruction === "ENV") {
      for (const [, k, v] of args.matchAll(/([A-Z0-9_]+)=(\S+)/g)) current.env[k as string] = v as string;
    } else if (instruction === "WORKDIR") current.workdir = args;
    else if (instruction === "USER") current.user = args;
    else if (instruction === "CMD") current.cmd = JSON.parse(args) as string[];
    else if (instruction === "ENTRYPOINT") current.entrypoint = JSON.parse(args) as string[];
    else if (instruction === "HEALTHCHECK")
      current.healthcheck = JSON.parse(args.replace(/^.*?CMD /, "")) as string[];
  }
  return stages;
}

/** What the container runs: compose's entrypoint/command over the image's ENTRYPOINT/CMD. */
export function commandOf(service: ComposeService, stage: Stage | undefined, args: string[] = []): string[] {
  const entrypoint = service.entrypoint ?? stage?.entrypoint ?? [];
  const command = args.length ? args : (service.command ?? (service.entrypoint ? [] : (stage?.cmd ?? [])));
  return [...entrypoint, ...command];
}
