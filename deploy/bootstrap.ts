// First-run set-up for docker compose: the secrets in the `secrets` volume, the gateway identity in
// `sigilum-home` (deploy/bootstrap/secrets.ts). Idempotent; never prints a secret.
import { BootstrapError, bootstrap } from "./bootstrap/secrets.ts";

try {
  await bootstrap({
    secretsDir: process.env.SECRETS_DIR ?? "/secrets",
    sigilumHome: process.env.GATEWAY_SIGILUM_HOME ?? "/sigilum",
    namespace: process.env.GATEWAY_SIGILUM_NAMESPACE,
    postgresHost: process.env.POSTGRES_HOST ?? "postgres",
    log: (line) => console.log(line),
  });
} catch (err) {
  if (!(err instanceof BootstrapError)) throw err;
  console.error(`bootstrap: ${err.message}`);
  process.exit(1);
}
