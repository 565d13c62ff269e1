import { spawnSync } from "node:child_process";
import { listNamespaces } from "@sigilum-gw/shared/identity";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { stackAddresses } from "../core/addresses.ts";
import { dataDir, sigilumHome } from "../core/paths.ts";
import { type CliError, EXIT_FAILURE } from "../errors.ts";
import { localGatewayNamespace, readStackStateFor } from "../lib/namespace.ts";
import { emit } from "../output.ts";
import { requirePostgresServer } from "../stack/embedded-postgres.ts";
import { REDIS_SERVER } from "../stack/embedded-redis.ts";
import { probeHealth } from "../stack/health.ts";
import { canListen } from "../stack/ports.ts";
import { checkPostgresReachable } from "../stack/postgres-check.ts";
import { checkRedis, redactUrl } from "../stack/redis-check.ts";

/**
 * `sigilum doctor`: what a first run needs, checked one by one, each failing check with its fix. Exit 1 when any
 * check fails. Checks only: it starts, writes and changes nothing.
 */

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** Signatures older than this are refused (GATEWAY_SIGNATURE_MAX_AGE_SECONDS's order of magnitude). */
const MAX_SKEW_SECONDS = 30;

function nodeCheck(): Check {
  const major = Number(process.versions.node.split(".")[0]);
  return major >= 24
    ? { name: "node", ok: true, detail: process.version }
    : {
        name: "node",
        ok: false,
        detail: `${process.version} (24 or newer needed)`,
        fix: "npm install (it brings Node 24), then run through npm: npx sigilum ...",
      };
}

async function redisCheck(ctx: CliContext): Promise<Check> {
  const url = ctx.env.REDIS_URL?.trim();
  if (url) {
    const ping = await checkRedis(url);
    return ping.ok
      ? { name: "redis", ok: true, detail: `${redactUrl(url)} answers (REDIS_URL)` }
      : {
          name: "redis",
          ok: false,
          detail: `${redactUrl(url)}: ${ping.reason}`,
          fix: "Start that Redis, fix REDIS_URL, or unset it (the stack then runs its own redis-server)",
        };
  }
  const probe = spawnSync(REDIS_SERVER, ["--version"], { env: ctx.env, encoding: "utf8", timeout: 5000 });
  return probe.status === 0
    ? {
        name: "redis",
        ok: true,
        detail: `${REDIS_SERVER} ${/v=(\S+)/.exec(probe.stdout)?.[1] ?? ""} on PATH`,
      }
    : {
        name: "redis",
        ok: false,
        detail: `${REDIS_SERVER} is not on PATH (needed when REDIS_URL is unset)`,
        fix: "sudo apt-get install redis-server (Debian, Ubuntu) or brew install redis (macOS)",
      };
}

async function postgresCheck(ctx: CliContext): Promise<Check> {
  const url = ctx.env.DATABASE_URL?.trim();
  if (!url) {
    try {
      const binaries = requirePostgresServer(ctx.env);
      return {
        name: "postgresql",
        ok: true,
        detail: `${binaries.version} in ${binaries.dir} (the stack runs its own server)`,
      };
    } catch (error) {
      const { message, hint } = error as CliError;
      return { name: "postgresql", ok: false, detail: message, fix: hint };
    }
  }
  const reach = await checkPostgresReachable(url);
  return reach.ok
    ? { name: "postgresql", ok: true, detail: `${redactUrl(url)} accepts connections` }
    : {
        name: "postgresql",
        ok: false,
        detail: `${redactUrl(url)}: ${reach.reason}`,
        fix: "Start PostgreSQL, fix DATABASE_URL, or unset it to use the embedded database",
      };
}

async function portsCheck(ctx: CliContext, running: boolean): Promise<Check> {
  if (running) return { name: "ports", ok: true, detail: "in use by the running stack" };
  const addresses = Object.entries({
    GATEWAY_ADDR: stackAddresses(ctx.env).gateway,
    VERIFIER_ADDR: stackAddresses(ctx.env).verifier,
    USAGE_WORKER_ADDR: stackAddresses(ctx.env).usageWorker,
    CONTROL_PLANE_ADDR: stackAddresses(ctx.env).controlPlane,
  });
  const taken: string[] = [];
  for (const [variable, address] of addresses)
    if (!(await canListen(address))) taken.push(`${address.addr} (${variable})`);
  return taken.length === 0
    ? { name: "ports", ok: true, detail: addresses.map(([, a]) => a.addr).join(", ") + " free" }
    : {
        name: "ports",
        ok: false,
        detail: `in use: ${taken.join(", ")}`,
        fix: "Stop what uses them, or move the stack: <VARIABLE>=127.0.0.1:<port> sigilum up",
      };
}

async function identityCheck(ctx: CliContext): Promise<Check> {
  const gateway = await localGatewayNamespace(ctx);
  const agents = await listNamespaces(sigilumHome(ctx.env, ctx.cwd));
  if (!gateway)
    return { name: "identity", ok: true, detail: "no local gateway yet (`sigilum up` creates one)" };
  return agents.includes(gateway)
    ? { name: "identity", ok: true, detail: `agent identity in the gateway's namespace "${gateway}"` }
    : {
        name: "identity",
        ok: false,
        detail: `the gateway serves "${gateway}"; agent identities: ${agents.join(", ") || "none"}`,
        fix: `sigilum init   (creates the identity in "${gateway}")`,
      };
}

async function clockCheck(controlPlaneUrl: string | undefined): Promise<Check> {
  if (!controlPlaneUrl) return { name: "clock", ok: true, detail: "no control plane to compare with" };
  try {
    const response = await fetch(`${controlPlaneUrl}/health`, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    const date = Date.parse(response.headers.get("date") ?? "");
    if (Number.isNaN(date)) return { name: "clock", ok: true, detail: "the control plane sent no Date" };
    const skew = Math.round((Date.now() - date) / 1000);
    return Math.abs(skew) <= MAX_SKEW_SECONDS
      ? { name: "clock", ok: true, detail: `skew ${skew}s against the control plane` }
      : {
          name: "clock",
          ok: false,
          detail: `skew ${skew}s against the control plane (signatures older than ~${MAX_SKEW_SECONDS}s are refused)`,
          fix: "Synchronise the clock (e.g. timedatectl set-ntp true)",
        };
  } catch (error) {
    return { name: "clock", ok: true, detail: `not compared (${(error as Error).message})` };
  }
}

async function servicesCheck(ctx: CliContext): Promise<Check> {
  const state = await readStackStateFor(ctx);
  if (!state)
    return { name: "services", ok: true, detail: "the stack is not running (start it: sigilum up)" };
  const failing: string[] = [];
  for (const [name, service] of Object.entries(state.services))
    if (!(await probeHealth(service.health))) failing.push(`${name} (log: ${service.log})`);
  return failing.length === 0
    ? { name: "services", ok: true, detail: `${Object.keys(state.services).length} healthy` }
    : {
        name: "services",
        ok: false,
        detail: `not healthy: ${failing.join(", ")}`,
        fix: "Read the log named above; `sigilum status` shows restarts; start over with sigilum down && sigilum up",
      };
}

export async function runDoctor(ctx: CliContext): Promise<Check[]> {
  const state = await readStackStateFor(ctx);
  return [
    nodeCheck(),
    await redisCheck(ctx),
    await postgresCheck(ctx),
    await portsCheck(ctx, state !== undefined),
    await identityCheck(ctx),
    await clockCheck(state?.urls.control_plane),
    await servicesCheck(ctx),
  ];
}

export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  program
    .command("doctor")
    .description(
      "check Node, Redis, PostgreSQL, ports, identities, the clock and the stack; each failure with its fix",
    )
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const checks = await runDoctor(ctx);
      const ok = checks.every((c) => c.ok);
      emit(ctx, opts.json, { command: "doctor", ok, data_dir: dataDir(ctx.env, ctx.cwd), checks }, () => [
        ...checks.flatMap((c) => [
          `${c.ok ? "[ok]  " : "[fail]"} ${c.name.padEnd(10)} ${c.detail}`,
          ...(c.fix ? [`       fix: ${c.fix}`] : []),
        ]),
        ok ? "Everything looks right." : "Fix the failing checks above, then run `sigilum doctor` again.",
      ]);
      if (!ok) ctx.exitCode = EXIT_FAILURE;
    });
}
