import { dumpPrefix, REDIS_URL } from "@sigilum-gw/testkit/redis";
import pg from "pg";

/**
 * Looks for every secret a run handled, as is and in the encodings a leak would take (base64, base64url, hex,
 * URL-encoded), in what operators keep: logs, a metrics scrape, every Redis key under the run's prefix (names
 * and values of every type), and optionally every table of a PostgreSQL database. Returns "<secret> in <where>"
 * for each finding; an empty list is a clean run.
 */

export interface ScanInput {
  secrets: Record<string, string>;
  logs?: string;
  metrics?: string;
  redisPrefix?: string;
  redisUrl?: string;
  databaseUrl?: string;
}

function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  return [
    secret,
    bytes.toString("base64"),
    bytes.toString("base64url"),
    bytes.toString("hex"),
    encodeURIComponent(secret),
  ].filter((v) => v.length >= 8);
}

async function dumpDatabase(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ schemaname: string; tablename: string }>(
      "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    );
    let out = "";
    for (const { schemaname, tablename } of tables.rows) {
      const rows = await client.query(`SELECT * FROM "${schemaname}"."${tablename}"`);
      out += `${tablename} ${JSON.stringify(rows.rows)}\n`;
    }
    return out;
  } finally {
    await client.end();
  }
}

export async function scanForSecrets(input: ScanInput): Promise<string[]> {
  const places: [string, string][] = [];
  if (input.logs !== undefined) places.push(["logs", input.logs]);
  if (input.metrics !== undefined) places.push(["metrics", input.metrics]);
  if (input.redisPrefix !== undefined) {
    places.push(["redis", await dumpPrefix(input.redisPrefix, input.redisUrl ?? REDIS_URL)]);
  }
  if (input.databaseUrl !== undefined) places.push(["database", await dumpDatabase(input.databaseUrl)]);
  const findings: string[] = [];
  for (const [name, secret] of Object.entries(input.secrets)) {
    for (const [where, text] of places) {
      if (encodings(secret).some((form) => text.includes(form))) findings.push(`${name} in ${where}`);
    }
  }
  return findings;
}
