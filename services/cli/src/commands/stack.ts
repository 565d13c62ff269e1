import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { stackAddresses } from "../core/addresses.ts";
import { dataDir } from "../core/paths.ts";
import { stackLayout } from "../stack/layout.ts";
import { prepareStack, stackRedisOf } from "../stack/prepare.ts";
import { down } from "./stack/down.ts";
import { status } from "./stack/status.ts";
import {
  alreadyRunning,
  finishPreparation,
  preflight,
  supervise,
  upBackground,
  upForeground,
} from "./stack/up.ts";

/** `sigilum up | down | status`: the local stack as processes on this machine (DESIGN.md §1, "Local, no Docker"). */

export function registerStackCommands(program: Command, ctx: CliContext): void {
  program
    .command("up")
    .description("start the local stack: control plane, verifier and gateway (proxy in inline mode)")
    .option("--foreground", "keep the services attached to this terminal; Ctrl-C stops them")
    .option(
      "--namespace <namespace>",
      "the gateway's namespace (default: $SIGILUM_NAMESPACE or the only identity)",
    )
    .option("--json", "print JSON")
    .action(async (opts: { foreground?: boolean; namespace?: string; json?: boolean }) => {
      const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
      if (await alreadyRunning(ctx, layout, opts.json)) return;
      // Checks first: a failed `up` leaves nothing behind.
      await preflight(ctx.env, {
        redis: await stackRedisOf(ctx.env, layout.dataDir),
        databaseUrl: ctx.env.DATABASE_URL?.trim() || undefined,
        addresses: stackAddresses(ctx.env),
      });
      const prepared = await prepareStack(ctx, { namespace: opts.namespace });
      await finishPreparation(ctx, prepared);
      if (opts.foreground) await upForeground(ctx, prepared, opts.json);
      else await upBackground(ctx, prepared, opts.json);
    });

  program
    .command("down")
    .description("stop the local stack (SIGTERM, then SIGKILL after SIGILUM_STOP_TIMEOUT_SECONDS)")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => down(ctx, opts.json));

  program
    .command("status")
    .description("show whether the local stack runs and is healthy (exit 1 when not)")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => status(ctx, opts.json));

  program.command("__supervise", { hidden: true }).action(() => supervise(ctx));
}
