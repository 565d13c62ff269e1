import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where the generated owner-JWT secret lives: `<CONTROL_PLANE_DATA_DIR>/jwt-secret` (mode 0600). */
export const JWT_SECRET_FILE = "jwt-secret";

export function jwtSecretPath(dataDir: string): string {
  return join(dataDir, JWT_SECRET_FILE);
}

/** Reads the secret file (trimmed). Returns undefined when it does not exist. */
export function readJwtSecret(dataDir: string): string | undefined {
  try {
    const value = readFileSync(jwtSecretPath(dataDir), "utf8").trim();
    return value.length > 0 ? value : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Returns the configured secret, else the one in the data directory, else generates one there.
 * The file is created exclusively, so two processes starting together agree on one secret.
 */
export function loadOrCreateJwtSecret(dataDir: string, configured?: string): string {
  if (configured) return configured;
  const existing = readJwtSecret(dataDir);
  if (existing) return existing;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(48).toString("base64url");
  try {
    writeFileSync(jwtSecretPath(dataDir), `${secret}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(jwtSecretPath(dataDir), 0o600);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const raced = readJwtSecret(dataDir);
    if (!raced) throw new Error(`JWT secret file ${jwtSecretPath(dataDir)} is empty`);
    return raced;
  }
}
