import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Whether a service's code reads an environment variable: its name appears in the service's sources or in
 * packages/shared (the config groups). `<NAME>_FILE` counts as `<NAME>` (the shared loader reads any schema
 * variable from a file). A misspelled variable in a deployment file would otherwise be ignored without a word.
 */

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Read by Node or the OS, not by our code. */
const PLATFORM = new Set(["HOME", "PATH", "NODE_ENV"]);
/** Deployment component → the source folder of the code it runs. */
const SOURCES: Record<string, string> = {
  verifier: "services/verifier/src",
  proxy: "services/proxy/src",
  "usage-worker": "services/proxy/src",
  "control-plane": "services/control-plane/src",
  "pairing-bridge": "services/pairing-bridge/src",
  cli: "services/cli/src",
  bootstrap: "deploy",
};

async function sourceText(dir: string): Promise<string> {
  const entries = await readdir(join(ROOT, dir), { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile() && e.name.endsWith(".ts"));
  return (await Promise.all(files.map((f) => readFile(join(f.parentPath, f.name), "utf8")))).join("\n");
}

const cache = new Map<string, Promise<string>>();
const text = (dir: string) => cache.get(dir) ?? cache.set(dir, sourceText(dir)).get(dir)!;

/** The variables in `names` that the component's code never mentions. */
export async function unreadVariables(componentName: string, names: string[]): Promise<string[]> {
  const source = SOURCES[componentName];
  if (!source) throw new Error(`no source folder known for ${componentName}`);
  const code = `${await text(source)}\n${await text("packages/shared/src")}`;
  return names.filter((name) => {
    if (PLATFORM.has(name)) return false;
    const base = name.replace(/_FILE$/, "");
    return !new RegExp(`\\b${base}\\b`).test(code);
  });
}
