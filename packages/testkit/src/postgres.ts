import { randomBytes } from "node:crypto";
import pg from "pg";

/** The server's maintenance database, where test databases are created and dropped. */
export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database named `<namePrefix><random>` on the DATABASE_URL server; `drop()` removes it. */
export async function createTestDatabase(namePrefix: string): Promise<TestDatabase> {
  const name = `${namePrefix}${randomBytes(6).toString("hex")}`;
  await onMaintenanceDatabase(`CREATE DATABASE ${name}`);
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => onMaintenanceDatabase(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function onMaintenanceDatabase(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
