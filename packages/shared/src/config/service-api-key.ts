import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Env } from "./parse.ts";

/**
 * `SIGILUM_SERVICE_API_KEY_<SUFFIX>` for a connection id (spec/gateway.md §4.1): upper-cased, every run of
 * characters outside [A-Za-z0-9] collapsed to one "_", leading/trailing "_" removed, empty → DEFAULT.
 */
export function serviceApiKeyEnvName(connectionId: string): string {
  const suffix = connectionId
    .toUpperCase()
    .replace(/[^A-Za-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  return `SIGILUM_SERVICE_API_KEY_${suffix === "" ? "DEFAULT" : suffix}`;
}

/** Connection ids that may name a key file: no path separators, no dot segments. */
const SAFE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function serviceApiKeyFileName(connectionId: string): string | undefined {
  return SAFE_ID_RE.test(connectionId) && !connectionId.includes("..")
    ? `service-api-key-${connectionId}`
    : undefined;
}

/** The Sigilum homes searched for `service-api-key-<id>` files, in order, deduplicated (spec §4.1 step 2). */
export function serviceApiKeyHomes(env: Env): string[] {
  const home = env.HOME || homedir();
  const candidates = [
    env.GATEWAY_SIGILUM_HOME,
    env.SIGILUM_HOME,
    join(home, ".sigilum"),
    join(home, ".openclaw", "workspace", ".sigilum"),
    join(home, ".openclaw", ".sigilum"),
  ];
  return [...new Set(candidates.filter((c): c is string => !!c?.trim()))];
}

/**
 * The service API key used for a connection's claims feed and claim submissions (spec §4.1): the
 * per-connection variable, else the first non-empty `service-api-key-<id>` file in the Sigilum homes (how
 * `sigilum service add` hands a new key to running verifiers), else SIGILUM_SERVICE_API_KEY, else "" (the
 * caller answers AUTH_CLAIMS_LOOKUP_FAILED). Read on every call so a rotated key applies without a restart.
 * An unsafe id (e.g. `../escape`) never reads files. Synchronous on purpose: it runs once per feed refresh or
 * claim submission (never per request), and a tiny file read keeps every caller simple.
 */
export function serviceApiKeyFor(connectionId: string, env: Env): string {
  const scoped = env[serviceApiKeyEnvName(connectionId)]?.trim();
  if (scoped) return scoped;
  const fileName = serviceApiKeyFileName(connectionId);
  if (fileName) {
    for (const home of serviceApiKeyHomes(env)) {
      const content = readKeyFile(join(home, fileName));
      if (content) return content;
    }
  }
  return env.SIGILUM_SERVICE_API_KEY?.trim() ?? "";
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}
