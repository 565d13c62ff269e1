import {
  IdentityError,
  InvalidNamespaceError,
  initIdentity,
  listNamespaces,
} from "@sigilum-gw/shared/identity";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { sigilumHome } from "../core/paths.ts";
import { CliError } from "../errors.ts";
import { localGatewayNamespace } from "../lib/namespace.ts";
import { emit, warn } from "../output.ts";

/** `sigilum init` and `sigilum list`: agent identities in the Sigilum file format (spec §D.1, §D.8). */

export function identityError(error: unknown): never {
  if (error instanceof InvalidNamespaceError || error instanceof IdentityError)
    throw new CliError(error.message);
  throw error;
}

export function registerIdentityCommands(program: Command, ctx: CliContext): void {
  program
    .command("init")
    .description("create (or load) the agent identity for a namespace")
    .argument("[namespace]", "lowercase namespace, 3-64 chars of a-z 0-9 - (default: the local gateway's)")
    .option("--force", "replace an existing identity with a new key")
    .option("--home <path>", "Sigilum home (default $SIGILUM_HOME or ~/.sigilum)")
    .option("--json", "print JSON")
    .action(async (given: string | undefined, opts: { force?: boolean; home?: string; json?: boolean }) => {
      const gatewayNamespace = await localGatewayNamespace(ctx);
      const namespace = given ?? gatewayNamespace;
      if (!namespace) {
        throw new CliError("No namespace given, and there is no local gateway to take it from", {
          hint: "Start the gateway first (`sigilum up`), then `sigilum init`; or name one: sigilum init <namespace>",
        });
      }
      const homeDir = sigilumHome(ctx.env, ctx.cwd, opts.home);
      const result = await initIdentity({ namespace, homeDir, force: opts.force === true }).catch(
        identityError,
      );
      emit(
        ctx,
        opts.json,
        {
          command: "init",
          created: result.created,
          namespace: result.namespace,
          did: result.did,
          keyId: result.keyId,
          publicKey: result.publicKey,
          identityPath: result.identityPath,
        },
        () => [
          result.created ? "Created Sigilum identity" : "Loaded existing Sigilum identity",
          `namespace: ${result.namespace}`,
          `did: ${result.did}`,
          `keyId: ${result.keyId}`,
          `publicKey: ${result.publicKey}`,
          `identityPath: ${result.identityPath}`,
        ],
      );
      if (gatewayNamespace && gatewayNamespace !== result.namespace) {
        warn(
          ctx,
          `WARNING: the local gateway serves namespace "${gatewayNamespace}", not "${result.namespace}". ` +
            `Requests signed as "${result.namespace}" can never be approved on it. ` +
            `For this gateway: sigilum init   (= sigilum init ${gatewayNamespace}). ` +
            `For a gateway in "${result.namespace}": sigilum down && sigilum up --namespace ${result.namespace}`,
        );
      }
    });

  program
    .command("list")
    .description("list the agent identities in the Sigilum home")
    .option("--home <path>", "Sigilum home (default $SIGILUM_HOME or ~/.sigilum)")
    .option("--json", "print JSON")
    .action(async (opts: { home?: string; json?: boolean }) => {
      const namespaces = await listNamespaces(sigilumHome(ctx.env, ctx.cwd, opts.home));
      emit(
        ctx,
        opts.json,
        { command: "list", homeDir: opts.home ?? null, count: namespaces.length, namespaces },
        () => (namespaces.length === 0 ? ["No identities found."] : namespaces),
      );
    });
}
