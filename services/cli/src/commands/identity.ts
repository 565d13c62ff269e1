import {
  IdentityError,
  InvalidNamespaceError,
  initIdentity,
  listNamespaces,
} from "@sigilum-gw/shared/identity";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import { readStackStateFor } from "../lib/namespace.ts";
import { sigilumHome } from "../lib/paths.ts";
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
    .argument("[namespace]", "lowercase namespace, 3-64 chars of a-z 0-9 -")
    .option("--force", "replace an existing identity with a new key")
    .option("--home <path>", "Sigilum home (default $SIGILUM_HOME or ~/.sigilum)")
    .option("--json", "print JSON")
    .action(
      async (namespace: string | undefined, opts: { force?: boolean; home?: string; json?: boolean }) => {
        if (!namespace) throw new CliError("Usage: sigilum init <namespace> [--force] [--home <path>]");
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
        const state = await readStackStateFor(ctx);
        if (state && state.gateway_namespace !== result.namespace) {
          warn(
            ctx,
            `The local gateway signs access requests as namespace "${state.gateway_namespace}"; requests from ` +
              `"${result.namespace}" cannot be registered for approval. To use "${result.namespace}": ` +
              `sigilum down && SIGILUM_NAMESPACE=${result.namespace} sigilum up`,
          );
        }
      },
    );

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
