import { join } from "node:path";
import { REPO_ROOT } from "../lib/paths.ts";
import { localUrl, type StackAddresses } from "./addresses.ts";
import type { StackLayout } from "./layout.ts";

export const STACK_SERVICES = ["control-plane", "verifier", "proxy", "usage-worker"] as const;
export type StackService = (typeof STACK_SERVICES)[number];

export interface ServicePlan {
  name: StackService;
  /** `node <entry>` */
  entry: string;
  /** Only what this service needs on top of the inherited environment. */
  env: Record<string, string>;
  addr: string;
  url: string;
}

export interface StackPlanInput {
  layout: StackLayout;
  addresses: StackAddresses;
  gatewayNamespace: string;
  redisUrl: string;
}

/** Each service's entry point, relative to the repository (also how `down`/`status` recognise its process). */
export function entryPathOf(service: StackService): string {
  return service === "usage-worker"
    ? join("services", "proxy", "src", "usage-worker", "main.ts")
    : join("services", service, "src", "main.ts");
}

export function entryOf(service: StackService): string {
  return join(REPO_ROOT, entryPathOf(service));
}

/**
 * The local stack: the control plane, the verifier, the proxy in inline mode (the proxy serves agents and its
 * admin API on GATEWAY_ADDR and calls the verifier itself, as Envoy would) and the usage worker, which delivers the
 * proxy's usage events to the control plane. Pure: the same input gives the same plan, so it is unit-tested
 * without starting anything.
 */
export function buildStackPlan(input: StackPlanInput): ServicePlan[] {
  const { layout, addresses } = input;
  const controlPlaneUrl = localUrl(addresses.controlPlane);
  const verifierUrl = localUrl(addresses.verifier);
  const gatewayIdentity = {
    GATEWAY_SIGILUM_NAMESPACE: input.gatewayNamespace,
    GATEWAY_SIGILUM_HOME: layout.gatewayHome,
  };
  // Secrets travel as file paths (`<NAME>_FILE`, read by the services' config), never as values in the environment.
  const internal = { AUTHZ_MODE: "inline", GATEWAY_INTERNAL_SECRET_FILE: layout.internalSecretFile };
  const admin = { GATEWAY_ADMIN_TOKEN_FILE: layout.adminTokenFile };
  return [
    {
      name: "control-plane",
      entry: entryOf("control-plane"),
      env: {
        REDIS_URL: input.redisUrl,
        CONTROL_PLANE_ADDR: addresses.controlPlane.addr,
        CONTROL_PLANE_DATA_DIR: layout.controlPlaneDataDir,
      },
      addr: addresses.controlPlane.addr,
      url: controlPlaneUrl,
    },
    {
      name: "verifier",
      entry: entryOf("verifier"),
      env: {
        REDIS_URL: input.redisUrl,
        VERIFIER_ADDR: addresses.verifier.addr,
        SIGILUM_REGISTRY_URL: controlPlaneUrl,
        ...gatewayIdentity,
        ...internal,
        ...admin,
      },
      addr: addresses.verifier.addr,
      url: verifierUrl,
    },
    {
      name: "proxy",
      entry: entryOf("proxy"),
      env: {
        REDIS_URL: input.redisUrl,
        GATEWAY_ADDR: addresses.gateway.addr,
        PROXY_ADDR: addresses.proxy.addr,
        VERIFIER_URL: verifierUrl,
        GATEWAY_MASTER_KEY_FILE: layout.masterKeyFile,
        GATEWAY_DATA_DIR: layout.proxyDataDir,
        GATEWAY_USAGE_DELIVERY: "separate",
        ...gatewayIdentity,
        ...internal,
        ...admin,
      },
      addr: addresses.gateway.addr,
      url: localUrl(addresses.gateway),
    },
    {
      name: "usage-worker",
      entry: entryOf("usage-worker"),
      env: {
        REDIS_URL: input.redisUrl,
        USAGE_WORKER_ADDR: addresses.usageWorker.addr,
        SIGILUM_REGISTRY_URL: controlPlaneUrl,
        ...gatewayIdentity,
      },
      addr: addresses.usageWorker.addr,
      url: localUrl(addresses.usageWorker),
    },
  ];
}
