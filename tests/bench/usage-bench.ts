import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, initIdentity } from "@sigilum-gw/shared/identity";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import { createTestDatabase } from "@sigilum-gw/testkit/postgres";
import { serviceMain } from "@sigilum-gw/testkit/process";
import { deletePrefix } from "@sigilum-gw/testkit/redis";
import { Redis } from "ioredis";
import pg from "pg";
import { createProxyKeys } from "../../services/proxy/src/store/keys.ts";
import { UsageRecorder } from "../../services/proxy/src/usage/queue.ts";
import * as load from "./load.ts";
import { fmt } from "./measure.ts";

/**
 * Usage delivery end to end on the real parts: `events` usage events queued in the proxies' bullmq queue, then the
 * usage worker (own process) delivers them to the real control plane (own process, PostgreSQL) through the batch
 * route. Measured from the first stored event to the last: events per second (can the control plane keep up with
 * what the gateway forwards?) and CPU per delivered event of the worker and of the control plane, from /proc.
 *
 * Run alone: `node tests/bench/usage-bench.ts [--events=N]`. Profile both processes with
 * `BENCH_USAGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node tests/bench/usage-bench.ts`.
 */

export interface UsageBenchResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  workerCpuUsPerEvent: number;
  controlPlaneCpuUsPerEvent: number;
  totalCpuUsPerEvent: number;
  /**
   * CPU of the PostgreSQL backends serving the control plane's connections (not the bench's own, not the server's
   * background processes), when /proc shows them: the share of the ingest that runs in the database.
   */
  postgresCpuUsPerEvent?: number;
}

/** CPU seconds so far of each PostgreSQL backend connected to the bench database, except the bench's own. */
async function postgresCpu(pool: pg.Pool): Promise<Map<number, number | undefined>> {
  const { rows } = await pool.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
  );
  return new Map(await Promise.all(rows.map(async ({ pid }) => [pid, await load.cpuSeconds(pid)] as const)));
}

const WORKER_MAIN = fileURLToPath(new URL("../../services/proxy/src/usage-worker/main.ts", import.meta.url));

export async function runUsageBench(
  opts: { events?: number; redisUrl?: string; quiet?: boolean } = {},
): Promise<UsageBenchResult> {
  const total = opts.events ?? 30_000;
  const redisUrl = opts.redisUrl ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const say = (line: string) => (opts.quiet ? undefined : console.log(line));
  const db = await createTestDatabase("sigilum_bench_usage_");
  const dir = await mkdtemp(join(tmpdir(), "usage-bench-"));
  const prefix = `bench-usage:${randomBytes(4).toString("hex")}:`;
  const jwtSecret = randomBytes(32).toString("hex");
  const namespace = `bench-${randomBytes(3).toString("hex")}`;
  const children: load.Listening[] = [];
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  const queueRedis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const base = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LOG_LEVEL: "warn" };
  const nodeArgs = process.env.BENCH_USAGE_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  try {
    const cp = await load.spawnListening([...nodeArgs, serviceMain("control-plane")], {
      env: {
        ...base,
        LOG_LEVEL: "info",
        CONTROL_PLANE_ADDR: "127.0.0.1:0",
        CONTROL_PLANE_DATA_DIR: join(dir, "cp"),
        DATABASE_URL: db.url,
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        JWT_SECRET: jwtSecret,
      },
      marker: "control plane listening",
    });
    children.push(cp);
    const cpUrl = `http://127.0.0.1:${cp.port}`;
    const token = await mintOwnerToken({ namespace, secret: jwtSecret, ttlSeconds: 3600 });
    const owner = async (path: string, body: unknown) => {
      const res = await fetch(cpUrl + path, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Record<string, string>;
    };
    const service = await owner("/v1/services", {
      name: "Bench",
      slug: "bench",
      domain: "example.com",
      description: "usage bench",
    });
    const apiKey = (await owner(`/v1/services/${service.id}/keys`, { name: "gateway" })).key as string;
    // The agent asks for access (an authorization, pending, is what the usage route requires).
    const agent = createIdentity(namespace);
    const claim = JSON.stringify({
      namespace,
      public_key: agent.publicKey,
      service: "bench",
      agent_ip: "127.0.0.1",
      nonce: randomBytes(8).toString("hex"),
    });
    const signed = signRequest(agent, {
      url: `${cpUrl}/v1/claims`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: claim,
    });
    const claimed = await fetch(`${cpUrl}/v1/claims`, {
      method: "POST",
      headers: { ...signed.headers, authorization: `Bearer ${apiKey}` },
      body: claim,
    });
    if (claimed.status !== 201) throw new Error(`claim: ${claimed.status} ${await claimed.text()}`);

    say(`usage: queueing ${total.toLocaleString("en-US")} events ...`);
    // Queued a batch at a time, as proxies do (a recorder buffers at most 10,000 events).
    const recorder = new UsageRecorder({ connection: queueRedis, prefix: createProxyKeys(prefix).bullmq });
    for (let i = 0; i < total; i++) {
      if (i % 1000 === 0) await recorder.flush();
      recorder.record({
        event_id: `ev-${i}-${randomBytes(4).toString("hex")}`,
        namespace,
        service: "bench",
        public_key: agent.publicKey,
        subject: "bench-subject",
        protocol: "http",
        action: "proxy",
        outcome: "success",
        status_code: 200,
        duration_ms: 3,
        response_bytes: 95,
        request_method: "GET",
        request_path: "/v1/items",
        remote_ip: "127.0.0.0/24",
      });
    }
    await recorder.close(30_000);

    const home = join(dir, "gateway");
    await initIdentity({ namespace: "gateway-bench", homeDir: home });
    say("usage: the usage worker delivers them to the control plane ...");
    const stored = async () =>
      (await pool.query("SELECT count(*)::int AS n FROM usage_events")).rows[0].n as number;
    const worker = await load.spawnListening([...nodeArgs, WORKER_MAIN], {
      env: {
        ...base,
        LOG_LEVEL: "info",
        USAGE_WORKER_ADDR: "127.0.0.1:0",
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        SIGILUM_REGISTRY_URL: cpUrl,
        SIGILUM_SERVICE_API_KEY: apiKey,
        GATEWAY_SIGILUM_HOME: home,
        GATEWAY_SIGILUM_NAMESPACE: "gateway-bench",
      },
      marker: "usage worker listening",
    });
    children.push(worker);
    const problems: string[] = [];
    for (const child of [worker.child, cp.child]) {
      child.stdout?.on("data", (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n"))
          if (/"level":"(warn|error)"|usage_submit_failed/.test(line)) problems.push(line);
      });
    }
    const deadline = Date.now() + 120_000;
    let first = await stored();
    while (first === 0 && Date.now() < deadline) {
      await sleep(5);
      first = await stored();
    }
    const cpu = async () => [await load.cpuSeconds(worker.child.pid), await load.cpuSeconds(cp.child.pid)];
    const pg0 = await postgresCpu(pool);
    const [w0, c0] = await cpu();
    const started = performance.now();
    let done = first;
    while (done < total && Date.now() < deadline) {
      await sleep(20);
      done = await stored();
    }
    const seconds = (performance.now() - started) / 1000;
    const [w1, c1] = await cpu();
    const pg1 = await postgresCpu(pool);
    const events = done - first;
    if (problems.length > 0) say(`usage: ${problems.length} warnings, first: ${problems[0]?.slice(0, 400)}`);
    if (!events || w0 === undefined || w1 === undefined || c0 === undefined || c1 === undefined) {
      throw new Error(`usage bench: ${done} of ${total} events delivered`);
    }
    const workerCpu = ((w1 - w0) / events) * 1e6;
    const cpCpu = ((c1 - c0) / events) * 1e6;
    // A backend that appeared during the run (the control plane's pool grew) counts from zero.
    let pgSeconds: number | undefined = 0;
    for (const [pid, end] of pg1)
      pgSeconds = end === undefined ? undefined : (pgSeconds ?? 0) + end - (pg0.get(pid) ?? 0);
    return {
      events,
      seconds,
      eventsPerSecond: events / seconds,
      workerCpuUsPerEvent: workerCpu,
      controlPlaneCpuUsPerEvent: cpCpu,
      totalCpuUsPerEvent: workerCpu + cpCpu,
      ...(pgSeconds !== undefined ? { postgresCpuUsPerEvent: (pgSeconds / events) * 1e6 } : {}),
    };
  } finally {
    for (const c of children) await load.stopChild(c.child);
    queueRedis.disconnect();
    await pool.end();
    await db.drop();
    await deletePrefix(prefix, redisUrl);
    await rm(dir, { recursive: true, force: true });
  }
}

export function printUsageBench(r: UsageBenchResult): void {
  console.log("\n== Usage delivery: queue -> usage worker -> control plane (batch route, PostgreSQL) ==");
  console.log(
    `  delivered                                ${fmt(r.eventsPerSecond).padStart(9)} events/s (${r.events.toLocaleString("en-US")} events in ${r.seconds.toFixed(1)} s)`,
  );
  console.log(
    `  CPU per delivered event                  ${r.totalCpuUsPerEvent.toFixed(1).padStart(9)} us (worker ${r.workerCpuUsPerEvent.toFixed(1)}, control plane ${r.controlPlaneCpuUsPerEvent.toFixed(1)})` +
      (r.postgresCpuUsPerEvent === undefined
        ? ""
        : `; PostgreSQL backends ${r.postgresCpuUsPerEvent.toFixed(1)} us more (not in the target)`),
  );
}

if (import.meta.main) {
  printUsageBench(await runUsageBench({ events: Number(load.cliArg("events") ?? "30000") }));
  process.exit(0);
}
