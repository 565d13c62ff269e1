import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  IdentityError,
  InvalidNamespaceError,
  initIdentity,
  listNamespaces,
  loadIdentity,
  normalizeNamespace,
} from "../src/identity.ts";
import { FIXTURE_SEED_BASE64, fixtureCertificate } from "./support/fixture-identity.ts";

const home = await mkdtemp(join(tmpdir(), "sigilum-home-"));
after(() => rm(home, { recursive: true, force: true }));

test("namespace rules: trimmed, lower-cased, 3-64 chars", () => {
  assert.equal(normalizeNamespace("  Alice-Bot "), "alice-bot");
  for (const bad of ["ab", "-abc", "abc-", "a_bc", "a".repeat(65), "", "a b c", "../etc"]) {
    assert.throws(() => normalizeNamespace(bad), InvalidNamespaceError, bad);
  }
});

test("init writes the Sigilum identity file format with 0700/0600 and loads back", async () => {
  const created = await initIdentity({ namespace: "alice", homeDir: home });
  assert.equal(created.created, true);
  assert.equal(created.did, "did:sigilum:alice");
  assert.match(created.keyId, /^did:sigilum:alice#ed25519-[0-9a-f]{16}$/);
  assert.equal(created.identityPath, join(home, "identities", "alice", "identity.json"));
  assert.equal((await stat(join(home, "identities", "alice"))).mode & 0o777, 0o700);
  assert.equal((await stat(created.identityPath)).mode & 0o777, 0o600);
  const text = await readFile(created.identityPath, "utf8");
  assert.ok(text.endsWith("}\n"));
  const record = JSON.parse(text);
  assert.deepEqual(Object.keys(record), [
    "version",
    "namespace",
    "did",
    "keyId",
    "publicKey",
    "privateKey",
    "certificate",
    "createdAt",
    "updatedAt",
  ]);
  assert.equal(Buffer.from(record.privateKey, "base64").length, 32);

  const again = await initIdentity({ namespace: "alice", homeDir: home });
  assert.equal(again.created, false);
  assert.equal(again.publicKey, created.publicKey);
  const forced = await initIdentity({ namespace: "alice", homeDir: home, force: true });
  assert.notEqual(forced.publicKey, created.publicKey);

  const loaded = await loadIdentity({ namespace: "alice", homeDir: home });
  assert.equal(loaded.publicKey, forced.publicKey);
  assert.deepEqual(await listNamespaces(home), ["alice"]);
  assert.equal((await loadIdentity({ homeDir: home })).namespace, "alice");
});

test("the reference fixture identity file (extra fields included) loads", async () => {
  const dir = join(home, "identities", "fixture-alice");
  await mkdir(dir, { recursive: true });
  const { version, namespace, did, keyId, publicKey } = fixtureCertificate;
  await writeFile(
    join(dir, "identity.json"),
    JSON.stringify({
      version,
      namespace,
      did,
      keyId,
      publicKey,
      privateKey: FIXTURE_SEED_BASE64,
      certificate: { ...fixtureCertificate, issuedBy: "sigilum.local-fixture" },
      createdAt: "2026-02-20T18:04:26Z",
      updatedAt: "2026-02-20T18:04:26Z",
      migrationHint: "v1-compatible",
    }),
  );
  const loaded = await loadIdentity({ namespace: "fixture-alice", homeDir: home });
  assert.equal(loaded.certificate.issuedBy, "sigilum.local-fixture");
  await assert.rejects(loadIdentity({ homeDir: home }), /Multiple identities found \(alice, fixture-alice\)/);
});

test("tampered identity files are refused with a message naming the file", async () => {
  const path = join(home, "identities", "alice", "identity.json");
  const record = JSON.parse(await readFile(path, "utf8"));
  await writeFile(
    path,
    JSON.stringify({ ...record, publicKey: "ed25519:J07dj/co4diCmQYTTQGq4adhnMKYejHazCYUQ7eBh0k=" }),
  );
  await assert.rejects(
    loadIdentity({ namespace: "alice", homeDir: home }),
    (e: Error) => e instanceof IdentityError && e.message.includes(path),
  );
  await writeFile(
    path,
    JSON.stringify({ ...record, certificate: { ...record.certificate, namespace: "mallory" } }),
  );
  await assert.rejects(loadIdentity({ namespace: "alice", homeDir: home }), IdentityError);
  await writeFile(path, "{not json");
  await assert.rejects(loadIdentity({ namespace: "alice", homeDir: home }), /not valid JSON/);
  await assert.rejects(loadIdentity({ namespace: "nobody", homeDir: home }), /not found/);
});
