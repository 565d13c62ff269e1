// First-run set-up for the containers (docker compose, Helm job): creates, only when missing, the secrets the
// services read through <NAME>_FILE and the gateway's own Sigilum identity. Idempotent; never prints a secret.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { initIdentity } from "../packages/shared/src/identity.ts";

const secretsDir = process.env.SECRETS_DIR ?? "/secrets";
const sigilumHome = process.env.GATEWAY_SIGILUM_HOME ?? "/sigilum";
const namespace = process.env.GATEWAY_SIGILUM_NAMESPACE ?? "gateway-local";
const postgresHost = process.env.POSTGRES_HOST ?? "postgres";

/** `mode` 0600: only the services' user (uid 1000 in node images) reads it. */
async function ensureSecret(name: string, make: () => string, mode = 0o600): Promise<void> {
  const path = join(secretsDir, name);
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (exists) {
    console.log(`kept    ${path}`);
    return;
  }
  await writeFile(path, `${make()}\n`, { mode, flag: "wx" });
  console.log(`created ${path}`);
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

// The postgres image reads its password file as its own user (uid 70): the directory must be traversable and
// that one file readable. Every other secret stays 0600.
await mkdir(secretsDir, { recursive: true, mode: 0o755 });
await chmod(secretsDir, 0o755);
await ensureSecret("master_key", () => hex(32));
await ensureSecret("internal_secret", () => hex(32));
await ensureSecret("admin_token", () => hex(24));
await ensureSecret("jwt_secret", () => hex(32));
await ensureSecret("postgres_password", () => hex(24), 0o644);
const password = (await readFile(join(secretsDir, "postgres_password"), "utf8")).trim();
await ensureSecret("database_url", () => `postgres://sigilum:${password}@${postgresHost}:5432/sigilum`);

const identity = await initIdentity({ namespace, homeDir: sigilumHome });
console.log(
  `${identity.created ? "created" : "kept   "} gateway identity ${identity.namespace} (${identity.keyId})`,
);
