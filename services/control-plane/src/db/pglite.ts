import { mkdirSync } from "node:fs";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { Db, Queryable, QueryResult, Row } from "./db.ts";

type PgliteLike = Pick<PGlite, "query" | "exec"> | Transaction;

async function run<T extends Row>(
  target: PgliteLike,
  sql: string,
  params?: readonly unknown[],
): Promise<QueryResult<T>> {
  if (params && params.length > 0) {
    const res = await target.query<T>(sql, params as unknown[]);
    return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
  }
  // exec accepts several statements, like pg's simple protocol.
  const results = await target.exec(sql);
  const last = results[results.length - 1];
  return { rows: (last?.rows ?? []) as T[], rowCount: last?.affectedRows ?? last?.rows.length ?? 0 };
}

/** Embedded PostgreSQL persisted in `dir` (same SQL dialect as the server). */
export async function createPgliteDb(dir: string): Promise<Db> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create(dir);
  // PGlite is single-connection: transactions queue behind each other inside the library.
  return {
    query: <T extends Row>(sql: string, params?: readonly unknown[]) => run<T>(db, sql, params),
    transaction: (fn) =>
      db.transaction(async (t) => {
        const tx: Queryable = {
          query: <T extends Row>(sql: string, params?: readonly unknown[]) => run<T>(t, sql, params),
        };
        return fn(tx);
      }),
    close: () => db.close(),
  };
}
