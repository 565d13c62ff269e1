import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  docsAnchorFor,
  ERROR_CATALOGUE,
  ERROR_CODES,
  ERROR_DOCS_BASE_URL,
  type ErrorCode,
  errorEnvelope,
  GatewayError,
  renderErrorDocs,
  rfc3339Now,
  sendCaughtError,
  sendError,
} from "../src/errors.ts";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../scripts/generate-error-docs.ts", import.meta.url));
const DOCS = fileURLToPath(new URL("../../../docs/errors.md", import.meta.url));

const SIGILUM_CODES: Record<string, number> = {
  AUTH_HEADERS_INVALID: 403,
  AUTH_SIGNATURE_INVALID: 403,
  AUTH_SIGNED_COMPONENTS_INVALID: 403,
  AUTH_IDENTITY_INVALID: 403,
  AUTH_NONCE_INVALID: 403,
  AUTH_REPLAY_DETECTED: 403,
  AUTH_CLAIMS_LOOKUP_FAILED: 403,
  AUTH_CLAIM_REQUIRED: 403,
  AUTH_CLAIM_SUBMIT_RATE_LIMITED: 429,
  AUTH_FORBIDDEN: 403,
  ADMIN_TOKEN_NOT_CONFIGURED: 500,
  ADMIN_TOKEN_REQUIRED: 403,
  ADMIN_LOOPBACK_REQUIRED: 403,
  ADMIN_TOKEN_OR_LOOPBACK_REQUIRED: 403,
  UPSTREAM_ERROR: 502,
  ROTATION_REQUIRED: 403,
  INVALID_REFRESH_MODE: 400,
  MCP_DISCOVERY_FAILED: 502,
  MCP_TOOL_FORBIDDEN: 403,
  MCP_TOOL_RATE_LIMITED: 429,
  MCP_CIRCUIT_OPEN: 503,
  MCP_TOOL_CALL_FAILED: 502,
  NOT_READY: 503,
  METHOD_NOT_ALLOWED: 405,
  NOT_FOUND: 404,
  REQUEST_BODY_TOO_LARGE: 413,
};

describe("catalogue", () => {
  test("every Sigilum code of spec §8.3 is present with its status (AUTH_CLAIMS_UNAVAILABLE is ours: 503)", () => {
    for (const [code, status] of Object.entries(SIGILUM_CODES)) {
      assert.equal(ERROR_CATALOGUE[code as ErrorCode]?.status, status, code);
    }
    assert.equal(ERROR_CATALOGUE.AUTH_CLAIMS_UNAVAILABLE.status, 503);
  });

  test("our codes are present with the designed statuses", () => {
    const ours: Record<string, number> = {
      AUTH_AUTHZ_TOKEN_INVALID: 403,
      AUTH_PARTIAL_BODY: 413,
      INVALID_REQUEST: 400,
      CONNECTION_NOT_FOUND: 404,
      CONNECTION_EXISTS: 409,
      CREDENTIAL_VARIABLE_MISSING: 424,
      UPSTREAM_TIMEOUT: 504,
      PATH_TRAVERSAL: 400,
      SERVICE_UNAVAILABLE: 503,
      REDIS_UNAVAILABLE: 503,
      INTERNAL_ERROR: 500,
    };
    for (const [code, status] of Object.entries(ours)) {
      const spec = ERROR_CATALOGUE[code as ErrorCode];
      assert.equal(spec?.status, status, code);
      assert.equal((spec as { ours?: boolean }).ours, true, `${code} is marked ours`);
    }
  });

  test("every code has a status, a message, a when and a one-line remedy", () => {
    assert.ok(ERROR_CODES.length >= 37);
    for (const code of ERROR_CODES) {
      const spec = ERROR_CATALOGUE[code];
      assert.match(code, /^[A-Z][A-Z0-9_]+$/);
      assert.ok(Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 599, code);
      for (const text of [spec.message, spec.when, spec.remedy]) {
        assert.ok(text.trim().length > 5, `${code}: ${text}`);
        assert.ok(!text.includes("\n"), `${code}: one line`);
      }
    }
  });
});

describe("docs_url anchors (spec §8.1 rule)", () => {
  test("the rule's examples", () => {
    const url = (code: ErrorCode) => errorEnvelope(code, { requestId: "r" }).docs_url;
    assert.equal(url("AUTH_SIGNATURE_INVALID"), `${ERROR_DOCS_BASE_URL}#auth-errors`);
    assert.equal(url("ADMIN_TOKEN_REQUIRED"), `${ERROR_DOCS_BASE_URL}#admin-errors`);
    assert.equal(url("MCP_DISCOVERY_FAILED"), `${ERROR_DOCS_BASE_URL}#runtime-and-mcp-errors`);
    assert.equal(url("METHOD_NOT_ALLOWED"), `${ERROR_DOCS_BASE_URL}#generic-and-operator-errors`);
    assert.equal(url("NOT_READY"), `${ERROR_DOCS_BASE_URL}#health-and-readiness-errors`);
    assert.equal(url("MCP_CIRCUIT_OPEN"), `${ERROR_DOCS_BASE_URL}#health-and-readiness-errors`);
    assert.equal(url("AUTH_CLAIMS_UNAVAILABLE"), `${ERROR_DOCS_BASE_URL}#auth-errors`);
    assert.equal(docsAnchorFor(undefined, 400), undefined);
    assert.equal(docsAnchorFor(undefined, 404), "generic-and-operator-errors");
    assert.equal(docsAnchorFor("whatever", 503), "health-and-readiness-errors");
  });

  test("every code has an anchor and appears in the generated docs under it", () => {
    const docs = renderErrorDocs();
    for (const code of ERROR_CODES) {
      const anchor = docsAnchorFor(code, ERROR_CATALOGUE[code].status);
      assert.ok(anchor, code);
      const sectionStart = docs.indexOf(`## ${titleOf(anchor)}`);
      const codeAt = docs.indexOf(`### ${code}\n`);
      assert.ok(sectionStart >= 0 && codeAt > sectionStart, `${code} under ${anchor}`);
      assert.ok(docs.includes(ERROR_CATALOGUE[code].remedy), `${code} remedy in docs`);
    }
  });
});

function titleOf(anchor: string): string {
  return anchor
    .replace(/-errors$/, "")
    .split("-")
    .map((w, i) => (i === 0 ? w[0]!.toUpperCase() + w.slice(1) : w === "mcp" ? "MCP" : w))
    .join(" ");
}

describe("envelope", () => {
  test("shape, default and custom message, RFC 3339 UTC timestamp", () => {
    const env = errorEnvelope("AUTH_NONCE_INVALID", {
      requestId: "req-1",
      now: new Date("2026-02-20T00:00:00.120Z"),
    });
    assert.deepEqual(Object.keys(env).sort(), ["code", "docs_url", "error", "request_id", "timestamp"]);
    assert.equal(env.error, "invalid signature nonce");
    assert.equal(env.code, "AUTH_NONCE_INVALID");
    assert.equal(env.request_id, "req-1");
    assert.equal(env.timestamp, "2026-02-20T00:00:00.12Z");
    assert.equal(
      errorEnvelope("INVALID_REQUEST", { requestId: "r", message: "name is required" }).error,
      "name is required",
    );
    assert.equal(rfc3339Now(new Date("2026-02-20T00:00:00.000Z")), "2026-02-20T00:00:00Z");
    const now = errorEnvelope("NOT_FOUND", { requestId: "r" }).timestamp;
    assert.match(now, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/);
    assert.ok(Math.abs(Date.parse(now) - Date.now()) < 5000);
  });

  test("GatewayError carries code, status, message and cause", () => {
    const cause = new Error("socket hang up");
    const err = new GatewayError("UPSTREAM_ERROR", undefined, { cause });
    assert.equal(err.status, 502);
    assert.equal(err.code, "UPSTREAM_ERROR");
    assert.equal(err.message, "upstream request failed");
    assert.equal(err.cause, cause);
    assert.ok(err instanceof Error);
  });
});

describe("sendError over a real HTTP server", () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("partial");
        assert.equal(sendError(res, "UPSTREAM_ERROR", { requestId: "r-stream" }), false);
        return;
      }
      if (req.url === "/caught") {
        sendCaughtError(
          res,
          new GatewayError("MCP_TOOL_RATE_LIMITED", undefined, { headers: { "retry-after": "60" } }),
          {
            requestId: "r-caught",
          },
        );
        return;
      }
      if (req.url === "/crash") {
        sendCaughtError(res, new TypeError("secret-bearing internal detail"), { requestId: "r-crash" });
        return;
      }
      sendError(res, "AUTH_REPLAY_DETECTED", { requestId: "r-123", headers: { "x-extra": "1" } });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("status, headers and envelope body", async () => {
    const res = await fetch(`${base}/x`);
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("x-request-id"), "r-123");
    assert.equal(res.headers.get("x-extra"), "1");
    const body = (await res.json()) as Record<string, string>;
    assert.equal(body.code, "AUTH_REPLAY_DETECTED");
    assert.equal(body.error, "replay detected");
    assert.equal(body.request_id, "r-123");
    assert.equal(body.docs_url, `${ERROR_DOCS_BASE_URL}#auth-errors`);
  });

  test("a GatewayError answers with its code and headers; anything else is a bare INTERNAL_ERROR", async () => {
    const limited = await fetch(`${base}/caught`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "60");
    assert.equal(((await limited.json()) as { code: string }).code, "MCP_TOOL_RATE_LIMITED");
    const crash = await fetch(`${base}/crash`);
    assert.equal(crash.status, 500);
    const text = await crash.text();
    assert.equal(JSON.parse(text).code, "INTERNAL_ERROR");
    assert.ok(!text.includes("secret-bearing"));
  });

  test("after headers were sent the response is destroyed, never completed", async () => {
    await assert.rejects(async () => {
      const res = await fetch(`${base}/stream`);
      await res.text();
    });
  });
});

describe("docs/errors.md", () => {
  test("the checked-in file matches the catalogue", async () => {
    assert.equal(await readFile(DOCS, "utf8"), renderErrorDocs());
    await run(process.execPath, [SCRIPT, "--check"]);
  });

  test("--check detects drift and a missing file; generating fixes it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "errdocs-"));
    try {
      const file = join(dir, "errors.md");
      await writeFile(file, renderErrorDocs().replace("replay detected", "replay detected!"));
      await assert.rejects(
        run(process.execPath, [SCRIPT, "--check", "--file", file]),
        (err: Error & { code?: number; stderr?: string }) => {
          assert.equal(err.code, 1);
          assert.match(err.stderr ?? "", /out of date.*npm run docs:errors/);
          return true;
        },
      );
      await assert.rejects(
        run(process.execPath, [SCRIPT, "--check", "--file", join(dir, "missing.md")]),
        /missing/,
      );
      await run(process.execPath, [SCRIPT, "--file", file]);
      await run(process.execPath, [SCRIPT, "--check", "--file", file]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
