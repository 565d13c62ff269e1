import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { initIdentity } from "@sigilum-gw/shared/identity";
import { runChild, runInProcess, tempDir } from "./support/run.ts";

describe("sigilum init / list (spec §D.8 output shapes)", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await tempDir("sigilum-cli-identity-");
    env = { HOME: dir.path, SIGILUM_HOME: `${dir.path}/home`, SIGILUM_DATA_DIR: `${dir.path}/data` };
  });
  after(() => dir.cleanup());

  test("list --json on an empty home: count 0, no namespaces, nothing on stderr", async () => {
    const result = await runInProcess(["list", "--json"], { env });
    assert.equal(result.code, 0);
    assert.deepEqual(JSON.parse(result.stdout), { command: "list", homeDir: null, count: 0, namespaces: [] });
    assert.equal(result.stderr, "");
  });

  test("list in text says there is nothing", async () => {
    const result = await runInProcess(["list"], { env });
    assert.equal(result.code, 0);
    assert.equal(result.stdout, "No identities found.\n");
  });

  test("init --json creates the identity file (0600) with the Sigilum fields", async () => {
    const result = await runInProcess(["init", "alice", "--json"], { env });
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.deepEqual(Object.keys(out), [
      "command",
      "created",
      "namespace",
      "did",
      "keyId",
      "publicKey",
      "identityPath",
    ]);
    assert.equal(out.command, "init");
    assert.equal(out.created, true);
    assert.equal(out.did, "did:sigilum:alice");
    assert.match(out.keyId, /^did:sigilum:alice#ed25519-[0-9a-f]{16}$/);
    assert.match(out.publicKey, /^ed25519:[A-Za-z0-9+/]{43}=$/);
    assert.ok(out.identityPath.endsWith("identities/alice/identity.json"));
    assert.equal((await stat(out.identityPath)).mode & 0o777, 0o600);
  });

  test("a second init loads the same key; --force replaces it", async () => {
    const first = JSON.parse((await runInProcess(["init", "alice", "--json"], { env })).stdout);
    assert.equal(first.created, false);
    const text = await runInProcess(["init", "alice"], { env });
    assert.match(
      text.stdout,
      /^Loaded existing Sigilum identity\nnamespace: alice\ndid: did:sigilum:alice\nkeyId: /,
    );
    const forced = JSON.parse((await runInProcess(["init", "alice", "--force", "--json"], { env })).stdout);
    assert.equal(forced.created, true);
    assert.notEqual(forced.publicKey, first.publicKey);
  });

  test("--home wins over SIGILUM_HOME and is echoed by list", async () => {
    const other = `${dir.path}/other`;
    assert.equal((await runInProcess(["init", "bob", "--home", other], { env })).code, 0);
    const listed = JSON.parse((await runInProcess(["list", "--home", other, "--json"], { env })).stdout);
    assert.deepEqual(listed, { command: "list", homeDir: other, count: 1, namespaces: ["bob"] });
  });

  test("a missing or invalid namespace is a usage error with exit code 1", async () => {
    const missing = await runInProcess(["init"], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No namespace given, and there is no local gateway/);
    assert.match(missing.stderr, /sigilum up/);
    const invalid = await runInProcess(["init", "a_b"], { env });
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /Namespace must match/);
    assert.equal(invalid.stdout, "");
  });

  test("init without a namespace takes the local gateway's; another namespace gets a loud warning", async () => {
    const gatewayEnv = {
      ...env,
      SIGILUM_DATA_DIR: `${dir.path}/gw-data`,
      SIGILUM_HOME: `${dir.path}/gw-agent`,
    };
    await initIdentity({ namespace: "team-gw", homeDir: `${dir.path}/gw-data/gateway-home` });
    const init = await runInProcess(["init", "--json"], { env: gatewayEnv });
    assert.equal(init.code, 0, init.stderr);
    assert.equal(JSON.parse(init.stdout).namespace, "team-gw");
    assert.equal(init.stderr, "");
    const other = await runInProcess(["init", "someone-else"], { env: gatewayEnv });
    assert.equal(other.code, 0);
    assert.match(other.stderr, /WARNING: the local gateway serves namespace "team-gw", not "someone-else"/);
  });

  test("request from another namespace to the local gateway: a clear error naming the gateway's namespace", async () => {
    const gatewayEnv = {
      ...env,
      SIGILUM_DATA_DIR: `${dir.path}/gw2-data`,
      SIGILUM_HOME: `${dir.path}/gw2-agent`,
      SIGILUM_GATEWAY_URL: "http://127.0.0.1:9",
    };
    await initIdentity({ namespace: "team-gw", homeDir: `${dir.path}/gw2-data/gateway-home` });
    await initIdentity({ namespace: "other-ns", homeDir: `${dir.path}/gw2-agent` });
    const result = await runInProcess(["request", "GET", "/proxy/my-api/v1/x"], { env: gatewayEnv });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /local gateway serves namespace "team-gw"; a request signed as "other-ns"/);
    assert.match(result.stderr, /sigilum init/);
    const json = await runInProcess(["request", "GET", "/proxy/my-api/v1/x", "--json"], { env: gatewayEnv });
    assert.equal(JSON.parse(json.stdout).code, "NAMESPACE_MISMATCH");
  });

  test("as a child process: the shebang entry point prints and exits like the in-process run", async () => {
    const result = await runChild(["list", "--json"], { env: { PATH: process.env.PATH, ...env } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).namespaces, ["alice"]);
  });
});

describe("program-level behaviour", () => {
  test("no arguments: usage on stderr, exit 1", async () => {
    const result = await runInProcess([]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Usage: sigilum/);
  });

  test("--version and --help exit 0", async () => {
    const version = await runInProcess(["--version"]);
    assert.equal(version.code, 0);
    assert.equal(version.stdout, "sigilum 0.1.0\n");
    const help = await runInProcess(["--help"]);
    assert.equal(help.code, 0);
    for (const command of [
      "up",
      "down",
      "status",
      "init",
      "list",
      "auth",
      "service",
      "approvals",
      "request",
    ]) {
      assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`));
    }
  });

  test("unknown commands and options exit 1 with a hint", async () => {
    const unknown = await runInProcess(["bogus"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown command 'bogus'/);
    assert.match(unknown.stderr, /sigilum --help/);
    const option = await runInProcess(["list", "--nope"]);
    assert.equal(option.code, 1);
    assert.match(option.stderr, /unknown option '--nope'/);
  });
});
