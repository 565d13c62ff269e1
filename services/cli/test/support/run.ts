import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunResult, runScript, serviceMain } from "@sigilum-gw/testkit/process";
import { runCli } from "../../src/cli.ts";
import type { CliContext } from "../../src/context.ts";

/** Runs the CLI in this process with captured streams and only the given environment. */
export async function runInProcess(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string; interactive?: boolean; cwd?: string } = {},
): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  const input = options.stdin ?? "";
  const ctx: CliContext = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin: (async function* () {
      if (input.length > 0) yield Buffer.from(input);
    })(),
    env: { PATH: process.env.PATH, ...options.env },
    cwd: options.cwd ?? process.cwd(),
    interactive: options.interactive ?? false,
    exitCode: 0,
  };
  const code = await runCli(argv, ctx);
  return { code, stdout, stderr };
}

/** Runs `node services/cli/src/main.ts ...` as a person would. */
export function runChild(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return runScript(serviceMain("cli"), argv, {
    env: options.env ?? process.env,
    stdin: options.stdin,
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

export async function tempDir(prefix: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
