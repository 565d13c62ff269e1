import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The source checkout this CLI runs from (services/cli/src/lib → repo root). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");

export function userHome(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

/**
 * The local stack's data directory: SIGILUM_DATA_DIR, else `<repo>/.data`. The stack is run from a source
 * checkout, so its state lives beside it (and `.data/` is ignored by git and biome).
 */
export function dataDir(env: NodeJS.ProcessEnv, cwd: string): string {
  const configured = env.SIGILUM_DATA_DIR?.trim();
  return configured ? resolve(cwd, configured) : join(REPO_ROOT, ".data");
}

/** The agent's Sigilum home (identities): --home, else SIGILUM_HOME, else ~/.sigilum (spec §D.1). */
export function sigilumHome(env: NodeJS.ProcessEnv, cwd: string, flag?: string): string {
  const configured = flag?.trim() || env.SIGILUM_HOME?.trim();
  return configured ? resolve(cwd, configured) : join(userHome(env), ".sigilum");
}

/** Where namespace-owner tokens live (spec §C.2): `<OPENCLAW_HOME or ~/.openclaw>/.sigilum/owner-token-<ns>.jwt`. */
export function ownerTokenFile(env: NodeJS.ProcessEnv, cwd: string, namespace: string): string {
  const openclawHome = env.OPENCLAW_HOME?.trim()
    ? resolve(cwd, env.OPENCLAW_HOME)
    : join(userHome(env), ".openclaw");
  return join(openclawHome, ".sigilum", `owner-token-${namespace}.jwt`);
}
