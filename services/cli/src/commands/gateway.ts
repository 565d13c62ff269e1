import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import { adminToken, resolveEndpoints } from "../lib/endpoints.ts";
import { GatewayAdmin } from "../lib/gateway-admin.ts";
import {
  bridgeEnv,
  bridgeFiles,
  endedTerminal,
  runForeground,
  runningPid,
  STALE_HINT,
  startDaemon,
  stopDaemon,
} from "../lib/pair-bridge.ts";
import { readSecret } from "../lib/secret-input.ts";
import { emit, keyValues, table } from "../output.ts";
import { SECRET_FLAGS, secretSources, withSecretOptions } from "./service/common.ts";

/**
 * `sigilum gateway pair | status | connections …`: the gateway host's side. `pair` runs the pairing bridge
 * (foreground, or `--daemon` / `--status` / `--stop`, spec §B.6–B.7); `connections` are the spec's gateway-cli
 * verbs over the local admin API.
 */

interface PairFlags {
  sessionId?: string;
  pairCode?: string;
  namespace?: string;
  apiUrl?: string;
  gatewayAdminUrl?: string;
  daemon?: boolean;
  status?: boolean;
  stop?: boolean;
  json?: boolean;
}

async function pair(ctx: CliContext, opts: PairFlags): Promise<void> {
  const modes = [opts.daemon, opts.status, opts.stop].filter(Boolean).length;
  if (modes > 1) throw new CliError("Use only one of --daemon, --status, --stop");
  const endpoints = await resolveEndpoints(ctx, { apiUrl: opts.apiUrl, adminUrl: opts.gatewayAdminUrl });
  const files = bridgeFiles(endpoints.layout);
  if (opts.status) return pairStatus(ctx, opts, files);
  if (opts.stop) {
    const pid = await stopDaemon(endpoints.layout);
    emit(ctx, opts.json, { stopped: pid !== undefined, pid: pid ?? null }, () => [
      pid === undefined ? "Gateway pair bridge is not running." : `Stopped gateway pair bridge (pid=${pid}).`,
    ]);
    return;
  }
  if (!opts.sessionId || !opts.pairCode) {
    throw new CliError("--session-id and --pair-code are required", {
      hint: "Get them with `sigilum pairing start` (or from the dashboard's pairing screen).",
    });
  }
  const args = [
    "--session-id",
    opts.sessionId,
    "--pair-code",
    opts.pairCode,
    "--api-url",
    endpoints.controlPlaneUrl,
    "--gateway-admin-url",
    endpoints.adminUrl,
    ...(opts.namespace ? ["--namespace", opts.namespace] : []),
  ];
  const env = bridgeEnv(ctx, await adminToken(ctx, endpoints.layout));
  if (!opts.daemon) {
    ctx.exitCode = await runForeground(args, env);
    return;
  }
  const { pid, connected } = await startDaemon(endpoints.layout, args, env);
  const value = { started: true, connected, pid, pid_file: files.pidFile, log_file: files.logFile };
  emit(ctx, opts.json, value, () => [
    "Gateway pair bridge started in background.",
    ...keyValues(
      [
        ["pid", pid],
        ["pid_file", files.pidFile],
        ["log_file", files.logFile],
      ],
      9,
    ),
    ...(connected ? [] : ["  (still connecting to the control plane; see the log file)"]),
  ]);
}

async function pairStatus(
  ctx: CliContext,
  opts: PairFlags,
  files: ReturnType<typeof bridgeFiles>,
): Promise<void> {
  const pid = await runningPid(files);
  const terminal = pid === undefined && (await endedTerminal(files));
  emit(
    ctx,
    opts.json,
    {
      running: pid !== undefined,
      pid: pid ?? null,
      terminal,
      pid_file: files.pidFile,
      log_file: files.logFile,
    },
    () =>
      pid !== undefined
        ? [
            `Gateway pair bridge is running (pid=${pid}).`,
            ...keyValues(
              [
                ["pid_file", files.pidFile],
                ["log_file", files.logFile],
              ],
              9,
            ),
          ]
        : terminal
          ? []
          : ["Gateway pair bridge is not running."],
  );
  if (terminal && !opts.json) ctx.stderr.write(`${STALE_HINT}\n`);
  if (pid === undefined) ctx.exitCode = 1;
}

interface AdminFlags {
  gatewayAdminUrl?: string;
  json?: boolean;
}

async function openAdmin(ctx: CliContext, opts: AdminFlags): Promise<GatewayAdmin> {
  return GatewayAdmin.open(ctx, await resolveEndpoints(ctx, { adminUrl: opts.gatewayAdminUrl }));
}

async function status(ctx: CliContext, opts: AdminFlags): Promise<void> {
  const endpoints = await resolveEndpoints(ctx, { adminUrl: opts.gatewayAdminUrl });
  const admin = await GatewayAdmin.open(ctx, endpoints);
  const healthy = await admin.healthy();
  const connections = healthy ? await admin.list() : [];
  const pid = await runningPid(bridgeFiles(endpoints.layout));
  const summary = {
    gateway_admin_url: endpoints.adminUrl,
    healthy,
    connections: connections.length,
    pair_bridge: { running: pid !== undefined, pid: pid ?? null },
  };
  emit(ctx, opts.json, summary, () =>
    keyValues([
      ["gateway_admin", endpoints.adminUrl],
      ["health", healthy ? "ok" : "unreachable or unhealthy"],
      ["connections", connections.length],
      ["pair_bridge", pid === undefined ? "not running" : `running (pid=${pid})`],
    ]),
  );
  if (!healthy) ctx.exitCode = 1;
}

type AddFlags = AdminFlags & {
  id: string;
  name?: string;
  baseUrl: string;
  authMode: "bearer" | "header_key" | "query_param";
  headerName?: string;
  prefix?: string;
  secretKey: string;
  upstreamSecret?: string;
  upstreamSecretEnv?: string;
  upstreamSecretFile?: string;
  upstreamSecretStdin?: boolean;
};

async function add(ctx: CliContext, opts: AddFlags): Promise<void> {
  if (!["bearer", "header_key", "query_param"].includes(opts.authMode)) {
    throw new CliError("--auth-mode must be bearer, header_key or query_param");
  }
  const secret = await readSecret(ctx, secretSources(opts), {
    label: "Upstream secret",
    flags: SECRET_FLAGS,
  });
  const admin = await openAdmin(ctx, opts);
  const created = await admin.create({
    id: opts.id,
    name: opts.name ?? opts.id,
    base_url: opts.baseUrl,
    auth_mode: opts.authMode,
    auth_header_name: opts.headerName ?? (opts.authMode === "query_param" ? "api_key" : "Authorization"),
    auth_prefix: opts.prefix ?? (opts.authMode === "bearer" ? "Bearer " : ""),
    auth_secret_key: opts.secretKey,
    secrets: { [opts.secretKey]: secret },
  });
  emit(ctx, opts.json, created, () => [`Created gateway connection ${created.id}.`]);
}

/** The `gateway` command: this file and backup/restore both add to it, so it is registered once, by whichever comes first. */
export function gatewayCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === "gateway") ??
    program.command("gateway").description("the gateway host: pairing bridge, status, connections, backup")
  );
}

export function registerGatewayCommands(program: Command, ctx: CliContext): void {
  const gateway = gatewayCommand(program);
  gateway
    .command("pair")
    .description("run the pairing bridge: relay the owner's admin commands to this gateway")
    .option("--session-id <id>", "pairing session id (from `sigilum pairing start`)")
    .option("--pair-code <code>", "one-time pair code")
    .option("--namespace <namespace>", "checked against the session's namespace")
    .option("--api-url <url>", "control plane URL (default: $SIGILUM_API_URL or the local stack)")
    .option("--gateway-admin-url <url>", "proxy admin API (default: $GATEWAY_ADMIN_URL or the local stack)")
    .option("--daemon", "run in the background (pid and log files under the data directory)")
    .option("--status", "is the background bridge running?")
    .option("--stop", "stop the background bridge")
    .option("--json", "print JSON")
    .action((opts: PairFlags) => pair(ctx, opts));
  gateway
    .command("status")
    .description("the gateway's health, its connections and the pairing bridge")
    .option("--gateway-admin-url <url>", "proxy admin API")
    .option("--json", "print JSON")
    .action((opts: AdminFlags) => status(ctx, opts));

  const connections = gateway.command("connections").description("gateway connections (admin API)");
  const withAdmin = (c: Command) =>
    c.option("--gateway-admin-url <url>", "proxy admin API").option("--json", "print JSON");
  withAdmin(connections.command("list").description("list connections (never their secrets)")).action(
    async (opts: AdminFlags) => {
      const list = await (await openAdmin(ctx, opts)).list();
      emit(ctx, opts.json, { connections: list }, () =>
        table(
          ["ID", "BASE URL", "AUTH", "STATUS", "VERSION"],
          list.map((c) => [
            c.id,
            c.base_url ?? "",
            c.auth_mode ?? "",
            c.status ?? "",
            String(c.secret_version ?? ""),
          ]),
        ),
      );
    },
  );
  withAdmin(
    withSecretOptions(
      connections
        .command("add")
        .description("create a connection; its secret comes from stdin, a file, a variable or a prompt")
        .requiredOption("--id <id>", "connection id (3-64 of a-z, 0-9, -)")
        .requiredOption("--base-url <url>", "upstream base URL")
        .option("--name <name>", "display name")
        .option("--auth-mode <mode>", "bearer | header_key | query_param", "bearer")
        .option("--header-name <name>", "credential header (or query parameter) name")
        .option("--prefix <prefix>", "credential prefix (default `Bearer ` for bearer)")
        .option("--secret-key <key>", "name of the secret in the connection", "api_key"),
    ),
  ).action((opts: AddFlags) => add(ctx, opts));
  withAdmin(connections.command("test <id>").description("test a connection against its upstream")).action(
    async (id: string, opts: AdminFlags) => {
      const result = await (await openAdmin(ctx, opts)).test(id);
      emit(ctx, opts.json, result, () => [
        `${result.status === "pass" ? "pass" : "fail"} (HTTP ${result.http_status})${result.error ? `: ${result.error}` : ""}`,
      ]);
      if (result.status !== "pass") ctx.exitCode = 1;
    },
  );
  withAdmin(
    withSecretOptions(
      connections
        .command("rotate <id>")
        .description("replace a connection's secret (new version)")
        .option("--secret-key <key>", "name of the secret to replace (default: the connection's)")
        .option("--reason <text>", "rotation reason", "rotated with sigilum gateway connections rotate"),
    ),
  ).action(async (id: string, opts: AddFlags & { reason: string; secretKey?: string }) => {
    const admin = await openAdmin(ctx, opts);
    const current = await admin.get(id);
    if (!current) throw new CliError(`No gateway connection "${id}"`);
    const key = opts.secretKey ?? current.auth_secret_key;
    if (!key) throw new CliError("The connection has no auth secret key: pass --secret-key");
    const secret = await readSecret(ctx, secretSources(opts), {
      label: "Upstream secret",
      flags: SECRET_FLAGS,
    });
    const rotated = await admin.rotate(id, { [key]: secret }, opts.reason);
    emit(ctx, opts.json, rotated, () => [`Rotated ${id} (secret version ${rotated.secret_version}).`]);
  });
  withAdmin(connections.command("remove <id>").description("delete a connection")).action(
    async (id: string, opts: AdminFlags) => {
      const admin = await openAdmin(ctx, opts);
      if (!(await admin.get(id))) throw new CliError(`No gateway connection "${id}"`);
      await admin.remove(id);
      emit(ctx, opts.json, { deleted: true, id }, () => [`Removed gateway connection ${id}.`]);
    },
  );
}
