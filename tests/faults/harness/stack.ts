import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSigilumClient, type SigilumClient, type SigilumFetchInit } from "@sigilum-gw/sdk";
import { serviceApiKeyEnvName } from "@sigilum-gw/shared/config";
import { createIdentity, initIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import { unusedPort } from "@sigilum-gw/testkit/network";
import { createTestDatabase, type TestDatabase } from "@sigilum-gw/testkit/postgres";
import { type ServiceProcess, serviceMain, spawnService } from "@sigilum-gw/testkit/process";
import { type Relay, startRelay } from "@sigilum-gw/testkit/relay";
import { until } from "@sigilum-gw/testkit/until";
import pg from "pg";
import { type RedisServer, startRedisServer } from "./redis-server.ts";
import { startUpstream, type Upstream } from "./upstream.ts";

/**
 * The whole gateway as real processes, for fault tests: a Redis server of its own, PostgreSQL (a fresh database),
 * the control plane, N verifier replicas, M proxy replicas (inline mode, as `sigilum up` runs them), the usage
 * worker and an HTTP upstream. Relays on loopback stand where Envoy and the network would: agents → proxies,
 * proxies → verifiers (both round-robin, skipping a dead replica), proxies → upstream (a link that can be slowed).
 * Every process keeps its port across restarts. One approved agent and one that never was.
 */

export type ServiceName = "control-plane" | "usage-worker" | `verifier-${number}` | `proxy-${number}`;

export interface StackOptions {
  verifiers?: number;
  proxies?: number;
  /** Extra environment for every proxy (GATEWAY_USAGE_DURABILITY, timeouts...). */
  proxyEnv?: Record<string, string>;
  /** Extra environment for the control plane (the soak's event-loop probe). */
  controlPlaneEnv?: Record<string, string>;
  /** Also an MCP connection (`faulty-mcp`) to a server built with the official MCP SDK, the agent approved on it. */
  mcp?: boolean;
  /**
   * The proxy calls its one verifier and the upstream directly, not through relays (the soak: relays run in the
   * harness's own process, and under steady load they, not the gateway, would be what saturates).
   */
  direct?: boolean;
}

/** The MCP server behind the `faulty-mcp` connection: it can go away and come back (on another port, behind a relay). */
export interface McpUpstream {
  readonly server: McpTestServer | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface CallResult {
  status: number;
  /** The envelope's code when the answer is an error envelope; "NETWORK" when no answer came. */
  code: string | undefined;
  body: string;
}

export interface FaultStack {
  redis: RedisServer;
  upstream: Upstream;
  /** agents → proxies */
  gateway: Relay;
  /** proxies → upstream */
  upstreamLink: Relay;
  service: string;
  agent: SigilumClient;
  /** The approved agent's identity (a load generator in another thread signs with it). */
  agentIdentity: SigilumIdentity;
  stranger: SigilumClient;
  running(name: ServiceName): boolean;
  pid(name: ServiceName): number | undefined;
  /** The service's own listener (a proxy's is where agents connect when no relay stands in Envoy's place). */
  url(name: ServiceName): string;
  /** Where the service's Prometheus metrics are (undefined for the control plane: it serves none). */
  metricsUrl(name: ServiceName): string | undefined;
  kill(name: ServiceName, signal?: NodeJS.Signals): Promise<void>;
  start(name: ServiceName): Promise<void>;
  mcp: McpUpstream;
  /** A signed tool call through the gateway's MCP route (as the approved agent unless told). */
  callTool(tool: string, who?: SigilumClient): Promise<CallResult>;
  /** A new agent of the owner's namespace (never approved). */
  newAgent(): Promise<SigilumClient>;
  /** A signed GET through the gateway (as the approved agent unless told). */
  call(path: string, who?: SigilumClient): Promise<CallResult>;
  /** Usage rows stored by the control plane for this stack's service, by the status they record. */
  usageByStatus(): Promise<Record<number, number>>;
  /** The owner's view of the agent's claims, by status. */
  claims(): Promise<{ status: string; public_key: string }[]>;
  ownerPost(path: string): Promise<number>;
  stop(): Promise<void>;
}

const WORKER_MAIN = fileURLToPath(
  new URL("../../../services/proxy/src/usage-worker/main.ts", import.meta.url),
);

export async function startFaultStack(options: StackOptions = {}): Promise<FaultStack> {
  // Everything started is stopped again, in reverse order, by stop() or when starting fails half-way.
  const cleanups: (() => Promise<unknown>)[] = [];
  const teardown = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  try {
    return await build(options, cleanups, teardown);
  } catch (err) {
    await teardown();
    throw err;
  }
}

async function build(
  options: StackOptions,
  cleanups: (() => Promise<unknown>)[],
  teardown: () => Promise<void>,
): Promise<FaultStack> {
  const verifierCount = options.verifiers ?? 1;
  const proxyCount = options.proxies ?? 1;
  if (options.direct && verifierCount !== 1) throw new Error("a direct stack has one verifier");
  const dir = await mkdtemp(join(tmpdir(), "faults-stack-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const redis = await startRedisServer();
  cleanups.push(() => redis.stop());
  const db: TestDatabase = await createTestDatabase("sigilum_faults_");
  cleanups.push(() => db.drop());
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const upstreamLink = await startRelay(() => [upstream.port]);
  cleanups.push(() => upstreamLink.close());
  let mcpServer: McpTestServer | undefined;
  const mcp: McpUpstream = {
    get server() {
      return mcpServer;
    },
    async stop() {
      await mcpServer?.close();
      mcpServer = undefined;
    },
    async start() {
      mcpServer = await startMcpTestServer({ era: "stateful" });
    },
  };
  const mcpLink = await startRelay(() => (mcpServer ? [Number(new URL(mcpServer.url).port)] : []));
  cleanups.push(() => mcpLink.close());
  if (options.mcp) {
    await mcp.start();
    cleanups.push(() => mcp.stop());
  }

  const ownerNamespace = `faults-${randomBytes(3).toString("hex")}`;
  // The gateway files claims for its agents signed as itself: same namespace as the owner (as `sigilum up` sets up).
  const gatewayNamespace = ownerNamespace;
  const home = join(dir, "gateway-home");
  await initIdentity({ namespace: gatewayNamespace, homeDir: home });
  const jwtSecret = randomBytes(32).toString("hex");
  const secrets = {
    GATEWAY_INTERNAL_SECRET: randomBytes(32).toString("hex"),
    GATEWAY_MASTER_KEY: randomBytes(32).toString("hex"),
    GATEWAY_ADMIN_TOKEN: randomBytes(24).toString("hex"),
  };
  const identityEnv = { GATEWAY_SIGILUM_NAMESPACE: gatewayNamespace, GATEWAY_SIGILUM_HOME: home };
  const ports = new Map<ServiceName, number>();
  const portOf = async (name: ServiceName) => {
    let port = ports.get(name);
    if (port === undefined) {
      port = await unusedPort();
      ports.set(name, port);
    }
    return port;
  };
  const cpUrl = `http://127.0.0.1:${await portOf("control-plane")}`;
  const verifierNames = Array.from({ length: verifierCount }, (_, i) => `verifier-${i}` as const);
  const proxyNames = Array.from({ length: proxyCount }, (_, i) => `proxy-${i}` as const);
  for (const name of [...verifierNames, ...proxyNames, "usage-worker" as const]) await portOf(name);
  const processes = new Map<ServiceName, ServiceProcess>();
  const alive = (names: readonly ServiceName[]) => names.map((n) => ports.get(n) as number);
  const verifierLink = await startRelay(() => alive(verifierNames));
  cleanups.push(() => verifierLink.close());
  const gateway = await startRelay(() => alive(proxyNames));
  cleanups.push(() => gateway.close());
  cleanups.push(() => Promise.all([...processes.values()].map((p) => p.stop("SIGKILL"))));
  let serviceApiKey = "";
  let mcpKeyEnv: Record<string, string> = {};

  const envOf = (name: ServiceName): [string, string, Record<string, string>] => {
    const base = { REDIS_URL: redis.url, LOG_LEVEL: "info" };
    const addr = `127.0.0.1:${ports.get(name)}`;
    if (name === "control-plane") {
      return [
        serviceMain("control-plane"),
        "control plane listening",
        {
          ...base,
          CONTROL_PLANE_ADDR: addr,
          CONTROL_PLANE_DATA_DIR: join(dir, "cp"),
          DATABASE_URL: db.url,
          JWT_SECRET: jwtSecret,
          ...options.controlPlaneEnv,
        },
      ];
    }
    if (name === "usage-worker") {
      return [
        WORKER_MAIN,
        "usage worker listening",
        {
          ...base,
          ...identityEnv,
          ...mcpKeyEnv,
          USAGE_WORKER_ADDR: addr,
          SIGILUM_REGISTRY_URL: cpUrl,
          SIGILUM_SERVICE_API_KEY: serviceApiKey,
        },
      ];
    }
    if (name.startsWith("verifier-")) {
      return [
        serviceMain("verifier"),
        "verifier listening",
        {
          ...base,
          ...identityEnv,
          VERIFIER_ADDR: addr,
          SIGILUM_REGISTRY_URL: cpUrl,
          SIGILUM_SERVICE_API_KEY: serviceApiKey,
          ...mcpKeyEnv,
          GATEWAY_INTERNAL_SECRET: secrets.GATEWAY_INTERNAL_SECRET,
          VERIFIER_CLAIM_SUBMIT_DEDUPE_SECONDS: "1",
        },
      ];
    }
    return [
      serviceMain("proxy"),
      "proxy listening",
      {
        ...base,
        ...identityEnv,
        ...secrets,
        AUTHZ_MODE: "inline",
        GATEWAY_ADDR: addr,
        PROXY_ADDR: `127.0.0.1:0`,
        VERIFIER_URL: options.direct ? `http://127.0.0.1:${ports.get("verifier-0")}` : verifierLink.url,
        GATEWAY_DATA_DIR: join(dir, name),
        GATEWAY_USAGE_DELIVERY: "separate",
        LOG_LEVEL: "warn",
        ...options.proxyEnv,
      },
    ];
  };
  const start = async (name: ServiceName) => {
    const [main, marker, env] = envOf(name);
    // Proxies log at warn (a decision line per request); their listening line is at info.
    // A minute to start: seven Node processes starting at once on a busy 2-core machine are slow.
    const spawned = await spawnService(
      main,
      marker,
      {
        ...env,
        LOG_LEVEL: "info",
        ...(name.startsWith("proxy") ? { GATEWAY_LOG_PROXY_REQUESTS: "false" } : {}),
      },
      { timeoutMs: 60_000 },
    );
    processes.set(name, spawned);
  };

  await start("control-plane");
  const token = await mintOwnerToken({ namespace: ownerNamespace, secret: jwtSecret, ttlSeconds: 3600 });
  const owner = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(cpUrl + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as unknown };
  };
  const service = "faulty";
  const mcpService = "faulty-mcp";
  const registerService = async (slug: string) => {
    const created = await owner("POST", "/v1/services", {
      name: slug,
      slug,
      domain: "example.com",
      description: "fault tests",
    });
    if (created.status !== 201) throw new Error(`service: ${created.status} ${JSON.stringify(created.body)}`);
    const key = await owner("POST", `/v1/services/${(created.body as { id: string }).id}/keys`, {
      name: "gateway",
    });
    return (key.body as { key: string }).key;
  };
  serviceApiKey = await registerService(service);
  if (options.mcp) mcpKeyEnv = { [serviceApiKeyEnvName(mcpService)]: await registerService(mcpService) };

  await Promise.all([...verifierNames, ...proxyNames, "usage-worker" as const].map(start));
  const connect = async (connection: Record<string, unknown>) => {
    const admin = await fetch(`${gateway.url}/api/admin/connections`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-sigilum-admin-token": secrets.GATEWAY_ADMIN_TOKEN },
      body: JSON.stringify(connection),
    });
    if (admin.status !== 201) throw new Error(`connection: ${admin.status} ${await admin.text()}`);
  };
  await connect({
    id: service,
    base_url: options.direct ? `http://127.0.0.1:${upstream.port}` : upstreamLink.url,
    auth_secret_key: "token",
    secrets: { token: "upstream-secret" },
  });
  if (options.mcp) {
    await connect({
      id: mcpService,
      protocol: "mcp",
      base_url: mcpLink.url,
      auth_mode: "header_key",
      auth_header_name: "X-Api-Key",
      auth_secret_key: "key",
      secrets: { key: "mcp-secret" },
    });
  }

  const agentIdentity = createIdentity(ownerNamespace);
  const agent = await createSigilumClient({ identity: agentIdentity });
  // Another namespace: its refused requests must not use up the owner namespace's claim-submission rate limit.
  const stranger = await createSigilumClient({ identity: createIdentity(`${ownerNamespace}-x`) });
  const send = async (path: string, who: SigilumClient, init: SigilumFetchInit = {}): Promise<CallResult> => {
    try {
      const res = await who.fetch(`${gateway.url}${path}`, { ...init, signal: AbortSignal.timeout(15_000) });
      const body = await res.text();
      let code: string | undefined;
      if (res.status >= 400) {
        try {
          code = (JSON.parse(body) as { code?: string }).code;
        } catch {
          // AUTH_CLAIM_REQUIRED is answered in Markdown for the agent (Sigilum's format): "# HTTP 403 <CODE>: ...".
          code = /^# HTTP \d{3} ([A-Z_]+)/.exec(body)?.[1];
        }
      }
      return { status: res.status, code, body };
    } catch (err) {
      return { status: 0, code: "NETWORK", body: String(err) };
    }
  };
  const call = (path: string, who: SigilumClient = agent) => send(`/proxy/${service}${path}`, who);
  const callTool = (tool: string, who: SigilumClient = agent) =>
    send(`/mcp/${mcpService}/tools/${tool}/call`, who, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ arguments: { text: "fault" } }),
    });
  const claims = async () =>
    (
      (await owner("GET", `/v1/namespaces/${ownerNamespace}/claims?limit=100`)).body as {
        claims: { claim_id: string; status: string; public_key: string; service?: string }[];
      }
    ).claims;

  // The agent asks for access (refused, claim filed by the verifier), the owner approves, the agent gets through.
  const approveAgent = async (request: () => Promise<CallResult>, slug: string) => {
    // On a busy machine the first feed read may not finish in the verifier's wait (503 AUTH_CLAIMS_UNAVAILABLE).
    await until(`the refusal that files a claim on ${slug}`, 20_000, async () => {
      const first = await request();
      if (first.code === "AUTH_CLAIM_REQUIRED") return true;
      if (first.code === "AUTH_CLAIMS_UNAVAILABLE") return undefined;
      throw new Error(`first call: ${first.status} ${first.body}`);
    });
    const claim = await until(`the agent's claim on ${slug}`, 15_000, async () =>
      (await claims()).find(
        (c) => c.public_key === agent.publicKey && c.status === "pending" && (c.service ?? slug) === slug,
      ),
    );
    const approved = await owner("POST", `/v1/claims/${claim.claim_id}/approve`);
    if (approved.status !== 200) throw new Error(`approve: ${approved.status}`);
    await until(`the approval on ${slug} to reach the gateway`, 20_000, async () =>
      (await request()).status === 200 ? true : undefined,
    );
  };
  await approveAgent(() => call("/v1/hello"), service);
  if (options.mcp) await approveAgent(() => callTool("echo"), mcpService);

  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  cleanups.push(() => pool.end());
  return {
    redis,
    upstream,
    gateway,
    upstreamLink,
    service,
    agent,
    agentIdentity,
    stranger,
    pid: (name) => processes.get(name)?.child.pid,
    url: (name) => `http://127.0.0.1:${ports.get(name)}`,
    metricsUrl: (name) =>
      name === "control-plane" ? undefined : `http://127.0.0.1:${ports.get(name)}/metrics`,
    running: (name) =>
      processes.get(name)?.child.exitCode === null && processes.get(name)?.child.signalCode === null,
    async kill(name, signal = "SIGKILL") {
      await processes.get(name)?.stop(signal);
    },
    start,
    mcp,
    callTool,
    newAgent: () => createSigilumClient({ identity: createIdentity(ownerNamespace) }),
    call,
    async usageByStatus() {
      const { rows } = await pool.query(
        "SELECT status_code, count(*)::int AS n FROM usage_events WHERE service = $1 GROUP BY status_code",
        [service],
      );
      return Object.fromEntries(rows.map((r) => [r.status_code as number, r.n as number]));
    },
    claims,
    async ownerPost(path) {
      return (await owner("POST", path)).status;
    },
    stop: teardown,
  };
}

export { until };
