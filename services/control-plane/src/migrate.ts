// Applies the database migrations and exits: the Helm chart's init step before the control plane starts
// (the server migrates on start too; both take the same advisory lock, so replicas never race).
import { ConfigError } from "@sigilum-gw/shared/config";
import { createLogger } from "@sigilum-gw/shared/logger";
import { loadConfig } from "./config.ts";
import { migrate } from "./db/migrate.ts";
import { createPgDb } from "./db/pg.ts";

const log = createLogger("control-plane-migrate");

async function main(): Promise<number> {
  let url: string | undefined;
  try {
    const config = loadConfig();
    log.level = config.logLevel;
    url = config.databaseUrl;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const issue of err.issues) log.fatal({ variable: issue.variable }, issue.message);
    return 2;
  }
  if (!url) {
    log.fatal({ variable: "DATABASE_URL" }, "DATABASE_URL (or DATABASE_URL_FILE) is required to migrate");
    return 2;
  }
  const db = createPgDb(url);
  try {
    const applied = await migrate(db);
    log.info({ applied }, applied.length > 0 ? "database migrated" : "database schema up to date");
    return 0;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log.fatal({ err }, "migration failed");
    process.exit(1);
  },
);
