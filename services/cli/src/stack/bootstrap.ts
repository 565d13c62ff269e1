import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import {
  initIdentity,
  isValidNamespace,
  listNamespaces,
  normalizeNamespace,
} from "@sigilum-gw/shared/identity";
import { ensurePrivateDir, loadOrCreateSecret } from "../core/files.ts";
import type { StackLayout } from "./layout.ts";

export interface StackSecrets {
  masterKey: string;
  internalSecret: string;
  adminToken: string;
  /** Names of the files created by this call (first run). */
  created: string[];
}

/** Generates, on first run, the gateway's master key, internal secret and admin token (0600 files). */
export async function ensureStackSecrets(layout: StackLayout): Promise<StackSecrets> {
  await ensurePrivateDir(layout.dataDir);
  await ensurePrivateDir(layout.secretsDir);
  const created: string[] = [];
  const load = async (path: string, bytes: number) => {
    const result = await loadOrCreateSecret(path, () => randomBytes(bytes).toString("base64url"));
    if (result.created) created.push(path);
    return result.value;
  };
  return {
    masterKey: await load(layout.masterKeyFile, 32),
    internalSecret: await load(layout.internalSecretFile, 48),
    adminToken: await load(layout.adminTokenFile, 32),
    created,
  };
}

function fromUserName(): string | undefined {
  try {
    const name = userInfo()
      .username.toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "");
    return isValidNamespace(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The namespace the gateway signs with. Claim submissions bind the signer's namespace to the agent's
 * (spec §A.4 with `X-Sigilum-Claim-Binding: namespace-only`), so the gateway must share its owner's namespace:
 * --namespace, else GATEWAY_SIGILUM_NAMESPACE, else SIGILUM_NAMESPACE, else the gateway's existing identity,
 * else the only agent identity, else the login name, else "local-owner".
 */
export async function resolveGatewayNamespace(options: {
  flag?: string;
  env: NodeJS.ProcessEnv;
  gatewayHome: string;
  agentHome: string;
}): Promise<string> {
  const explicit =
    options.flag || options.env.GATEWAY_SIGILUM_NAMESPACE?.trim() || options.env.SIGILUM_NAMESPACE?.trim();
  if (explicit) return normalizeNamespace(explicit);
  const existing = await listNamespaces(options.gatewayHome);
  if (existing.length === 1) return existing[0] as string;
  const agents = await listNamespaces(options.agentHome);
  if (agents.length === 1) return agents[0] as string;
  return fromUserName() ?? "local-owner";
}

/** Creates the gateway's own Sigilum identity on first run (in the gateway home, not the agent's). */
export async function ensureGatewayIdentity(gatewayHome: string, namespace: string) {
  await ensurePrivateDir(gatewayHome);
  return initIdentity({ namespace, homeDir: gatewayHome });
}
