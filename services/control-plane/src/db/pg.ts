import pg from "pg";
import type { Db, Queryable, QueryResult, Row } from "./db.ts";

// Return int8 and numeric as JS numbers only where we cast explicitly; timestamps stay Date.
export function createPgDb(connectionString: string, opts: { max?: number } = {}): Db {
  const pool = new pg.Pool({ connectionString, max: opts.max ?? 10 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", () => {});

  async function run<T extends Row>(
    client: pg.Pool | pg.PoolClient,
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<T>> {
    const res =
      params && params.length > 0 ? await client.query(sql, params as unknown[]) : await client.query(sql);
    // A multi-statement simple query returns an array of results: report the last one.
    const last = (Array.isArray(res) ? res[res.length - 1] : res) as pg.QueryResult;
    return { rows: (last?.rows ?? []) as T[], rowCount: last?.rowCount ?? 0 };
  }

  return {
    query: <T extends Row>(sql: string, params?: readonly unknown[]) => run<T>(pool, sql, params),
    async transaction(fn) {
      const client = await pool.connect();
      const tx: Queryable = {
        query: <T extends Row>(sql: string, params?: readonly unknown[]) => run<T>(client, sql, params),
      };
      try {
        await client.query("BEGIN");
        const out = await fn(tx);
        await client.query("COMMIT");
        client.release();
        return out;
      } catch (err) {
        try {
          await client.query("ROLLBACK");
          client.release();
        } catch {
          client.release(true);
        }
        throw err;
      }
    },
    close: () => pool.end(),
  };
}
