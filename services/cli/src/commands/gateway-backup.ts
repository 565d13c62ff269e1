import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import { resolveEndpoints } from "../lib/endpoints.ts";
import { GatewayAdmin } from "../lib/gateway-admin.ts";
import { emit, success } from "../output.ts";
import { gatewayCommand } from "./gateway.ts";

/**
 * `sigilum gateway backup | restore`: the gateway's connections and shared credential variables, exported with
 * their secrets still sealed under GATEWAY_MASTER_KEY (the file is useless without that key), and written back
 * after Redis lost them. Restoring needs the same master key; a backup from another key is refused whole.
 */

interface Options {
  gatewayAdminUrl?: string;
  json?: boolean;
}

const countsSchema = z.object({ restored: z.number(), skipped: z.number() });
const restoreAnswer = z.object({ connections: countsSchema, variables: countsSchema });
const backupSummary = z
  .object({ connections: z.array(z.unknown()), variables: z.array(z.unknown()) })
  .loose();

async function backup(ctx: CliContext, file: string, opts: Options & { force?: boolean }): Promise<void> {
  const admin = await GatewayAdmin.open(ctx, await resolveEndpoints(ctx, { adminUrl: opts.gatewayAdminUrl }));
  const body = await admin.client.call({ method: "GET", path: "/api/admin/backup" }, "Exporting the gateway");
  const parsed = backupSummary.safeParse(body);
  if (!parsed.success) throw new CliError("The gateway admin API answered an unexpected backup document");
  const path = resolve(ctx.cwd, file);
  try {
    await writeFile(path, `${JSON.stringify(body, null, 2)}\n`, {
      mode: 0o600,
      flag: opts.force ? "w" : "wx",
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new CliError(`${path} already exists`, {
        hint: "Choose another file, or pass --force to overwrite it.",
      });
    }
    throw new CliError(`Cannot write ${path}: ${(error as Error).message}`);
  }
  const result = {
    file: path,
    connections: parsed.data.connections.length,
    variables: parsed.data.variables.length,
  };
  emit(ctx, opts.json, result, () => [
    `${result.connections} connection(s) and ${result.variables} variable(s) written to ${path} (mode 0600).`,
    "Secrets stay sealed under GATEWAY_MASTER_KEY: keep that key; the file cannot be restored without it.",
  ]);
}

async function restore(ctx: CliContext, file: string, opts: Options & { replace?: boolean }): Promise<void> {
  const path = resolve(ctx.cwd, file);
  let document: unknown;
  try {
    document = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new CliError(`Cannot read a backup from ${path}: ${(error as Error).message}`);
  }
  const admin = await GatewayAdmin.open(ctx, await resolveEndpoints(ctx, { adminUrl: opts.gatewayAdminUrl }));
  const answer = await admin.client.call(
    { method: "POST", path: `/api/admin/restore${opts.replace ? "?replace=true" : ""}`, body: document },
    "Restoring the gateway",
  );
  const parsed = restoreAnswer.safeParse(answer);
  if (!parsed.success) throw new CliError("The gateway admin API answered an unexpected restore result");
  const { connections, variables } = parsed.data;
  emit(ctx, opts.json, parsed.data, () => [
    `connections: ${connections.restored} restored, ${connections.skipped} kept as they were`,
    `variables:   ${variables.restored} restored, ${variables.skipped} kept as they were`,
  ]);
  if (!opts.json) success(ctx, "restore finished");
}

export function registerGatewayBackupCommands(program: Command, ctx: CliContext): void {
  const gateway = gatewayCommand(program);
  gateway
    .command("backup")
    .description("export connections and credential variables (secrets stay sealed under the master key)")
    .argument("<file>", "where to write the backup (created with mode 0600)")
    .option("--force", "overwrite the file if it exists")
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--json", "print JSON")
    .action((file: string, opts) => backup(ctx, file, opts));
  gateway
    .command("restore")
    .description("write a backup's connections and variables back (needs the same GATEWAY_MASTER_KEY)")
    .argument("<file>", "a file written by `sigilum gateway backup`")
    .option("--replace", "overwrite connections and variables that exist (default: keep them)")
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--json", "print JSON")
    .action((file: string, opts) => restore(ctx, file, opts));
}
