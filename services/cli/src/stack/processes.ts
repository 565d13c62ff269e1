import { readFile, readlink, realpath, rm } from "node:fs/promises";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { writeSecretFile } from "../core/files.ts";

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else, so it is not one of ours either way.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether `pid` is still the process we started (pid files can outlive a reboot and the pid be reused).
 * On Linux one of its arguments must be, or resolve (through symlinks such as the `sigilum` bin) to, a path
 * containing `marker`; elsewhere a live pid is trusted.
 */
export async function isOurProcess(pid: number, marker: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  if (process.platform !== "linux") return true;
  let args: string[];
  let cwd: string;
  try {
    args = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter(Boolean);
    cwd = await readlink(`/proc/${pid}/cwd`).catch(() => "/");
  } catch {
    return false;
  }
  // argv[0] too: redis-server rewrites its command line to `redis-server <addr>`.
  if (args[0]?.split(" ")[0]?.endsWith(marker)) return true;
  for (const arg of args.slice(1)) {
    if (arg.includes(marker)) return true;
    if (arg.startsWith("-")) continue;
    const real = await realpath(resolve(cwd, arg)).catch(() => undefined);
    if (real?.includes(marker)) return true;
  }
  return false;
}

export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, "utf8")).trim();
    return /^[1-9]\d{0,9}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

export async function writePidFile(path: string, pid: number): Promise<void> {
  await writeSecretFile(path, String(pid));
}

export async function removePidFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** Waits until `pid` is gone or the time is up; true when it is gone. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
}

/** `signal` (SIGTERM unless said), then SIGKILL after the timeout. Returns how it ended. */
export async function terminate(
  pid: number,
  timeoutMs: number,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<"gone" | "terminated" | "killed"> {
  if (!isAlive(pid)) return "gone";
  try {
    process.kill(pid, signal);
  } catch {
    return "gone";
  }
  if (await waitForExit(pid, timeoutMs)) return "terminated";
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return "gone";
  }
  await waitForExit(pid, 2000);
  return "killed";
}
