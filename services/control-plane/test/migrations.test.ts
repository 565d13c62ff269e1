import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Db } from "../src/db/db.ts";
import { loadMigrations, migrate } from "../src/db/migrate.ts";
import { createPgDb } from "../src/db/pg.ts";
import { createTestDatabase } from "./helpers.ts";

describe("migrations on PostgreSQL", () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;

  before(async () => {
    database = await createTestDatabase();
    db = createPgDb(database.url);
  });
  after(async () => {
    await db?.close();
    await database?.drop();
  });

  test("files are numbered, ordered and start at 001_init", () => {
    const all = loadMigrations();
    assert.equal(all[0]?.version, 1);
    assert.equal(all[0]?.name, "init");
    assert.deepEqual(
      all.map((m) => m.version),
      [...all.map((m) => m.version)].sort((a, b) => a - b),
    );
  });

  test("applying twice is idempotent; concurrent runs apply each migration once", async () => {
    const other = createPgDb(database.url);
    try {
      const [a, b] = await Promise.all([migrate(db), migrate(other)]);
      const all = loadMigrations().map((m) => m.version);
      // One run applied everything, the other found it done (the advisory lock serialises them).
      assert.deepEqual(
        [...a, ...b].sort((x, y) => x - y),
        all,
      );
      assert.deepEqual(await migrate(db), []);
      const { rows } = await db.query<{ version: number; name: string }>(
        "SELECT version, name FROM schema_migrations ORDER BY version",
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        all,
      );
      const tables = await db.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
      );
      for (const t of [
        "authorizations",
        "request_nonces",
        "service_api_keys",
        "services",
        "usage_events",
        "users",
      ]) {
        assert.ok(
          tables.rows.some((r) => r.tablename === t),
          t,
        );
      }
    } finally {
      await other.close();
    }
  });

  test("a failing migration rolls back entirely and is not recorded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cp-mig-"));
    try {
      writeFileSync(join(dir, "001_init.sql"), "SELECT 1");
      writeFileSync(join(dir, "900_good.sql"), "CREATE TABLE mig_probe (id int)");
      writeFileSync(join(dir, "901_bad.sql"), "CREATE TABLE mig_probe_2 (id int); SELECT no_such_function()");
      await assert.rejects(migrate(db, loadMigrations(dir)));
      const probe = await db.query("SELECT to_regclass('mig_probe') AS t, to_regclass('mig_probe_2') AS t2");
      assert.deepEqual(probe.rows[0], { t: null, t2: null });
      const recorded = await db.query("SELECT version FROM schema_migrations WHERE version >= 900");
      assert.equal(recorded.rows.length, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("duplicate version numbers are refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "cp-mig-"));
    try {
      writeFileSync(join(dir, "002_a.sql"), "SELECT 1");
      writeFileSync(join(dir, "002_b.sql"), "SELECT 1");
      assert.throws(() => loadMigrations(dir), /Duplicate migration version 2/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the transaction helper rolls back on throw and commits on success", async () => {
    await db.query("CREATE TABLE IF NOT EXISTS tx_probe (v int)");
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO tx_probe VALUES (1)");
        throw new Error("boom");
      }),
      /boom/,
    );
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO tx_probe VALUES ($1)", [2]);
    });
    const { rows } = await db.query<{ v: number }>("SELECT v FROM tx_probe");
    assert.deepEqual(
      rows.map((r) => r.v),
      [2],
    );
  });
});
