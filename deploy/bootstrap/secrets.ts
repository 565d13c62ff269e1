import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { initIdentity, listNamespaces } from "../../packages/shared/src/identity.ts";

/**
 * First-run set-up shared by docker compose (files in named volumes) and the Helm chart's bootstrap Job (files
 * turned into Kubernetes Secrets): creates, only when missing, the secrets the services read through
 * `<NAME>_FILE` and the gateway's own Sigilum identity. Idempotent; never prints a secret.
 */

export interface BootstrapOptions {
  secretsDir: string;
  sigilumHome: string;
  /** GATEWAY_SIGILUM_NAMESPACE; unset = the existing identity's, else DEFAULT_NAMESPACE. */
  namespace: string | undefined;
  /** Host of the bundled PostgreSQL (compose); unset = no database secrets (an external database by URL). */
  postgresHost: string | undefined;
  log: (line: string) => void;
}

/** The secrets every deployment generates (file name = Kubernetes Secret key). */
export const GENERATED_SECRETS = ["master_key", "internal_secret", "admin_token", "jwt_secret"] as const;

/** The namespace `sigilum up` falls back to as well. */
export const DEFAULT_NAMESPACE = "local-owner";

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const SIZES: Record<(typeof GENERATED_SECRETS)[number], number> = {
  master_key: 32,
  internal_secret: 32,
  admin_token: 24,
  jwt_secret: 32,
};

async function ensureSecret(
  dir: string,
  name: string,
  make: () => string,
  log: (l: string) => void,
  mode = 0o600,
) {
  const path = join(dir, name);
  if (
    await stat(path).then(
      () => true,
      () => false,
    )
  ) {
    log(`kept    ${path}`);
    return;
  }
  await writeFile(path, `${make()}\n`, { mode, flag: "wx" });
  log(`created ${path}`);
}

export class BootstrapError extends Error {}

/** The namespace to sign as: the configured one must match an identity already created. */
async function gatewayNamespace(opts: BootstrapOptions): Promise<{ namespace: string; derived: boolean }> {
  const existing = await listNamespaces(opts.sigilumHome);
  const configured = opts.namespace?.trim();
  if (existing.length > 1)
    throw new BootstrapError(
      `${opts.sigilumHome} holds several identities (${existing.join(", ")}); keep one`,
    );
  if (configured && existing.length === 1 && existing[0] !== configured)
    throw new BootstrapError(
      `the gateway identity was created for namespace "${existing[0]}", not GATEWAY_SIGILUM_NAMESPACE="${configured}": ` +
        `unset it, or remove the sigilum-home volume to start over with the new namespace`,
    );
  if (configured) return { namespace: configured, derived: false };
  if (existing[0]) return { namespace: existing[0], derived: false };
  return { namespace: DEFAULT_NAMESPACE, derived: true };
}

export async function bootstrap(opts: BootstrapOptions): Promise<{ namespace: string }> {
  const { secretsDir, log } = opts;
  // The postgres image reads its password file as its own user (uid 70): the directory must be traversable and
  // that one file readable. Every other secret stays 0600.
  await mkdir(secretsDir, { recursive: true, mode: 0o755 });
  await chmod(secretsDir, 0o755);
  for (const name of GENERATED_SECRETS) await ensureSecret(secretsDir, name, () => hex(SIZES[name]), log);
  if (opts.postgresHost) {
    await ensureSecret(secretsDir, "postgres_password", () => hex(24), log, 0o644);
    const password = (await readFile(join(secretsDir, "postgres_password"), "utf8")).trim();
    await ensureSecret(
      secretsDir,
      "database_url",
      () => `postgres://sigilum:${password}@${opts.postgresHost}:5432/sigilum`,
      log,
    );
  }
  const { namespace, derived } = await gatewayNamespace(opts);
  const identity = await initIdentity({ namespace, homeDir: opts.sigilumHome });
  log(
    `${identity.created ? "created" : "kept   "} gateway identity ${identity.namespace} (${identity.keyId})`,
  );
  log(
    `Gateway namespace: ${identity.namespace}${derived ? " (default; set GATEWAY_SIGILUM_NAMESPACE on the first run to choose)" : ""}. ` +
      `Agents must sign as this namespace, or their access requests are refused (SIGNATURE_NAMESPACE_MISMATCH): ` +
      `sigilum init ${identity.namespace}`,
  );
  return { namespace: identity.namespace };
}
