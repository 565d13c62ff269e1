import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Creates a private directory (0700), tightening it if it already exists. */
export async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
}

/** Writes a secret file atomically with mode 0600 inside a 0700 directory. */
export async function writeSecretFile(path: string, value: string): Promise<void> {
  await ensurePrivateDir(dirname(path));
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temp, value.endsWith("\n") ? value : `${value}\n`, { mode: 0o600, flag: "wx" });
    await chmod(temp, 0o600);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** The trimmed content of a file, or undefined when it does not exist or is empty. */
export async function readTrimmed(path: string): Promise<string | undefined> {
  try {
    const value = (await readFile(path, "utf8")).trim();
    return value.length > 0 ? value : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Reads the secret at `path`, or creates it with `generate()` (exclusively, so concurrent runs agree). */
export async function loadOrCreateSecret(
  path: string,
  generate: () => string,
): Promise<{ value: string; created: boolean }> {
  const existing = await readTrimmed(path);
  if (existing) return { value: existing, created: false };
  await ensurePrivateDir(dirname(path));
  const value = generate();
  try {
    await writeFile(path, `${value}\n`, { mode: 0o600, flag: "wx" });
    await chmod(path, 0o600);
    return { value, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const raced = await readTrimmed(path);
    if (!raced) throw new Error(`${path} exists but is empty`);
    return { value: raced, created: false };
  }
}
