import { join } from "node:path";
import { type ListenAddress, localUrl, type StackAddresses, withPort } from "../core/addresses.ts";
import { REPO_ROOT } from "../core/paths.ts";
import {
  embeddedDatabaseUrl,
  POSTGRES,
  type PostgresBinaries,
  postgresCommand,
  postgresServerArgs,
  postgresSocketDir,
} from "./embedded-postgres.ts";
import { REDIS_SERVER, redisServerArgs } from "./embedded-redis.ts";
import type { StackLayout } from "./layout.ts";

/**
 * In start order: the stack's own stores first (Redis when REDIS_URL is not set, PostgreSQL when DATABASE_URL is
 * not set), so the services find them.
 */
export const STACK_SERVICES = [
  "redis",
  "postgres",
  "control-plane",
  "verifier",
  "proxy",
  "usage-worker",
] as const;
export type StackService = (typeof STACK_SERVICES)[number];
/** Started first, each healthy before the next service starts; stopped last. */
export const STORES: readonly StackService[] = ["redis", "postgres"];
export type NodeService = Exclude<StackService, "redis" | "postgres">;

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
  /**
   * Healthy = this answers: `http://…/health/ready` (`/health` for the control plane), `redis://…` (PING) or
   * `postgres://…` (a query).
   */
  health: string;
  /** The signal that stops it cleanly (SIGTERM unless said; PostgreSQL's fast shutdown is SIGINT). */
  stopSignal?: NodeJS.Signals;
  /**
   * Set when it listens on port 0: the service writes the address it got here (LISTEN_ADDRESS_FILE) and the
   * supervisor plans the rest of the stack with that port.
   */
  addressFile?: string;
}

export interface StackRedis {
  /** The stack runs its own redis-server on `address` (REDIS_URL unset). */
  embedded: boolean;
  url: string;
  prefix: string;
  address?: ListenAddress;
}

/** DATABASE_URL, or the stack's own PostgreSQL (`binaries`) reached at `url` over its Unix socket. */
export type StackDatabase =
  | { embedded: false; url: string }
  | { embedded: true; url: string; binaries: PostgresBinaries; socketDir: string };

export function stackDatabaseOf(
  layout: StackLayout,
  databaseUrl: string | undefined,
  binaries: () => PostgresBinaries,
): StackDatabase {
  if (databaseUrl) return { embedded: false, url: databaseUrl };
  const socketDir = postgresSocketDir(layout);
  return { embedded: true, url: embeddedDatabaseUrl(socketDir), binaries: binaries(), socketDir };
}

export interface StackPlanInput {
  layout: StackLayout;
  addresses: StackAddresses;
  gatewayNamespace: string;
  redis: StackRedis;
  database: StackDatabase;
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
  if (service === "redis") return REDIS_SERVER;
  return service === "postgres" ? POSTGRES : entryPathOf(service);
}

/** The stack address each Node service listens on. */
export const LISTENS_ON = {
  "control-plane": "controlPlane",
  verifier: "verifier",
  proxy: "gateway",
  "usage-worker": "usageWorker",
} as const satisfies Record<NodeService, keyof StackAddresses>;

export function addressFileOf(layout: StackLayout, service: NodeService): string {
  return join(layout.runDir, `${service}.address.json`);
}

/** A service given port 0 reports the port it got through its address file. */
function reportingPort(plan: ServicePlan, layout: StackLayout, addresses: StackAddresses): ServicePlan {
  const service = plan.name as NodeService;
  if (addresses[LISTENS_ON[service]].port !== 0) return plan;
  const addressFile = addressFileOf(layout, service);
  return { ...plan, addressFile, env: { ...plan.env, LISTEN_ADDRESS_FILE: addressFile } };
}

/** How a service is stopped: SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client). */
export function stopSignalOf(service: StackService): NodeJS.Signals {
  return service === "postgres" ? "SIGINT" : "SIGTERM";
}

/**
 * V8 flags of the stack's Node processes: a 4 MB young generation (default 16 MB) keeps each idle service ~20 MB
 * smaller, which brings the whole local stack under 500 MB (docs/decisions.md). Deployments (Docker, Helm) keep
 * Node's defaults.
 */
export const NODE_FLAGS = ["--max-semi-space-size=4"];

const node = (service: NodeService) => ({
  command: process.execPath,
  args: [...NODE_FLAGS, entryOf(service)],
});

/**
 * The local stack: its own Redis when REDIS_URL is not set, its own PostgreSQL when DATABASE_URL is not set, the control plane, the verifier, the proxy in inline mode (the proxy serves agents and its
 * admin API on GATEWAY_ADDR and calls the verifier itself, as Envoy would) and the usage worker, which delivers the
 * proxy's usage events to the control plane. Pure: the same input gives the same plan, so it is unit-tested
 * without starting anything.
 */
export function buildStackPlan(input: StackPlanInput): ServicePlan[] {
  const { layout, addresses, redis, database } = input;
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
  const embeddedPostgres: ServicePlan[] = database.embedded
    ? [
        {
          name: "postgres",
          ...postgresCommand(database.binaries.postgres, postgresServerArgs(layout, database.socketDir)),
          // The supervisor creates a service's working directory (0700): here the socket directory.
          cwd: database.socketDir,
          env: {},
          addr: database.socketDir,
          url: database.url,
          health: database.url,
          stopSignal: stopSignalOf("postgres"),
        },
      ]
    : [];
  const services: ServicePlan[] = [
    {
      name: "control-plane",
      ...node("control-plane"),
      env: {
        ...redisEnv,
        DATABASE_URL: database.url,
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
  return [
    ...embeddedRedis,
    ...embeddedPostgres,
    ...services.map((plan) => reportingPort(plan, layout, addresses)),
  ];
}

/** The addresses once `service`, started on port 0, reported the port it got. */
export function withReportedPort(
  addresses: StackAddresses,
  service: NodeService,
  port: number,
): StackAddresses {
  const key = LISTENS_ON[service];
  return { ...addresses, [key]: withPort(addresses[key], port) };
}
