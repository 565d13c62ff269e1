// First-run set-up for docker compose: the secrets in the `secrets` volume, the gateway identity in
// `sigilum-home` (deploy/bootstrap/secrets.ts). Idempotent; never prints a secret.
import { ConfigError } from "../packages/shared/src/config.ts";
import { loadComposeBootstrapConfig } from "./bootstrap/config.ts";
import { BootstrapError, bootstrap } from "./bootstrap/secrets.ts";

try {
  await bootstrap({ ...loadComposeBootstrapConfig(), log: (line) => console.log(line) });
} catch (err) {
  if (!(err instanceof BootstrapError) && !(err instanceof ConfigError)) throw err;
  console.error(`bootstrap: ${err.message}`);
  process.exit(1);
}
