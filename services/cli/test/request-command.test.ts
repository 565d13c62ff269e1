import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { createSigilumVerifier } from "@sigilum-gw/shared/http-signatures";
import { type RecordingServer, startRecordingServer, unusedPort } from "@sigilum-gw/testkit/network";
import { parseHeaderOption, targetUrl } from "../src/commands/request.ts";
import { runInProcess, tempDir } from "./support/run.ts";

describe("sigilum request", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let server: RecordingServer;
  let origin: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await tempDir("sigilum-cli-request-");
    env = { HOME: dir.path, SIGILUM_HOME: `${dir.path}/home`, SIGILUM_DATA_DIR: `${dir.path}/data` };
    const verifier = createSigilumVerifier();
    server = await startRecordingServer((req, res, body) => {
      const result = verifier.verify({
        method: req.method ?? "GET",
        targetUri: `http://${req.headers.host}${req.url}`,
        headers: req.headersDistinct,
        body: body.length > 0 ? body : null,
      });
      if (!result.ok) {
        res.writeHead(401, { "content-type": "application/json" });
        return res.end(JSON.stringify({ code: result.code }));
      }
      res.writeHead(req.url?.startsWith("/missing") ? 404 : 200, {
        "content-type": "application/json",
        "x-seen": "1",
      });
      res.end(JSON.stringify({ subject: result.subject, namespace: result.namespace }));
    });
    origin = server.url;
    env.SIGILUM_GATEWAY_URL = origin;
    assert.equal((await runInProcess(["init", "alice"], { env })).code, 0);
  });

  after(async () => {
    await server.close();
    await dir.cleanup();
  });

  test("signs a GET, prints status, headers and body, exits 0", async () => {
    const result = await runInProcess(["request", "GET", `${origin}/v1/ping?x=1`], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^HTTP 200 OK\n/);
    assert.match(result.stdout, /\nx-seen: 1\n/);
    assert.match(result.stdout, /\n\n\{"subject":"alice","namespace":"alice"\}\n$/);
    assert.equal(server.requests.at(-1)?.url, "/v1/ping?x=1");
  });

  test("--json prints {status, headers, body}; --subject, --header and --data are signed and sent", async () => {
    const result = await runInProcess(
      [
        "request",
        "post",
        `${origin}/v1/transfer`,
        "--data",
        '{"amount":3}',
        "-H",
        "content-type: application/json",
        "--subject",
        "customer-1",
        "--json",
      ],
      { env },
    );
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.deepEqual(Object.keys(out), ["status", "headers", "body"]);
    assert.equal(out.status, 200);
    assert.deepEqual(JSON.parse(out.body), { subject: "customer-1", namespace: "alice" });
    const last = server.requests.at(-1)!;
    assert.equal(last.method, "POST");
    assert.equal(last.body, '{"amount":3}');
    assert.equal(last.headers["content-type"], "application/json");
    assert.match(String(last.headers["content-digest"]), /^sha-256=:/);
  });

  test("--data @file and a path relative to the gateway URL", async () => {
    const file = `${dir.path}/body.json`;
    await writeFile(file, "[1,2,3]");
    const result = await runInProcess(["request", "PUT", "/v1/items", "--data", `@${file}`, "--json"], {
      env,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(server.requests.at(-1)?.url, "/v1/items");
    assert.equal(server.requests.at(-1)?.body, "[1,2,3]");
  });

  test("--data @- reads the body from standard input", async () => {
    const result = await runInProcess(["request", "POST", "/v1/stdin", "--data", "@-"], {
      env,
      stdin: "from stdin",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(server.requests.at(-1)?.body, "from stdin");
  });

  test("an HTTP error status still prints the answer but exits 1", async () => {
    const result = await runInProcess(["request", "GET", "/missing", "--json"], { env });
    assert.equal(result.code, 1);
    assert.equal(JSON.parse(result.stdout).status, 404);
  });

  test("an unreachable server is an error on stderr with exit 1", async () => {
    const port = await unusedPort();
    const result = await runInProcess(["request", "GET", `http://127.0.0.1:${port}/x`], { env });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Request to http:\/\/127\.0\.0\.1:\d+\/x failed \(ECONNREFUSED\)/);
    assert.equal(result.stdout, "");
  });

  test("bad input is refused before anything is sent", async () => {
    const before = server.requests.length;
    for (const argv of [
      ["request", "G E T", "/x"],
      ["request", "GET", "ftp://example.com/"],
      ["request", "GET", "not a url"],
      ["request", "GET", "/x", "-H", "no-colon"],
      ["request", "GET", "/x", "-H", "bad name: v"],
      ["request", "GET", "/x", "--timeout", "0"],
      ["request", "GET", "/x", "--data", `@${dir.path}/does-not-exist`],
      ["request", "GET", "/x", "--namespace", "nobody"],
    ]) {
      const result = await runInProcess(argv, { env });
      assert.equal(result.code, 1, `${argv.join(" ")} should fail`);
      assert.match(result.stderr, /error/);
    }
    assert.equal(server.requests.length, before);
  });
});

describe("request argument helpers", () => {
  test("parseHeaderOption accumulates name/value pairs and trims", () => {
    assert.deepEqual(parseHeaderOption("X-A: 1", [["b", "2"]]), [
      ["b", "2"],
      ["X-A", "1"],
    ]);
    assert.deepEqual(parseHeaderOption("x-empty:"), [["x-empty", ""]]);
    assert.throws(() => parseHeaderOption(": v"), /Invalid --header/);
  });

  test("targetUrl: paths go to the gateway, absolute URLs stay as given (normalised)", () => {
    assert.equal(
      targetUrl("/proxy/x/y?z=1", "http://127.0.0.1:38100"),
      "http://127.0.0.1:38100/proxy/x/y?z=1",
    );
    assert.equal(targetUrl("HTTPS://API.Example.com:443/a", "http://g"), "https://api.example.com/a");
    assert.throws(() => targetUrl("file:///etc/passwd", "http://g"), /Unsupported URL scheme/);
  });
});
