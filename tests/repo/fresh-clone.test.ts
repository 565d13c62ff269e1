import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

/**
 * A new user's first two commands, on a clone in a temporary folder (nothing beside it): `npm install` run by
 * the machine's own Node and npm (this repository's node_modules/.bin and .tools taken off PATH) must bring
 * Node 24 for every npm script, and the repository's own tests must find everything they read inside it.
 */

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const run = promisify(execFile);

/** PATH without anything from this checkout: what a fresh shell on this machine has. */
const systemPath = (process.env.PATH ?? "")
  .split(delimiter)
  .filter((dir) => dir && !resolve(dir).startsWith(REPO_ROOT))
  .join(delimiter);

describe("a fresh clone", { timeout: 600_000 }, () => {
  let dir: string;
  let clone: string;
  const env = () => ({
    PATH: systemPath,
    HOME: dir,
    npm_config_cache: join(process.env.HOME ?? dir, ".npm"),
  });
  const sh = (file: string, args: string[], cwd = clone) =>
    run(file, args, { cwd, env: env(), timeout: 540_000, maxBuffer: 32 * 1024 * 1024 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sigilum-clone-"));
    clone = join(dir, "gateway");
    await run("git", ["clone", "--quiet", REPO_ROOT, clone]);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("has nothing beside it", async () => {
    await assert.rejects(stat(join(dir, "shared")));
  });

  test("npm install with the system Node gives the npm scripts Node 24", { timeout: 540_000 }, async (t) => {
    const system = (await sh("node", ["--version"], dir)).stdout.trim();
    t.diagnostic(`system node ${system}`);
    await sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"]);
    const { stdout } = await sh("npm", ["exec", "--", "node", "--version"]);
    assert.match(stdout.trim(), /^v2[4-9]\.|^v[3-9]\d\./);
    const cli = await sh("npm", ["exec", "--", "sigilum", "--version"]);
    assert.match(cli.stdout, /^sigilum \d/);
  });

  test("a direct run on an older Node prints one line saying what to do", async (t) => {
    const major = Number((await sh("node", ["-p", "process.versions.node.split('.')[0]"])).stdout.trim());
    const direct = sh("node", [join("services", "cli", "bin", "sigilum.mjs"), "--version"]);
    if (major >= 24) {
      t.diagnostic("the system Node is already 24: the bin runs directly");
      assert.match((await direct).stdout, /^sigilum \d/);
      return;
    }
    const failure = await direct.then(
      () => assert.fail("an older Node must refuse"),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failure.code, 1);
    const lines = failure.stderr.trim().split("\n");
    assert.equal(lines.length, 1, failure.stderr);
    assert.match(lines[0] ?? "", /needs Node 24.*npm install/);
  });

  test("the signature-vector tests pass inside the clone", async () => {
    const { stdout } = await sh("npm", [
      "exec",
      "--",
      "node",
      "--test",
      "--test-reporter=tap",
      "packages/shared/test/vectors.test.ts",
    ]);
    assert.match(stdout, /# fail 0/);
    assert.match(stdout, /# pass [1-9]/);
  });
});
