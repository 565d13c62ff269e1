/** The one database surface the control plane codes against; pg and PGlite both implement it. */
export type Row = Record<string, unknown>;

export interface QueryResult<T extends Row = Row> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  /**
   * Runs one statement with `$1..$n` parameters. Without parameters the text may hold several
   * statements (simple protocol); the result is the last statement's.
   */
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
}

export interface Db extends Queryable {
  /** Runs fn inside BEGIN/COMMIT on one connection; any throw rolls back and re-throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A database error that means "the store is down", as opposed to a constraint violation. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "23505";
}
