import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { createTestDatabase, DATABASE_URL } from "../src/postgres.ts";

async function query(url: string, sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

test("createTestDatabase makes a database of its own, and drop() removes it", async () => {
  const db = await createTestDatabase("testkit_");
  try {
    assert.match(db.name, /^testkit_[0-9a-f]{12}$/);
    assert.equal((await query(db.url, "SELECT current_database() AS name")).rows[0].name, db.name);
  } finally {
    await db.drop();
  }
  assert.equal(
    (await query(DATABASE_URL, "SELECT 1 FROM pg_database WHERE datname = $1", [db.name])).rowCount,
    0,
  );
});
