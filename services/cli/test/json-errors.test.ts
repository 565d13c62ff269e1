import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runChild, runInProcess, tempDir } from "./support/run.ts";

/** `--json` holds for failures too: one `{error, code}` document on stdout, the human message on stderr, exit 1. */
describe("--json errors", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = await tempDir("sigilum-cli-json-errors-");
    env = { HOME: dir.path, SIGILUM_HOME: `${dir.path}/home`, SIGILUM_DATA_DIR: `${dir.path}/data` };
  });
  after(() => dir.cleanup());

  const parsed = (stdout: string) => JSON.parse(stdout) as { error: string; code: string; hint?: string };

  test("a command error: code, message and what to do next", async () => {
    const result = await runInProcess(["init", "--json"], { env });
    assert.equal(result.code, 1);
    const error = parsed(result.stdout);
    assert.equal(error.code, "CLI_ERROR");
    assert.match(error.error, /No namespace given/);
    assert.match(error.hint ?? "", /sigilum up/);
    assert.match(result.stderr, /error: No namespace given/);
  });

  test("a usage error (unknown option) is JSON too", async () => {
    const result = await runInProcess(["status", "--json", "--bogus"], { env });
    assert.equal(result.code, 1);
    assert.equal(parsed(result.stdout).code, "USAGE");
  });

  test("a control-plane that cannot be reached, as a separate process", async () => {
    const result = await runChild(
      ["approvals", "list", "--json", "--namespace", "alice", "--api-url", "http://127.0.0.1:9"],
      {
        env: { PATH: process.env.PATH, ...env },
      },
    );
    assert.equal(result.code, 1);
    const error = parsed(result.stdout);
    assert.equal(typeof error.error, "string");
    assert.match(error.code, /^[A-Z][A-Z0-9_]+$/);
  });
});

describe("version", () => {
  test("every component, Node and redis-server, as JSON", async () => {
    const result = await runInProcess(["version", "--json"], { env: { PATH: process.env.PATH } });
    assert.equal(result.code, 0, result.stderr);
    const body = JSON.parse(result.stdout) as {
      components: Record<string, string>;
      runtime: Record<string, string>;
    };
    for (const name of ["cli", "verifier", "proxy", "control-plane", "pairing-bridge", "shared", "sdk"])
      assert.match(body.components[name] ?? "", /^\d+\.\d+\.\d+/, name);
    assert.equal(body.runtime.node, process.version);
    assert.match(body.runtime["redis-server"] ?? "", /^\d+\.\d+/);
  });
});
