import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import { runChild, tempDir } from "./support/run.ts";

async function listen(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe("sigilum up / down / status without a running stack", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await tempDir("sigilum-cli-stack-");
    env = {
      PATH: process.env.PATH,
      HOME: dir.path,
      SIGILUM_HOME: `${dir.path}/home`,
      SIGILUM_DATA_DIR: `${dir.path}/data`,
      SIGILUM_NAMESPACE: "alice",
    };
  });
  after(() => dir.cleanup());

  test("status says it is not running, exit 1; --json says running false", async () => {
    const text = await runChild(["status"], { env });
    assert.equal(text.code, 1);
    assert.match(text.stdout, /Sigilum local stack is not running\.\nStart it with: sigilum up/);
    const json = await runChild(["status", "--json"], { env });
    const out = JSON.parse(json.stdout);
    assert.equal(out.running, false);
    assert.equal(out.healthy, false);
    assert.deepEqual(
      out.services.map((s: { name: string }) => s.name),
      ["control-plane", "verifier", "proxy", "usage-worker"],
    );
  });

  test("down with nothing running succeeds and says so", async () => {
    const result = await runChild(["down"], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Sigilum local stack was not running\./);
  });

  test("unreachable Redis: a plain message with how to start it, exit 1, nothing created", async () => {
    const { server, port } = await listen();
    await new Promise((resolve) => server.close(resolve));
    const result = await runChild(["up"], {
      env: { ...env, REDIS_URL: `redis://:secretpw@127.0.0.1:${port}` },
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`Redis is not reachable at redis://:\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}`),
    );
    assert.match(result.stderr, /redis-server --daemonize yes/);
    assert.doesNotMatch(result.stderr, /secretpw/);
    assert.equal(result.stdout, "");
    await assert.rejects(readdir(`${dir.path}/data`), /ENOENT/);
  });

  test("unreachable PostgreSQL (DATABASE_URL): a plain message, exit 1, nothing created", async () => {
    const { server, port } = await listen();
    await new Promise((resolve) => server.close(resolve));
    const result = await runChild(["up"], {
      env: { ...env, DATABASE_URL: `postgres://postgres:pgpw@127.0.0.1:${port}/x` },
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`PostgreSQL is not reachable at postgres://postgres:\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}/x`),
    );
    assert.match(result.stderr, /unset DATABASE_URL: the stack then runs its own PostgreSQL server/);
    assert.doesNotMatch(result.stderr, /pgpw/);
    await assert.rejects(readdir(`${dir.path}/data`), /ENOENT/);
  });

  test("no PostgreSQL server installed (DATABASE_URL unset): how to install it, exit 1, nothing created", async () => {
    const missing = { ...env, SIGILUM_POSTGRES_BIN_DIR: `${dir.path}/no-postgres-here` };
    const result = await runChild(["up"], { env: missing });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /PostgreSQL \(postgres, initdb\) was not found in .*no-postgres-here/);
    assert.match(result.stderr, /sudo apt-get install postgresql/);
    assert.match(result.stderr, /brew install postgresql@17/);
    assert.match(result.stderr, /DATABASE_URL=postgres:\/\//);
    const json = await runChild(["up", "--json"], { env: missing });
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stdout).code, "POSTGRES_SERVER_MISSING");
    await assert.rejects(readdir(`${dir.path}/data`), /ENOENT/);
  });

  test("a port in use names the variable that moves it, exit 1", async () => {
    const { server, port } = await listen();
    try {
      // Every other listener on port 0: a default port (38100-38130, inside Linux's ephemeral range) held by
      // anything else on the machine would otherwise be the one reported.
      const others = {
        CONTROL_PLANE_ADDR: "127.0.0.1:0",
        VERIFIER_ADDR: "127.0.0.1:0",
        USAGE_WORKER_ADDR: "127.0.0.1:0",
      };
      const result = await runChild(["up"], {
        env: { ...env, ...others, GATEWAY_ADDR: `127.0.0.1:${port}` },
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port} \\(GATEWAY_ADDR\\)`));
      assert.match(result.stderr, /GATEWAY_ADDR=127\.0\.0\.1:<port> sigilum up/);
    } finally {
      server.close();
    }
  });

  test("bad addresses and URLs in the environment are refused before anything starts", async () => {
    const addr = await runChild(["up"], { env: { ...env, VERIFIER_ADDR: "nowhere" } });
    assert.equal(addr.code, 1);
    assert.match(addr.stderr, /VERIFIER_ADDR="nowhere" is not a listen address/);
    const redis = await runChild(["up"], { env: { ...env, REDIS_URL: "http://127.0.0.1:6379" } });
    assert.equal(redis.code, 1);
    assert.match(redis.stderr, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
  });
});
