import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isolatedStackEnv, type RecordingServer, startEchoServer } from "@sigilum-gw/testkit/network";
import { createTestDatabase, type TestDatabase } from "@sigilum-gw/testkit/postgres";
import { type RunResult, runScript, serviceMain, stdoutJson } from "@sigilum-gw/testkit/process";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";

/**
 * The whole local gateway as a person runs it (`sigilum up`: control plane on PostgreSQL, verifier, proxy,
 * usage worker, real Redis) with one agent identity and one service whose upstream is a loopback echo server.
 */
export interface DashboardStack {
  env: NodeJS.ProcessEnv;
  namespace: string;
  /** The control plane as the browser reaches it (localhost: WebAuthn refuses IP addresses). */
  dashboardUrl: string;
  echo: RecordingServer;
  upstreamSecret: string;
  /** The control plane's PostgreSQL database (to scan it for secrets). */
  databaseUrl: string;
  /** Where `sigilum up` writes each service's log (`<service>.log`). */
  logDir: string;
  sigilum(args: string[], stdin?: string): Promise<RunResult>;
  /** The owner's JWT as the CLI stored it (for API checks beside the browser). */
  ownerToken(): Promise<string>;
  stop(): Promise<void>;
}

/** `env` is added to the stack's environment (e.g. the control plane's webhook settings). */
export async function startDashboardStack(env: Record<string, string> = {}): Promise<DashboardStack> {
  const dir = await mkdtemp(join(tmpdir(), "sigilum-dashboard-"));
  const echo = await startEchoServer();
  const prefix = randomPrefix();
  const db: TestDatabase = await createTestDatabase("sigilum_dash_");
  const stackEnv: NodeJS.ProcessEnv = {
    ...env,
    PATH: process.env.PATH,
    ...isolatedStackEnv(dir),
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATABASE_URL: db.url,
    LOG_LEVEL: "info",
    // `auth login --open` must not start a real browser here: the test's Chromium opens the link.
    BROWSER: "true",
    VERIFIER_CLAIM_SUBMIT_DEDUPE_SECONDS: "2",
  };
  const sigilum = (args: string[], stdin = "") =>
    runScript(serviceMain("cli"), args, { env: stackEnv, stdin, timeoutMs: 120_000 });
  const stop = async () => {
    await sigilum(["down"]).catch(() => undefined);
    await echo.close();
    await deletePrefix(prefix);
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const up = await sigilum(["up", "--json"]);
    if (up.code !== 0) throw new Error(`sigilum up failed: ${up.stderr}`);
    const started = stdoutJson<{ gateway_namespace: string; urls: { control_plane: string } }>(up);
    const namespace = started.gateway_namespace;
    const controlPlanePort = new URL(started.urls.control_plane).port;
    const init = await sigilum(["init", namespace, "--json"]);
    if (init.code !== 0) throw new Error(`sigilum init failed: ${init.stderr}`);
    const upstreamSecret = `dash-upstream-${randomBytes(12).toString("hex")}`;
    const add = await sigilum(
      ["service", "add", "echo", "--upstream-base-url", echo.url, "--upstream-secret-stdin", "--json"],
      `${upstreamSecret}\n`,
    );
    if (add.code !== 0) throw new Error(`sigilum service add failed: ${add.stderr}`);
    return {
      env: stackEnv,
      namespace,
      dashboardUrl: `http://localhost:${controlPlanePort}`,
      echo,
      upstreamSecret,
      databaseUrl: db.url,
      logDir: join(dir, "data", "logs"),
      sigilum,
      ownerToken: async () =>
        (
          await readFile(
            join(stackEnv.OPENCLAW_HOME as string, ".sigilum", `owner-token-${namespace}.jwt`),
            "utf8",
          )
        ).trim(),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
