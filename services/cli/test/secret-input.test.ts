import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import type { CliContext } from "../src/context.ts";
import { readSecret } from "../src/lib/secret-input.ts";
import { tempDir } from "./support/run.ts";

function ctxWith(stdin: string, env: NodeJS.ProcessEnv = {}, interactive = false): CliContext {
  return {
    stdout: { write: () => true },
    stderr: { write: () => true },
    stdin: (async function* () {
      if (stdin) yield Buffer.from(stdin);
    })(),
    env,
    cwd: "/",
    interactive,
    exitCode: 0,
  };
}

const options = { label: "Upstream secret", flags: "--a, --b" };

describe("readSecret", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir("sigilum-cli-secret-");
  });
  after(() => dir.cleanup());

  test("each source gives the trimmed value", async () => {
    assert.equal(await readSecret(ctxWith(""), { value: " v1 " }, options), "v1");
    assert.equal(await readSecret(ctxWith("", { S: "v2\n" }), { env: "S" }, options), "v2");
    await writeFile(`${dir.path}/s`, "v3\n");
    assert.equal(await readSecret(ctxWith(""), { file: `${dir.path}/s` }, options), "v3");
    assert.equal(await readSecret(ctxWith("v4\r\n"), { stdin: true }, options), "v4");
  });

  test("two sources, no source off a terminal, empty, multi-line and missing inputs are refused", async () => {
    await assert.rejects(
      readSecret(ctxWith(""), { value: "a", env: "S" }, options),
      /exactly one secret source/,
    );
    await assert.rejects(readSecret(ctxWith(""), {}, options), /No upstream secret given/);
    await assert.rejects(readSecret(ctxWith("   \n"), { stdin: true }, options), /is empty/);
    await assert.rejects(readSecret(ctxWith("a\nb"), { stdin: true }, options), /single line/);
    await assert.rejects(readSecret(ctxWith(""), { env: "UNSET" }, options), /UNSET is not set/);
    await assert.rejects(
      readSecret(ctxWith(""), { file: `${dir.path}/none` }, options),
      /Cannot read the secret file/,
    );
  });

  test("the secret never appears in an error message", async () => {
    await assert.rejects(
      readSecret(ctxWith("hunter2\nhunter3"), { stdin: true }, options),
      (error: Error) => {
        assert.doesNotMatch(error.message, /hunter/);
        return true;
      },
    );
  });
});
