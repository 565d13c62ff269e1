import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { unusedPort } from "@sigilum-gw/testkit/network";
import { runInProcess, tempDir } from "./support/run.ts";

/** Argument and session checks of `service` and `approvals` that must fail before any network call. */
describe("service and approvals refuse bad input before calling anything", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await tempDir("sigilum-cli-owner-");
    const port = await unusedPort();
    env = {
      HOME: dir.path,
      OPENCLAW_HOME: `${dir.path}/openclaw`,
      SIGILUM_HOME: `${dir.path}/home`,
      SIGILUM_DATA_DIR: `${dir.path}/data`,
      SIGILUM_NAMESPACE: "alice",
      // Nothing listens here: a test that reached the network would fail with "Cannot reach".
      SIGILUM_API_URL: `http://127.0.0.1:${port}`,
      GATEWAY_ADMIN_URL: `http://127.0.0.1:${port}`,
      JWT_SECRET: "unit-test-secret-0123456789abcdefghijklmnop",
    };
  });
  after(() => dir.cleanup());

  const cases: [string, string[], RegExp][] = [
    ["missing slug", ["service", "add"], /Missing service slug/],
    ["invalid slug", ["service", "add", "Bad_Slug"], /Invalid service slug "Bad_Slug"/],
    ["slug given twice", ["service", "add", "one", "--service-slug", "two"], /Give the service slug once/],
    [
      "gateway mode without upstream",
      ["service", "add", "echo", "--mode", "gateway"],
      /Gateway mode needs --upstream-base-url/,
    ],
    [
      "native mode with upstream",
      ["service", "add", "echo", "--mode", "native", "--upstream-base-url", "http://x"],
      /only applies to --mode gateway/,
    ],
    [
      "upstream with credentials",
      ["service", "add", "echo", "--upstream-base-url", "https://u:p@example.com"],
      /must not carry credentials/,
    ],
    [
      "upstream not http",
      ["service", "add", "echo", "--upstream-base-url", "ftp://example.com"],
      /must be http\(s\)/,
    ],
    [
      "unknown auth mode",
      ["service", "add", "echo", "--auth-mode", "basic"],
      /Allowed choices are bearer, header_key, query_param/,
    ],
    [
      "no secret off a terminal",
      ["service", "add", "echo", "--upstream-base-url", "http://127.0.0.1:1"],
      /No upstream secret given/,
    ],
    [
      "two secret sources",
      ["service", "secret", "set", "echo", "--value", "a", "--upstream-secret-env", "X"],
      /exactly one secret source/,
    ],
    ["invalid claim id", ["approvals", "approve", "../x"], /Invalid claim id/],
    ["bad page size", ["approvals", "list", "--limit", "0"], /--limit must be 1-200/],
    [
      "unknown status",
      ["approvals", "list", "--status", "maybe"],
      /Allowed choices are pending, approved, rejected, revoked, expired/,
    ],
    ["bad namespace", ["approvals", "list", "--namespace", "NO_PE"], /--namespace: Namespace must match/],
  ];

  for (const [name, argv, expected] of cases) {
    test(name, async () => {
      const result = await runInProcess(argv, { env });
      assert.equal(result.code, 1, `${argv.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, expected);
      assert.doesNotMatch(result.stderr, /Cannot reach/);
      assert.equal(result.stdout, "");
    });
  }

  test("with a valid request but no control plane, the error says where it looked and what to start", async () => {
    const result = await runInProcess(["approvals", "list"], { env });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /Cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
    assert.match(result.stderr, /sigilum up/);
  });

  test("without a token, a local secret or JWT_SECRET, owner commands say how to log in", async () => {
    const { JWT_SECRET: _unused, ...noSecret } = env;
    const result = await runInProcess(["approvals", "list", "--namespace", "zed"], { env: noSecret });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /No namespace-owner token for "zed"/);
    assert.match(result.stderr, /sigilum auth login --namespace zed/);
  });
});
