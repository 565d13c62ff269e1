import { type SignedRequest, type SignRequestOptions, signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { type Stack, type StackOptions, startStack } from "./stack.ts";

/** An agent approved for the suite's connections, and the admin calls that set those connections up. */

export function approvedAgent(
  stack: Stack,
  services: string[],
  namespace = "agent-security",
): SigilumIdentity {
  const agent = createIdentity(namespace);
  for (const service of services) stack.controlPlane.approve(service, agent.namespace, agent.publicKey);
  return agent;
}

/** A suite's usual start: the stack, its first replica's URL, and an agent approved there for `services`. */
export async function startGateway(
  services: string[],
  options: StackOptions = {},
): Promise<{ stack: Stack; gw: string; agent: SigilumIdentity }> {
  const stack = await startStack(options);
  return { stack, gw: stack.replicas[0]!.url, agent: approvedAgent(stack, services) };
}

/** Signs for `base + path` exactly as the SDK does. */
export function sign(
  agent: SigilumIdentity,
  base: string,
  path: string,
  opts: Omit<SignRequestOptions, "url"> = {},
): SignedRequest {
  return signRequest(agent, { url: `${base}${path}`, ...opts });
}

/** Creates a bearer connection to `baseUrl` with `secret`, as the CLI does (JSON body, no Origin). */
export async function createConnection(
  gateway: string,
  id: string,
  baseUrl: string,
  secret: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const response = await fetch(`${gateway}/api/admin/connections`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id, base_url: baseUrl, auth_secret_key: "k", secrets: { k: secret }, ...extra }),
  });
  if (response.status !== 201) throw new Error(`creating ${id}: ${response.status} ${await response.text()}`);
}
