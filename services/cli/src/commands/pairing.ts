import type { Command } from "commander";
import { z } from "zod";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import { explainApiError, openOwnerSession } from "../lib/owner-session.ts";
import { emit, keyValues } from "../output.ts";

/**
 * `sigilum pairing start`: the owner's side of gateway pairing (spec §B.1). Prints the session id and pair code to
 * give to the gateway host (`sigilum gateway pair …`); the code is shown only this once.
 */

const startedSchema = z.object({
  session_id: z.string(),
  namespace: z.string(),
  pair_code: z.string(),
  expires_at: z.string(),
  ws_url: z.string(),
});

interface StartFlags {
  namespace?: string;
  apiUrl?: string;
  token?: string;
  ttl?: string;
  json?: boolean;
}

async function start(ctx: CliContext, opts: StartFlags): Promise<void> {
  const ttl = opts.ttl === undefined ? undefined : Number(opts.ttl);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 30 || ttl > 3600)) {
    throw new CliError("--ttl must be a whole number of seconds from 30 to 3600");
  }
  const session = await openOwnerSession(ctx, opts);
  const body = await session.api
    .call(
      {
        method: "POST",
        path: "/v1/gateway/pairing/start",
        body: ttl === undefined ? {} : { ttl_seconds: ttl },
      },
      "Starting a pairing session",
    )
    .catch((e) => explainApiError(e, session));
  const parsed = startedSchema.safeParse(body);
  if (!parsed.success) throw new CliError("The control plane answered an unexpected pairing session");
  const started = parsed.data;
  const command =
    `sigilum gateway pair --session-id ${started.session_id} --pair-code ${started.pair_code} ` +
    `--namespace ${started.namespace} --api-url ${session.endpoints.controlPlaneUrl} --daemon`;
  emit(ctx, opts.json, { ...started, gateway_command: command }, () => [
    "Pairing session started.",
    ...keyValues([
      ["session_id", started.session_id],
      ["namespace", started.namespace],
      ["pair_code", started.pair_code],
      ["expires_at", started.expires_at],
    ]),
    "On the gateway host, run:",
    `  ${command}`,
  ]);
}

export function registerPairingCommands(program: Command, ctx: CliContext): void {
  const pairing = program
    .command("pairing")
    .description("pair a gateway with the control plane (owner side)");
  pairing
    .command("start")
    .description("start a pairing session and print its one-time pair code")
    .option("--ttl <seconds>", "session lifetime before a gateway connects (30-3600, default 600)")
    .option("--namespace <namespace>", "owner namespace (default: $SIGILUM_NAMESPACE or the only identity)")
    .option("--api-url <url>", "control plane URL (default: the local stack)")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON")
    .action((opts: StartFlags) => start(ctx, opts));
}
