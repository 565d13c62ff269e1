import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, readdirSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import pg from "pg";
import { CliError } from "../errors.ts";
import type { StackLayout } from "./layout.ts";

/**
 * The stack's own PostgreSQL when DATABASE_URL is not set: the system's `postgres` and `initdb` (PATH, else
 * Debian's /usr/lib/postgresql/<version>/bin, Homebrew's postgresql@<version>), a cluster in `<data dir>/postgres`
 * created at the first `up`, listening on a Unix socket only (no TCP port; the socket directory is 0700, so only
 * this user reaches it, without a password). It runs as a supervised service of the stack, like its redis-server.
 *
 * PostgreSQL refuses to run as root. As root (CI, containers) it runs in a user namespace (`unshare --user`) where
 * it is `nobody`: files it writes are still owned by root outside, so the data directory needs no other owner.
 *
 * Why not PGlite (the control plane's own embedded database): ~440 MB RSS idle and ~1 GB at its first start, against
 * ~140 MB for the control plane plus ~30 MB (PSS) for this server (docs/decisions.md).
 */

export const POSTGRES = "postgres";
/** The cluster's superuser, created by initdb. */
export const POSTGRES_USER = "sigilum";
/** Unix socket paths are limited to ~107 bytes; the socket file name is `.s.PGSQL.5432`. */
const MAX_SOCKET_DIR_LENGTH = 90;
/** Inside the user namespace, root is mapped to `nobody` (present on every Linux). */
const UNPRIVILEGED_ID = "65534";
const ROOTLESS = ["--user", `--map-user=${UNPRIVILEGED_ID}`, `--map-group=${UNPRIVILEGED_ID}`];

export const POSTGRES_INSTALL_HINT =
  "Install the PostgreSQL server, then run `sigilum up` again:\n" +
  "  sudo apt-get install postgresql        # Debian, Ubuntu\n" +
  "  brew install postgresql@17             # macOS\n" +
  "Or point DATABASE_URL at a running PostgreSQL (e.g. DATABASE_URL=postgres://user@127.0.0.1:5432/sigilum sigilum up).";

export interface PostgresBinaries {
  dir: string;
  postgres: string;
  initdb: string;
  /** `postgres (PostgreSQL) 15.20 ...` */
  version: string;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `/usr/lib/postgresql/15/bin` and the like, newest version first. */
function versionedDirs(parent: string, pattern: RegExp, bin: (entry: string) => string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return [];
  }
  return entries
    .filter((entry) => pattern.test(entry))
    .sort((a, b) => b.localeCompare(a, "en", { numeric: true }))
    .map((entry) => join(parent, bin(entry)));
}

/**
 * Where `postgres` and `initdb` may be, in the order they are tried: SIGILUM_POSTGRES_BIN_DIR alone when set (to pick
 * one of several installed versions), else PATH, Debian's and Homebrew's versioned directories.
 */
export function postgresSearchDirs(env: NodeJS.ProcessEnv): string[] {
  const chosen = env.SIGILUM_POSTGRES_BIN_DIR?.trim();
  if (chosen) return [chosen];
  return [
    ...(env.PATH ?? "").split(delimiter).filter(Boolean),
    ...versionedDirs("/usr/lib/postgresql", /^\d+$/, (v) => join(v, "bin")),
    ...versionedDirs("/opt/homebrew/opt", /^postgresql(@\d+)?$/, (v) => join(v, "bin")),
    ...versionedDirs("/usr/local/opt", /^postgresql(@\d+)?$/, (v) => join(v, "bin")),
  ];
}

/** The first directory holding both `postgres` and `initdb` that run; undefined when there is none. */
export function findPostgresBinaries(env: NodeJS.ProcessEnv): PostgresBinaries | undefined {
  for (const dir of postgresSearchDirs(env)) {
    const postgres = join(dir, POSTGRES);
    const initdb = join(dir, "initdb");
    if (!executable(postgres) || !executable(initdb)) continue;
    const probe = spawnSync(postgres, ["--version"], { encoding: "utf8", timeout: 10_000 });
    if (probe.status === 0) return { dir, postgres, initdb, version: probe.stdout.trim() };
  }
  return undefined;
}

export function runsAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * The PostgreSQL server the stack will run, or the one clear message of what is missing: the binaries, or (as
 * root) a working `unshare --user`.
 */
export function requirePostgresServer(env: NodeJS.ProcessEnv): PostgresBinaries {
  const binaries = findPostgresBinaries(env);
  if (!binaries) {
    const where = env.SIGILUM_POSTGRES_BIN_DIR?.trim() || "PATH or /usr/lib/postgresql";
    throw new CliError(
      `PostgreSQL (postgres, initdb) was not found in ${where} (the local stack runs its own database)`,
      { hint: POSTGRES_INSTALL_HINT, code: "POSTGRES_SERVER_MISSING" },
    );
  }
  if (runsAsRoot()) {
    const probe = spawnSync("unshare", [...ROOTLESS, "true"], { encoding: "utf8", timeout: 10_000 });
    if (probe.error || probe.status !== 0) {
      throw new CliError(
        "PostgreSQL does not run as root, and `unshare --user` (which runs it unprivileged) is not available here",
        {
          hint:
            "Run `sigilum up` as a regular user, or point DATABASE_URL at a running PostgreSQL.\n" +
            `unshare said: ${(probe.stderr || probe.error?.message || "").trim() || `exit ${probe.status}`}`,
          code: "POSTGRES_AS_ROOT",
        },
      );
    }
  }
  return binaries;
}

/** `binary args...`, wrapped in a user namespace when we are root. */
export function postgresCommand(binary: string, args: string[]): { command: string; args: string[] } {
  return runsAsRoot()
    ? { command: "unshare", args: [...ROOTLESS, binary, ...args] }
    : { command: binary, args };
}

/** The socket directory: `<data dir>/run/postgres`, or a per-stack one in the temp dir when that path is too long. */
export function postgresSocketDir(layout: StackLayout): string {
  const preferred = join(layout.runDir, "postgres");
  if (preferred.length <= MAX_SOCKET_DIR_LENGTH) return preferred;
  const id = createHash("sha256").update(layout.dataDir).digest("hex").slice(0, 12);
  return join(tmpdir(), `sigilum-pg-${id}`);
}

/** The control plane's DATABASE_URL: the cluster's superuser over the Unix socket (the host part is ignored). */
export function embeddedDatabaseUrl(socketDir: string): string {
  return `postgres://${POSTGRES_USER}@localhost/postgres?host=${encodeURIComponent(socketDir)}`;
}

/**
 * `postgres` arguments: Unix socket only, and settings sized for one control plane (its pool is 10 connections):
 * small shared buffers keep the server near 30 MB instead of growing into the 128 MB default.
 */
export function postgresServerArgs(layout: StackLayout, socketDir: string): string[] {
  const settings = {
    listen_addresses: "",
    unix_socket_directories: socketDir,
    unix_socket_permissions: "0700",
    max_connections: "20",
    shared_buffers: "16MB",
    logging_collector: "off",
  };
  return ["-D", layout.postgresDataDir, ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
}

export function postgresClusterExists(layout: StackLayout): boolean {
  return existsSync(join(layout.postgresDataDir, "PG_VERSION"));
}

/**
 * Creates the cluster at the first `up` (initdb into a temporary directory renamed into place, so an interrupted
 * first start leaves no half cluster). Returns whether it was created.
 */
export async function ensurePostgresCluster(
  layout: StackLayout,
  binaries: PostgresBinaries,
): Promise<boolean> {
  if (postgresClusterExists(layout)) return false;
  const staging = `${layout.postgresDataDir}.init`;
  await rm(staging, { recursive: true, force: true });
  const { command, args } = postgresCommand(binaries.initdb, [
    "-D",
    staging,
    "-U",
    POSTGRES_USER,
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C",
  ]);
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0) {
    await rm(staging, { recursive: true, force: true });
    throw new CliError(`initdb failed to create the stack's database in ${layout.postgresDataDir}`, {
      hint: `${(result.stderr || result.error?.message || "").trim()}\n${binaries.initdb} (${binaries.version})`,
      code: "POSTGRES_INIT_FAILED",
    });
  }
  await rm(layout.postgresDataDir, { recursive: true, force: true });
  await rename(staging, layout.postgresDataDir);
  return true;
}

/** Whether the server answers a query (not only accepts connections: a starting server refuses them). */
export async function checkPostgres(url: string, timeoutMs = 2000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
