import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import { unusedPort } from "@sigilum-gw/testkit/network";
import { runInProcess, tempDir } from "./support/run.ts";

describe("sigilum auth", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let env: NodeJS.ProcessEnv;
  const secret = "local-test-secret-0123456789-abcdefghijkl";

  before(async () => {
    dir = await tempDir("sigilum-cli-auth-");
    // No control plane listens there: login still stores the token and says it could not check it.
    env = {
      HOME: dir.path,
      OPENCLAW_HOME: `${dir.path}/openclaw`,
      SIGILUM_HOME: `${dir.path}/home`,
      SIGILUM_DATA_DIR: `${dir.path}/data`,
      SIGILUM_API_URL: `http://127.0.0.1:${await unusedPort()}`,
    };
  });
  after(() => dir.cleanup());

  test("oss-local login issues an HS256 owner token from JWT_SECRET and stores it 0600", async () => {
    const result = await runInProcess(["auth", "login", "--namespace", "alice", "--json"], {
      env: { ...env, JWT_SECRET: secret },
    });
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.equal(out.command, "auth login");
    assert.equal(out.mode, "oss-local");
    assert.equal(out.namespace, "alice");
    assert.equal(out.verified, false);
    assert.equal(out.token, undefined, "the token is not printed unless asked");
    assert.equal(out.token_file, `${dir.path}/openclaw/.sigilum/owner-token-alice.jwt`);
    assert.match(result.stderr, /could not check the token/i);
    const token = (await readFile(out.token_file, "utf8")).trim();
    assert.equal((await stat(out.token_file)).mode & 0o777, 0o600);
    const [header, payload, signature] = token.split(".");
    const expected = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
    assert.equal(signature, expected);
    const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString());
    assert.deepEqual(Object.keys(claims), ["sub", "email", "namespace", "iss", "aud", "iat", "exp"]);
    assert.equal(claims.exp - claims.iat, 604800);
  });

  test("the secret comes from the local control plane's data directory when JWT_SECRET is unset", async () => {
    const { writeSecretFile } = await import("../src/core/files.ts");
    await writeSecretFile(
      `${dir.path}/data/control-plane/jwt-secret`,
      "from-the-data-dir-secret-0123456789abcdef",
    );
    const result = await runInProcess(["auth", "refresh", "--namespace", "carol", "--token-only"], { env });
    assert.equal(result.code, 0, result.stderr);
    const token = result.stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString());
    assert.equal(
      token,
      await mintOwnerToken({
        namespace: "carol",
        secret: "from-the-data-dir-secret-0123456789abcdef",
        now: Number(claims.iat) * 1000,
      }),
    );
  });

  test("without any secret oss-local explains how to get one", async () => {
    const result = await runInProcess(["auth", "login", "--namespace", "dave"], {
      env: { ...env, SIGILUM_DATA_DIR: `${dir.path}/empty` },
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Unable to resolve JWT_SECRET for local token issuance/);
    assert.match(result.stderr, /sigilum up/);
  });

  test("managed mode needs a token; --token-stdin reads one", async () => {
    const missing = await runInProcess(["auth", "login", "--mode", "managed", "--namespace", "alice"], {
      env,
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Managed mode requires an explicit owner JWT/);
    const token = await mintOwnerToken({ namespace: "erin", secret: "elsewhere" });
    const given = await runInProcess(
      ["auth", "login", "--mode", "managed", "--namespace", "erin", "--token-stdin", "--json"],
      {
        env,
        stdin: `${token}\r\n`,
      },
    );
    assert.equal(given.code, 0, given.stderr);
    assert.equal(JSON.parse(given.stdout).mode, "managed");
    assert.equal(
      (await readFile(`${dir.path}/openclaw/.sigilum/owner-token-erin.jwt`, "utf8")).trim(),
      token,
    );
  });

  test("a token for another namespace, a non-JWT and a bad mode are refused", async () => {
    const other = await mintOwnerToken({ namespace: "mallory", secret: "x" });
    const wrongNs = await runInProcess(["auth", "login", "--namespace", "alice", "--token", other], { env });
    assert.equal(wrongNs.code, 1);
    assert.match(wrongNs.stderr, /for namespace "mallory", not "alice"/);
    const notJwt = await runInProcess(["auth", "login", "--namespace", "alice", "--token", "hello"], { env });
    assert.equal(notJwt.code, 1);
    assert.match(notJwt.stderr, /not a JWT/);
    const mode = await runInProcess(["auth", "login", "--mode", "cloud"], { env });
    assert.equal(mode.code, 1);
    assert.match(mode.stderr, /--mode must be managed or oss-local/);
  });

  test("show prints the stored token's claims, or says how to log in", async () => {
    const shown = await runInProcess(["auth", "show", "--namespace", "alice", "--json"], { env });
    assert.equal(shown.code, 0, shown.stderr);
    const out = JSON.parse(shown.stdout);
    assert.equal(out.namespace, "alice");
    assert.equal(out.subject, "user_local_alice");
    assert.equal(out.expired, false);
    const only = await runInProcess(["auth", "show", "--namespace", "alice", "--token-only"], { env });
    assert.match(only.stdout, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const missing = await runInProcess(["auth", "show", "--namespace", "zed"], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Token file not found: .*owner-token-zed\.jwt/);
    assert.match(missing.stderr, /sigilum auth login --namespace zed/);
  });
});
