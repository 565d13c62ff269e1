import { join, resolve } from "node:path";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import type { CliContext } from "../context.ts";
import { readTrimmed, writeSecretFile } from "../core/files.ts";
import { ownerTokenFile } from "../core/paths.ts";
import { CliError } from "../errors.ts";
import { note } from "../output.ts";
import { type Endpoints, resolveEndpoints } from "./endpoints.ts";
import { ApiCallError, JsonClient } from "./http.ts";
import { resolveOwnerNamespace } from "./namespace.ts";
import { isExpired, isWellFormedJwt, readTokenClaims } from "./owner-token.ts";

/**
 * The namespace owner's session for commands that call the control plane (service, approvals): which namespace,
 * which token, which API. In a checkout running the local stack, a missing or expired token is issued locally
 * (oss-local mode) so a newcomer never has to log in first.
 */

export interface OwnerSession {
  namespace: string;
  token: string;
  endpoints: Endpoints;
  api: JsonClient;
}

export interface OwnerSessionFlags {
  namespace?: string;
  apiUrl?: string;
  token?: string;
  tokenFile?: string;
  gatewayUrl?: string;
  adminUrl?: string;
}

/** JWT_SECRET, else the file JWT_SECRET_FILE names, else the secret the local control plane generated. */
export async function localJwtSecret(ctx: CliContext, endpoints: Endpoints): Promise<string | undefined> {
  const configured = ctx.env.JWT_SECRET?.trim();
  if (configured) return configured;
  const file = ctx.env.JWT_SECRET_FILE?.trim();
  if (file) return readTrimmed(file);
  return readTrimmed(join(endpoints.layout.controlPlaneDataDir, "jwt-secret"));
}

export function controlPlaneClient(endpoints: Endpoints, token?: string): JsonClient {
  return new JsonClient({
    baseUrl: endpoints.controlPlaneUrl,
    what: "the control plane",
    unreachableHint: "Start the local stack with `sigilum up`, or pass --api-url / set SIGILUM_API_URL.",
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

export function tokenFilePath(ctx: CliContext, namespace: string, flag?: string): string {
  return flag ? resolve(ctx.cwd, flag) : ownerTokenFile(ctx.env, ctx.cwd, namespace);
}

export async function openOwnerSession(ctx: CliContext, flags: OwnerSessionFlags): Promise<OwnerSession> {
  const endpoints = await resolveEndpoints(ctx, flags);
  const namespace = await resolveOwnerNamespace(ctx, flags.namespace);
  const explicit = flags.token?.trim() || ctx.env.SIGILUM_OWNER_TOKEN?.trim();
  let token = explicit;
  if (!token) {
    const path = tokenFilePath(ctx, namespace, flags.tokenFile);
    const stored = await readTrimmed(path);
    const usable =
      stored && isWellFormedJwt(stored) && !isExpired(readTokenClaims(stored)) ? stored : undefined;
    if (usable) token = usable;
    else {
      const secret = await localJwtSecret(ctx, endpoints);
      if (!secret) {
        throw new CliError(
          `No namespace-owner token for "${namespace}"${stored ? " (the stored one has expired)" : ""}`,
          {
            hint: `Run \`sigilum auth login --namespace ${namespace}\` (managed mode: --mode managed --token-stdin).`,
          },
        );
      }
      token = await mintOwnerToken({ namespace, secret });
      await writeSecretFile(path, token);
      note(ctx, `issued a local namespace-owner token for "${namespace}" (stored in ${path})`);
    }
  }
  if (!isWellFormedJwt(token)) throw new CliError("The namespace-owner token is not a JWT");
  return { namespace, token, endpoints, api: controlPlaneClient(endpoints, token) };
}

/** Turns the control plane's auth failures into what to do next. */
export function explainApiError(error: unknown, session: Pick<OwnerSession, "namespace">): never {
  if (error instanceof ApiCallError) {
    if (error.status === 401) {
      throw new CliError(error.message, {
        hint:
          `The owner token for "${session.namespace}" was refused (expired, or issued for another control plane).\n` +
          `Run \`sigilum auth refresh --namespace ${session.namespace}\`.`,
      });
    }
    if (error.status === 403) {
      throw new CliError(error.message, {
        hint: `The token belongs to another namespace than "${session.namespace}"; check --namespace.`,
      });
    }
    throw new CliError(error.message);
  }
  throw error;
}
