import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  CONTROL_PLANE_ERRORS,
  ERROR_DOCS_BASE_URL,
  isDocumentedControlPlaneCode,
} from "@sigilum-gw/shared/errors";
import { type Json, rand, setupService, useTestControlPlane } from "./helpers.ts";

/** DESIGN's error contract on the control plane: every error, every status, the full envelope; every code documented. */

const SRC = join(import.meta.dirname, "..", "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

function assertEnvelope(res: { status: number; body: Json; headers: Headers }, status: number, code: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.code, code);
  assert.equal(typeof res.body.error, "string");
  assert.equal(res.body.request_id, res.headers.get("x-request-id"));
  assert.match(res.body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.ok(res.body.docs_url.startsWith(`${ERROR_DOCS_BASE_URL}#`), res.body.docs_url);
}

describe("control plane error envelope", () => {
  const t = useTestControlPlane({ freshDatabase: true });

  const call = async (method: string, path: string, init: { token?: string; body?: string } = {}) => {
    const res = await fetch(t.url + path, {
      method,
      headers: {
        "content-type": "application/json",
        "x-request-id": `req-${rand()}`,
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
      ...(init.body === undefined ? {} : { body: init.body }),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Json, headers: res.headers };
  };

  test("400, 401, 403, 404 and 409 all carry {error, code, request_id, timestamp, docs_url}", async () => {
    const ns = `env${rand(4)}`;
    const slug = `svc-${rand(3)}`;
    const { token } = await setupService(t, ns, slug);
    const other = await t.token(`oth${rand(4)}`);

    const invalid = await call("POST", "/v1/services", { token, body: "{not json" });
    assertEnvelope(invalid, 400, "INVALID_JSON");
    assert.equal(invalid.body.docs_url, `${ERROR_DOCS_BASE_URL}#control-plane-errors`);

    const validation = await call("POST", "/v1/services", { token, body: JSON.stringify({ slug: "" }) });
    assertEnvelope(validation, 400, "VALIDATION_ERROR");
    assert.ok(Array.isArray(validation.body.details), "field errors in details");

    assertEnvelope(await call("GET", `/v1/namespaces/${ns}/claims`), 401, "UNAUTHORIZED");
    assertEnvelope(await call("GET", `/v1/namespaces/${ns}/claims`, { token: other }), 403, "FORBIDDEN");

    const missing = await call("GET", "/v1/no-such-route");
    assertEnvelope(missing, 404, "NOT_FOUND");
    assert.equal(missing.body.docs_url, `${ERROR_DOCS_BASE_URL}#generic-and-operator-errors`);

    const duplicate = await call("POST", "/v1/services", {
      token,
      body: JSON.stringify({ name: "again", slug, domain: "example.com", description: "x" }),
    });
    assertEnvelope(duplicate, 409, "CONFLICT");
  });

  test("every code the control plane's source can answer with is in the catalogue (and so in docs/errors.md)", () => {
    const codes = new Set<string>();
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, "utf8");
      for (const [, code] of text.matchAll(/new ApiError\(\s*"([A-Z][A-Z0-9_]+)"/g))
        codes.add(code as string);
      for (const [, code] of text.matchAll(/\bcode: "([A-Z][A-Z0-9_]+)"/g)) codes.add(code as string);
    }
    assert.ok(codes.size >= 15, `found ${codes.size} codes`);
    assert.deepEqual(
      [...codes].filter((code) => !isDocumentedControlPlaneCode(code)),
      [],
    );
    const docs = readFileSync(join(import.meta.dirname, "..", "..", "..", "docs", "errors.md"), "utf8");
    for (const code of Object.keys(CONTROL_PLANE_ERRORS)) assert.match(docs, new RegExp(`### ${code}\\n`));
  });
});
