import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import type { CliContext } from "../context.ts";
import { REPO_ROOT } from "../core/paths.ts";
import { emit, keyValues } from "../output.ts";
import { REDIS_SERVER } from "../stack/embedded-redis.ts";

/** `sigilum version`: every component's version, the runtime's and the external servers' the stack uses. */

const COMPONENTS = {
  cli: "services/cli",
  verifier: "services/verifier",
  proxy: "services/proxy",
  "control-plane": "services/control-plane",
  "pairing-bridge": "services/pairing-bridge",
  shared: "packages/shared",
  sdk: "packages/sdk",
} as const;

const manifest = z.object({ version: z.string() });

async function packageVersion(dir: string): Promise<string | null> {
  try {
    return manifest.parse(JSON.parse(await readFile(join(REPO_ROOT, dir, "package.json"), "utf8"))).version;
  } catch {
    return null;
  }
}

function toolVersion(env: NodeJS.ProcessEnv, command: string, pattern: RegExp): string | null {
  const run = spawnSync(command, ["--version"], { env, encoding: "utf8", timeout: 5000 });
  return run.status === 0 ? (pattern.exec(run.stdout)?.[1] ?? run.stdout.trim()) : null;
}

export function registerVersionCommand(program: Command, ctx: CliContext): void {
  program
    .command("version")
    .description("print the version of every component, of Node and of redis-server")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const components: Record<string, string | null> = {};
      for (const [name, dir] of Object.entries(COMPONENTS)) components[name] = await packageVersion(dir);
      const runtime = {
        node: process.version,
        [REDIS_SERVER]: toolVersion(ctx.env, REDIS_SERVER, /v=(\S+)/),
      };
      emit(ctx, opts.json, { command: "version", components, runtime }, () => [
        `sigilum ${components.cli ?? "unknown"}`,
        ...keyValues(
          [...Object.entries(components), ...Object.entries(runtime)].map(([k, v]) => [k, v ?? "not found"]),
        ),
      ]);
    });
}
