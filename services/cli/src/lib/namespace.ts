import { resolve } from "node:path";
import { InvalidNamespaceError, listNamespaces, normalizeNamespace } from "@sigilum-gw/shared/identity";
import type { CliContext } from "../context.ts";
import { dataDir, sigilumHome } from "../core/paths.ts";
import { CliError } from "../errors.ts";
import { stackLayout } from "../stack/layout.ts";
import { readStackState, type StackState } from "../stack/state.ts";

export async function readStackStateFor(ctx: CliContext): Promise<StackState | undefined> {
  return readStackState(stackLayout(dataDir(ctx.env, ctx.cwd)));
}

/**
 * The local gateway's namespace: the running stack's, else that of the gateway identity in the data directory
 * (created by the first `up`); undefined when there is no local gateway yet.
 */
export async function localGatewayNamespace(ctx: CliContext): Promise<string | undefined> {
  const state = await readStackStateFor(ctx);
  if (state) return state.gateway_namespace;
  const identities = await listNamespaces(stackLayout(dataDir(ctx.env, ctx.cwd)).gatewayHome);
  return identities.length === 1 ? identities[0] : undefined;
}

function validNamespace(value: string, source: string): string {
  try {
    return normalizeNamespace(value);
  } catch (error) {
    if (error instanceof InvalidNamespaceError) throw new CliError(`${source}: ${error.message}`);
    throw error;
  }
}

/**
 * The namespace an owner command acts for: --namespace, else SIGILUM_NAMESPACE, else GATEWAY_SIGILUM_NAMESPACE,
 * else the only agent identity in the Sigilum home, else the only identity in GATEWAY_SIGILUM_HOME, else the
 * local gateway's namespace.
 */
export async function resolveOwnerNamespace(ctx: CliContext, flag?: string, home?: string): Promise<string> {
  if (flag) return validNamespace(flag, "--namespace");
  for (const name of ["SIGILUM_NAMESPACE", "GATEWAY_SIGILUM_NAMESPACE"] as const) {
    const value = ctx.env[name]?.trim();
    if (value) return validNamespace(value, name);
  }
  const identities = await listNamespaces(sigilumHome(ctx.env, ctx.cwd, home));
  if (identities.length === 1) return identities[0] as string;
  // In the gateway's CLI container (compose, the Helm chart's CLI pod): the gateway signs as its owner's namespace.
  const gatewayHome = ctx.env.GATEWAY_SIGILUM_HOME?.trim();
  const gateway = gatewayHome ? await listNamespaces(resolve(ctx.cwd, gatewayHome)) : [];
  if (identities.length === 0 && gateway.length === 1) return gateway[0] as string;
  const state = await readStackStateFor(ctx);
  if (state) return state.gateway_namespace;
  throw new CliError(
    identities.length > 1
      ? `Several identities exist (${identities.join(", ")}); which namespace?`
      : "No namespace given",
    { hint: "Pass --namespace <namespace> or set SIGILUM_NAMESPACE" },
  );
}
