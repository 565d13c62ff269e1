import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import { type RecordingServer, startRecordingServer, unusedPort } from "@sigilum-gw/testkit/network";
import { type RunResult, runScript } from "@sigilum-gw/testkit/process";
import { component, renderChart } from "./helpers/chart.ts";
import {
  type Compose,
  commandOf,
  dockerfileStages,
  interpolate,
  loadCompose,
  readRepoFile,
  type Stage,
} from "./helpers/compose.ts";
import { type Stores, startStores } from "./helpers/stores.ts";

/**
 * `docker compose up` without Docker: every service of docker-compose.yml runs as a local process with the
 * command its image runs (Dockerfile CMD/ENTRYPOINT, compose overrides) and the environment compose gives it.
 * Only what a container network provides is translated: a service name becomes 127.0.0.1 and a free port, a
 * volume or tmpfs path a temporary folder, the working directory /app this checkout. Redis and PostgreSQL come
 * from testcontainers where Docker answers, else the loopback servers (fresh database, own key prefix).
 * Envoy's place is taken by the proxy in inline mode (no Envoy binary here): it makes the same ext_authz call
 * (the verifier contract tests hold it to envoy/envoy.yaml). The flow: bootstrap → health (the images'
 * HEALTHCHECK commands and the Helm chart's probe paths) → the CLI container's commands → a signed request
 * refused, approved, then forwarded with the credential injected.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NAMESPACE = `compose-${randomBytes(3).toString("hex")}`;
const SERVICES = ["control-plane", "verifier", "proxy", "usage-worker", "pairing-bridge"] as const;

let compose: Compose;
let stages: Map<string, Stage>;
let stores: Stores;
let dir: string;
let echo: RecordingServer;
/** Compose service → the loopback port standing for its container port. */
const ports = new Map<string, number>();
const running: { name: string; child: ChildProcess; output: () => string }[] = [];
const upstreamSecret = `compose-upstream-${randomBytes(8).toString("hex")}`;

const volumeDir = (name: string) => join(dir, "volumes", name);

/** The port a service's image listens on: its `<NAME>_ADDR=:<port>`. */
function listenPort(env: Record<string, string>): number | undefined {
  const addr = Object.entries(env).find(([k, v]) => k.endsWith("_ADDR") && /^:\d+$/.test(v));
  return addr ? Number(addr[1].slice(1)) : undefined;
}

/**
 * The environment the service's container gets, translated to this machine; `shell`: variables set in the shell
 * that runs `docker compose up` (GATEWAY_SIGILUM_NAMESPACE always is).
 */
function environmentOf(name: string, shell: Record<string, string> = {}): Record<string, string> {
  const service = compose.services[name];
  assert.ok(service, `no compose service ${name}`);
  const stage = stages.get(service.build?.target ?? "runtime");
  const vars = { GATEWAY_SIGILUM_NAMESPACE: NAMESPACE, ...shell };
  const raw: Record<string, string> = { ...stage?.env };
  delete raw.PATH; // the image's own, with $PATH unexpanded
  for (const [k, v] of Object.entries(service.environment ?? {})) raw[k] = interpolate(v, vars);

  const mounts: [string, string][] = [
    ...(service.volumes ?? []).map((v): [string, string] => {
      const [volume, target] = v.split(":") as [string, string];
      return [target, volumeDir(volume)];
    }),
    // Every container has its own /tmp (a tmpfs where compose says so).
    ["/tmp", join(dir, "tmp", name)],
  ];
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    let local = value;
    if (key.endsWith("_ADDR") && /^:\d+$/.test(value)) local = `127.0.0.1:${ports.get(name)}`;
    local = local.replace(/\/\/([a-z][a-z-]*):(\d+)/g, (match, host: string) => {
      if (host === "redis") return `//${new URL(stores.redisUrl).host}`;
      const port = ports.get(host);
      return port ? `//127.0.0.1:${port}` : match;
    });
    const mount = mounts.find(([target]) => local === target || local.startsWith(`${target}/`));
    if (mount) local = mount[1] + local.slice(mount[0].length);
    env[key] = local;
  }
  return {
    ...env,
    PATH: process.env.PATH ?? "",
    HOME: join(dir, "home", name),
    // The one addition: this test's own key prefix on the shared Redis.
    REDIS_PREFIX: stores.redisPrefix,
  };
}

async function start(name: string, service: string, env: Record<string, string>): Promise<void> {
  const stage = stages.get(compose.services[service]?.build?.target ?? "");
  const [command, ...args] = commandOf(compose.services[service]!, stage);
  assert.equal(command, "node");
  await mkdir(env.HOME as string, { recursive: true });
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (c: Buffer) => (output += c));
  child.stderr?.on("data", (c: Buffer) => (output += c));
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  child.once("exit", () => process.off("exit", kill));
  running.push({ name, child, output: () => output });
}

/** Stops a service started by `start` (SIGTERM, then waits for its exit). */
async function stop(name: string): Promise<void> {
  const index = running.findIndex((r) => r.name === name && r.child.exitCode === null);
  assert.ok(index >= 0, `${name} is not running`);
  const [{ child }] = running.splice(index, 1) as [(typeof running)[number]];
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

/** The image's HEALTHCHECK, run here: exit 0 within the deadline or the test fails with the service's output. */
async function healthy(service: string, port: number, image = service): Promise<string> {
  const check = stages.get(compose.services[image]?.build?.target ?? "")?.healthcheck;
  assert.ok(check, `${image}: the image has a HEALTHCHECK`);
  const url = (check.at(-1) as string).replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
  // Generous: on a loaded 2-core machine the control plane's first start (migrations) can take half a minute.
  const deadline = Date.now() + 75_000;
  for (;;) {
    const run = await runScript(join(ROOT, check[1] as string), [url], {
      env: { PATH: process.env.PATH },
      timeoutMs: 5_000,
    });
    if (run.code === 0) return url;
    const exited = running.find((r) => r.name === service && r.child.exitCode !== null);
    if (exited || Date.now() > deadline)
      throw new Error(
        `${service} is not healthy at ${url}:\n${running.find((r) => r.name === service)?.output()}`,
      );
    await sleep(250);
  }
}

function cli(args: string[], stdin = ""): Promise<RunResult> {
  const env = environmentOf("cli");
  const [, main, ...fixed] = commandOf(compose.services.cli!, stages.get("cli"), args);
  return runScript(join(ROOT, main as string), fixed, { env, stdin, timeoutMs: 60_000 });
}

const json = <T>(run: RunResult): T => {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`expected JSON (exit ${run.code})\n${run.stdout}\n${run.stderr}`);
  }
};

describe("docker-compose.yml as local processes", { timeout: 240_000 }, () => {
  before(async () => {
    [compose, stages, stores, dir, echo] = await Promise.all([
      loadCompose(),
      readRepoFile("Dockerfile").then(dockerfileStages),
      startStores(),
      mkdtemp(join(tmpdir(), "compose-processes-")),
      startRecordingServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"echoed":true}');
      }),
    ]);
    for (const name of [...SERVICES, "envoy"]) ports.set(name, await unusedPort());
    for (const volume of Object.keys(compose.volumes)) await mkdir(volumeDir(volume), { recursive: true });
  });

  after(async () => {
    for (const { child } of running) if (child.exitCode === null) child.kill("SIGTERM");
    await Promise.all(
      running.map(({ child }) => child.exitCode ?? new Promise((r) => child.once("exit", r))),
    );
    await echo?.close();
    await stores?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("the bootstrap job creates the secrets and the identity, and names the namespace", async (t) => {
    t.diagnostic(`stores: ${stores.source}`);
    const service = compose.services.bootstrap!;
    const [command, ...args] = commandOf(service, stages.get(service.build?.target ?? ""));
    assert.equal(command, "node");
    const env = environmentOf("bootstrap");
    const run = await runScript(join(ROOT, args[0] as string), args.slice(1), { env, timeoutMs: 30_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(`Gateway namespace: ${NAMESPACE}\\. Agents must sign as this namespace`),
    );
    assert.deepEqual((await readdir(join(volumeDir("sigilum-home"), "identities"))).sort(), [NAMESPACE]);
    // The bundled PostgreSQL container is the one part replaced: its URL points at this test's database.
    await writeFile(join(volumeDir("secrets"), "database_url"), `${stores.databaseUrl}\n`);

    const again = await runScript(join(ROOT, args[0] as string), args.slice(1), {
      env: { ...env, GATEWAY_SIGILUM_NAMESPACE: "another-namespace" },
      timeoutMs: 30_000,
    });
    assert.equal(again.code, 1, "a different namespace later is refused, not a second identity");
    assert.match(again.stderr, /created for namespace "compose-[0-9a-f]+", not GATEWAY_SIGILUM_NAMESPACE/);
  });

  test("every service starts with its compose environment and passes its image's HEALTHCHECK", async () => {
    for (const name of SERVICES) {
      const env = environmentOf(name);
      assert.equal(
        listenPort(compose.services[name]?.environment as Record<string, string>) !== undefined,
        true,
      );
      await start(name, name, env);
    }
    // Envoy's place: the proxy in inline mode on Envoy's port, calling the verifier as Envoy does.
    await start("envoy", "proxy", {
      ...environmentOf("proxy"),
      GATEWAY_ADDR: `127.0.0.1:${ports.get("envoy")}`,
      AUTHZ_MODE: "inline",
      VERIFIER_URL: `http://127.0.0.1:${ports.get("verifier")}`,
    });
    await Promise.all([
      ...SERVICES.map((name) => healthy(name, ports.get(name) as number)),
      healthy("envoy", ports.get("envoy") as number, "proxy"),
    ]);
  });

  test("the Helm chart's probe paths answer 200 on the running services", async () => {
    const chart = await renderChart({ gateway: { namespace: NAMESPACE } });
    for (const name of SERVICES) {
      const d = chart.manifests.find((m) => m.kind === "Deployment" && m.metadata.name === component(name));
      const main = d?.spec.template.spec.containers[0];
      for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        const path = main?.[probe]?.httpGet?.path as string | undefined;
        if (!path) continue;
        const response = await fetch(`http://127.0.0.1:${ports.get(name)}${path}`);
        assert.equal(response.status, 200, `${name} ${probe} ${path}`);
      }
    }
  });

  test("behind Envoy the proxy refuses a request that did not pass the verifier", async () => {
    const response = await fetch(`http://127.0.0.1:${ports.get("proxy")}/proxy/echo/v1/ping`);
    assert.ok(response.status === 401 || response.status === 403, String(response.status));
    assert.equal(echo.requests.length, 0);
  });

  test("the CLI container adds a service: connection in the proxy, key file where the verifier reads it", async () => {
    const add = await cli(
      ["service", "add", "echo", "--upstream-base-url", echo.url, "--upstream-secret-stdin", "--json"],
      `${upstreamSecret}\n`,
    );
    assert.equal(add.code, 0, add.stderr);
    const out = json<{ mode: string; api_key: { file: string } }>(add);
    assert.equal(out.mode, "gateway");
    assert.equal(out.api_key.file, join(volumeDir("sigilum-home"), "service-api-key-echo"));
    const list = json<{ services: { service_slug: string }[] }>(await cli(["service", "list", "--json"]));
    assert.deepEqual(
      list.services.map((s) => s.service_slug),
      ["echo"],
    );
  });

  test("a signed request is refused until approved, then reaches the upstream with the credential", async () => {
    const init = await cli(["init", NAMESPACE, "--json"]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(
      json<{ identityPath: string }>(init).identityPath,
      new RegExp(`^${volumeDir("agent-home")}/`),
    );

    const refused = json<{ status: number; headers: Record<string, string> }>(
      await cli(["request", "GET", "/proxy/echo/v1/ping", "--json"]),
    );
    assert.equal(refused.status, 403);
    assert.equal(refused.headers["x-sigilum-code"], "AUTH_CLAIM_REQUIRED");

    let claimId: string | undefined;
    for (let i = 0; i < 60 && !claimId; i++) {
      const claims = json<{ claims: { claim_id: string; service: string; status: string }[] }>(
        await cli(["approvals", "list", "--json"]),
      ).claims;
      claimId = claims.find((c) => c.service === "echo" && c.status === "pending")?.claim_id;
      if (!claimId) await sleep(250);
    }
    assert.ok(claimId, "the verifier filed the access request with the control plane");
    const approve = await cli(["approvals", "approve", claimId, "--json"]);
    assert.equal(approve.code, 0, approve.stderr);

    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = json<{ status: number }>(
        await cli(["request", "GET", "/proxy/echo/v1/ping", "--json"]),
      ).status;
      if (status !== 200) await sleep(250);
    }
    assert.equal(status, 200);
    const upstream = echo.requests.at(-1);
    assert.equal(upstream?.url, "/v1/ping");
    assert.equal(upstream?.headers.authorization, `Bearer ${upstreamSecret}`);
  });

  test("the pairing bridge, given the session `pairing start` printed, relays the owner's commands to the admin API", async () => {
    const started = await cli(["pairing", "start", "--json"]);
    assert.equal(started.code, 0, started.stderr);
    const session = json<{ session_id: string; pair_code: string; namespace: string }>(started);
    assert.equal(session.namespace, NAMESPACE);
    // `PAIRING_SESSION_ID=… PAIRING_CODE=… docker compose up -d pairing-bridge`: the container is recreated.
    await stop("pairing-bridge");
    await start(
      "pairing-bridge",
      "pairing-bridge",
      environmentOf("pairing-bridge", {
        PAIRING_SESSION_ID: session.session_id,
        PAIRING_CODE: session.pair_code,
      }),
    );
    // Ready (the chart's readiness path) once the link to the control plane is up.
    const bridge = `http://127.0.0.1:${ports.get("pairing-bridge")}`;
    let ready = 0;
    for (let i = 0; i < 120 && ready !== 200; i++) {
      ready = await fetch(`${bridge}/health/ready`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready !== 200) await sleep(250);
    }
    assert.equal(ready, 200, running.find((r) => r.name === "pairing-bridge")?.output());

    // The owner's dashboard call: through the control plane, over the bridge, to the proxy's admin API.
    const jwtSecret = (await readFile(join(volumeDir("secrets"), "jwt_secret"), "utf8")).trim();
    const token = await mintOwnerToken({ namespace: NAMESPACE, secret: jwtSecret, ttlSeconds: 300 });
    const relayed = await fetch(`http://127.0.0.1:${ports.get("control-plane")}/v1/gateway/pairing/command`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ session_id: session.session_id, method: "GET", path: "/api/admin/connections" }),
    });
    const answer = (await relayed.json()) as { status: number; body: string | null };
    assert.equal(relayed.status, 200, JSON.stringify(answer));
    assert.equal(answer.status, 200, "the proxy took the bridge's admin token");
    const listed = JSON.parse(answer.body ?? "{}") as { connections: { id: string }[] };
    assert.deepEqual(
      listed.connections.map((c) => c.id),
      ["echo"],
    );
  });
});
