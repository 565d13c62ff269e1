import { join } from "node:path";
import { type ListenAddress, localUrl, type StackAddresses } from "../core/addresses.ts";
import { REPO_ROOT } from "../core/paths.ts";
import { REDIS_SERVER, redisServerArgs } from "./embedded-redis.ts";
import type { StackLayout } from "./layout.ts";

/** In start order: the stack's own Redis (only when REDIS_URL is not set) first, so the others find it. */
export const STACK_SERVICES = ["redis", "control-plane", "verifier", "proxy", "usage-worker"] as const;
export type StackService = (typeof STACK_SERVICES)[number];
export type NodeService = Exclude<StackService, "redis">;

export interface ServicePlan {
  name: StackService;
  /** `command ...args`: `node <entry>` for our services, `redis-server ...` for the embedded Redis. */
  command: string;
  args: string[];
  /** Working directory, when not the repository. */
  cwd?: string;
  /** Only what this service needs on top of the inherited environment. */
  env: Record<string, string>;
  addr: string;
  url: string;
  /** Healthy = this answers: `http://…/health/ready` (`/health` for the control plane) or `redis://…` (PING). */
  health: string;
}

export interface StackRedis {
  /** The stack runs its own redis-server on `address` (REDIS_URL unset). */
  embedded: boolean;
  url: string;
  prefix: string;
  address?: ListenAddress;
}

export interface StackPlanInput {
  layout: StackLayout;
  addresses: StackAddresses;
  gatewayNamespace: string;
  redis: StackRedis;
}

/** Each service's entry point, relative to the repository (also how `down`/`status` recognise its process). */
export function entryPathOf(service: NodeService): string {
  return service === "usage-worker"
    ? join("services", "proxy", "src", "usage-worker", "main.ts")
    : join("services", service, "src", "main.ts");
}

export function entryOf(service: NodeService): string {
  return join(REPO_ROOT, entryPathOf(service));
}

/** What identifies the service's process in /proc/<pid>/cmdline. */
export function markerOf(service: StackService): string {
  return service === "redis" ? REDIS_SERVER : entryPathOf(service);
}

const node = (service: NodeService) => ({ command: process.execPath, args: [entryOf(service)] });

/**
 * The local stack: its own Redis when REDIS_URL is not set, the control plane, the verifier, the proxy in inline mode (the proxy serves agents and its
 * admin API on GATEWAY_ADDR and calls the verifier itself, as Envoy would) and the usage worker, which delivers the
 * proxy's usage events to the control plane. Pure: the same input gives the same plan, so it is unit-tested
 * without starting anything.
 */
export function buildStackPlan(input: StackPlanInput): ServicePlan[] {
  const { layout, addresses, redis } = input;
  const controlPlaneUrl = localUrl(addresses.controlPlane);
  const verifierUrl = localUrl(addresses.verifier);
  const gatewayIdentity = {
    GATEWAY_SIGILUM_NAMESPACE: input.gatewayNamespace,
    GATEWAY_SIGILUM_HOME: layout.gatewayHome,
  };
  // Secrets travel as file paths (`<NAME>_FILE`, read by the services' config), never as values in the environment.
  const internal = { AUTHZ_MODE: "inline", GATEWAY_INTERNAL_SECRET_FILE: layout.internalSecretFile };
  const admin = { GATEWAY_ADMIN_TOKEN_FILE: layout.adminTokenFile };
  const redisEnv = { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix };
  const embeddedRedis: ServicePlan[] = redis.address
    ? [
        {
          name: "redis",
          command: REDIS_SERVER,
          args: redisServerArgs(layout, redis.address),
          cwd: layout.redisDataDir,
          env: {},
          addr: redis.address.addr,
          url: redis.url,
          health: redis.url,
        },
      ]
    : [];
  return [
    ...embeddedRedis,
    {
      name: "control-plane",
      ...node("control-plane"),
      env: {
        ...redisEnv,
        CONTROL_PLANE_ADDR: addresses.controlPlane.addr,
        CONTROL_PLANE_DATA_DIR: layout.controlPlaneDataDir,
      },
      addr: addresses.controlPlane.addr,
      url: controlPlaneUrl,
      health: `${controlPlaneUrl}/health`,
    },
    {
      name: "verifier",
      ...node("verifier"),
      env: {
        ...redisEnv,
        VERIFIER_ADDR: addresses.verifier.addr,
        SIGILUM_REGISTRY_URL: controlPlaneUrl,
        ...gatewayIdentity,
        ...internal,
        ...admin,
      },
      addr: addresses.verifier.addr,
      url: verifierUrl,
      health: `${verifierUrl}/health/ready`,
    },
    {
      name: "proxy",
      ...node("proxy"),
      env: {
        ...redisEnv,
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
      health: `${localUrl(addresses.gateway)}/health/ready`,
    },
    {
      name: "usage-worker",
      ...node("usage-worker"),
      env: {
        ...redisEnv,
        USAGE_WORKER_ADDR: addresses.usageWorker.addr,
        SIGILUM_REGISTRY_URL: controlPlaneUrl,
        ...gatewayIdentity,
      },
      addr: addresses.usageWorker.addr,
      url: localUrl(addresses.usageWorker),
      health: `${localUrl(addresses.usageWorker)}/health/ready`,
    },
  ];
}
