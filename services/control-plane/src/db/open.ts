import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Db } from "./db.ts";
import { createPgDb } from "./pg.ts";
import { createPgliteDb } from "./pglite.ts";

/** PostgreSQL when DATABASE_URL is set, else the embedded database in the data directory. */
export async function openDb(config: Config, dataDir: string): Promise<Db> {
  if (config.databaseUrl) return createPgDb(config.databaseUrl);
  return createPgliteDb(join(dataDir, "pgdata"));
}
