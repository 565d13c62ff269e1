import type { CliContext } from "../context.ts";
import { ADDRESS_DEFAULTS, localUrl, parseListenAddress } from "../core/addresses.ts";
import { readTrimmed } from "../core/files.ts";
import { dataDir } from "../core/paths.ts";
import { type StackLayout, stackLayout } from "../stack/layout.ts";
import { readStackState, type StackState } from "../stack/state.ts";

/**
 * Where the CLI finds the services: an explicit flag, else the variable, else the local stack started by
 * `sigilum up` (its recorded addresses), else the default local ports.
 */
export interface Endpoints {
  layout: StackLayout;
  state: StackState | undefined;
  controlPlaneUrl: string;
  gatewayUrl: string;
  adminUrl: string;
}

const trimSlash = (url: string) => url.replace(/\/+$/, "");

export async function resolveEndpoints(
  ctx: CliContext,
  flags: { apiUrl?: string; gatewayUrl?: string; adminUrl?: string } = {},
): Promise<Endpoints> {
  const layout = stackLayout(dataDir(ctx.env, ctx.cwd));
  const state = await readStackState(layout);
  const fromAddr = (name: keyof typeof ADDRESS_DEFAULTS) =>
    localUrl(parseListenAddress(name, ctx.env[name]?.trim() || ADDRESS_DEFAULTS[name]));
  const controlPlaneUrl =
    flags.apiUrl || ctx.env.SIGILUM_API_URL || state?.urls.control_plane || fromAddr("CONTROL_PLANE_ADDR");
  const gatewayUrl =
    flags.gatewayUrl || ctx.env.SIGILUM_GATEWAY_URL || state?.urls.gateway || fromAddr("GATEWAY_ADDR");
  // In inline mode (the local stack) the proxy serves the admin API on the gateway address.
  const adminUrl = flags.adminUrl || ctx.env.GATEWAY_ADMIN_URL || state?.urls.admin || gatewayUrl;
  return {
    layout,
    state,
    controlPlaneUrl: trimSlash(controlPlaneUrl),
    gatewayUrl: trimSlash(gatewayUrl),
    adminUrl: trimSlash(adminUrl),
  };
}

/** The admin token: GATEWAY_ADMIN_TOKEN, else the file GATEWAY_ADMIN_TOKEN_FILE names, else the one `sigilum up` generated. */
export async function adminToken(ctx: CliContext, layout: StackLayout): Promise<string | undefined> {
  const file = ctx.env.GATEWAY_ADMIN_TOKEN_FILE?.trim();
  return (
    ctx.env.GATEWAY_ADMIN_TOKEN?.trim() ||
    (file ? await readTrimmed(file) : undefined) ||
    (await readTrimmed(layout.adminTokenFile))
  );
}
