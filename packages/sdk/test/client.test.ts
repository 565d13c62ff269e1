import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createSigilumVerifier, type VerifyResult } from "@sigilum-gw/shared/http-signatures";
import { createSigilumClient, initIdentity, listNamespaces, loadIdentity } from "../src/index.ts";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
  result: VerifyResult;
}

/** A loopback service that verifies every request exactly as a Sigilum-aware service would. */
async function startVerifyingServer(): Promise<{ server: Server; origin: string; seen: Seen[] }> {
  const verifier = createSigilumVerifier();
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const targetUri = `http://${req.headers.host}${req.url}`;
      const result = verifier.verify({
        method: req.method ?? "GET",
        targetUri,
        headers: req.headersDistinct,
        body: body.length > 0 ? body : null,
      });
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, result });
      res.writeHead(result.ok ? 200 : 401, { "content-type": "application/json" });
      res.end(JSON.stringify(result.ok ? { ok: true, subject: result.subject } : result));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}`, seen };
}

describe("createSigilumClient", () => {
  let home: string;
  let server: Server;
  let origin: string;
  let seen: Seen[];

  before(async () => {
    home = await mkdtemp(join(tmpdir(), "sigilum-sdk-"));
    await initIdentity({ namespace: "alice", homeDir: home });
    ({ server, origin, seen } = await startVerifyingServer());
  });

  after(async () => {
    server.close();
    await rm(home, { recursive: true, force: true });
  });

  test("a GET without a body verifies and carries the namespace as default subject", async () => {
    const client = await createSigilumClient({ namespace: "alice", homeDir: home });
    const response = await client.fetch(`${origin}/v1/things?x=1`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true, subject: "alice" });
    const last = seen.at(-1)!;
    assert.equal(last.url, "/v1/things?x=1");
    assert.equal(last.headers["content-digest"], undefined);
  });

  test("a POST body is digested and signed; the explicit subject is bound and never sent as an option", async () => {
    const client = await createSigilumClient({ namespace: "alice", homeDir: home });
    const response = await client.fetch(`${origin}/v1/transfer`, {
      method: "post",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ amount: 5 }),
      subject: "customer-12345",
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true, subject: "customer-12345" });
    const last = seen.at(-1)!;
    assert.equal(last.method, "POST");
    assert.match(String(last.headers["content-digest"]), /^sha-256=:[A-Za-z0-9+/]+=*:$/);
    assert.equal(last.body.toString(), '{"amount":5}');
  });

  test("binary and form bodies are signed over the exact bytes sent", async () => {
    const client = await createSigilumClient({ namespace: "alice", homeDir: home });
    const bytes = new Uint8Array([0, 1, 2, 255]);
    assert.equal((await client.fetch(`${origin}/bin`, { method: "PUT", body: bytes })).status, 200);
    assert.deepEqual([...seen.at(-1)!.body], [0, 1, 2, 255]);
    const form = new URLSearchParams({ a: "1", b: "two words" });
    assert.equal((await client.fetch(`${origin}/form`, { method: "POST", body: form })).status, 200);
    assert.equal(seen.at(-1)!.body.toString(), "a=1&b=two+words");
    assert.match(String(seen.at(-1)!.headers["content-type"]), /x-www-form-urlencoded/);
  });

  test("the URL sent is the URL signed: a fragment is dropped and the request still verifies", async () => {
    const client = await createSigilumClient({ namespace: "alice", homeDir: home });
    const signed = client.sign({ url: `${origin}/a/b?q=%2F#frag` });
    assert.equal(signed.url, `${origin}/a/b?q=%2F`);
    const response = await client.fetch(`${origin}/a/b?q=%2F#frag`);
    assert.equal(response.status, 200);
    assert.equal(seen.at(-1)!.url, "/a/b?q=%2F");
  });

  test("a signature made for one URL is rejected on another (the server really verifies)", async () => {
    const client = await createSigilumClient({ namespace: "alice", homeDir: home });
    const signed = client.sign({ url: `${origin}/one` });
    const response = await fetch(`${origin}/two`, { headers: signed.headers });
    assert.equal(response.status, 401);
    const body = (await response.json()) as { code: string };
    assert.equal(body.code, "AUTH_SIGNATURE_INVALID");
  });

  test("unsupported bodies are refused before anything is sent", async () => {
    const client = await createSigilumClient({ namespace: "alice", homeDir: home });
    const before = seen.length;
    await assert.rejects(
      client.fetch(`${origin}/x`, { method: "POST", body: new Blob(["x"]) as unknown as string }),
      /body the signer can hash/,
    );
    assert.equal(seen.length, before);
  });

  test("with one identity in the home the namespace is optional; with none it explains what to run", async (t) => {
    const saved = process.env.SIGILUM_NAMESPACE;
    delete process.env.SIGILUM_NAMESPACE;
    t.after(() => {
      if (saved !== undefined) process.env.SIGILUM_NAMESPACE = saved;
    });
    const client = await createSigilumClient({ homeDir: home });
    assert.equal(client.namespace, "alice");
    assert.equal(client.did, "did:sigilum:alice");
    const empty = await mkdtemp(join(tmpdir(), "sigilum-sdk-empty-"));
    try {
      await assert.rejects(createSigilumClient({ homeDir: empty }), /sigilum init/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  test("SIGILUM_HOME and SIGILUM_NAMESPACE are the agent's defaults (the SDK reads them, not the shared store)", async (t) => {
    const saved = { home: process.env.SIGILUM_HOME, namespace: process.env.SIGILUM_NAMESPACE };
    t.after(() => {
      for (const [name, value] of [
        ["SIGILUM_HOME", saved.home],
        ["SIGILUM_NAMESPACE", saved.namespace],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    process.env.SIGILUM_HOME = home;
    process.env.SIGILUM_NAMESPACE = "alice";
    assert.equal((await createSigilumClient()).namespace, "alice");
    assert.deepEqual(await listNamespaces(), ["alice"]);
    process.env.SIGILUM_NAMESPACE = "bob";
    await assert.rejects(createSigilumClient(), /namespace "bob"/);
    assert.equal((await createSigilumClient({ namespace: "alice" })).namespace, "alice", "explicit wins");
  });

  test("identity helpers are re-exported and agree with each other", async () => {
    assert.deepEqual(await listNamespaces(home), ["alice"]);
    const identity = await loadIdentity({ namespace: "alice", homeDir: home });
    const client = await createSigilumClient({ identity });
    assert.equal(client.keyId, identity.keyId);
    assert.match(client.keyId, /^did:sigilum:alice#ed25519-[0-9a-f]{16}$/);
  });
});
