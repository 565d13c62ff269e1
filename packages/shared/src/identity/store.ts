import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { defaultEd25519Backend, type Ed25519Backend } from "../ed25519.ts";
import { decodeBase64Strict, encodeBase64 } from "../encoding.ts";
import {
  certificateSchema,
  issueCertificate,
  type SigilumCertificate,
  verifyCertificate,
} from "./certificate.ts";
import { didFor, formatPublicKey, keyIdFor } from "./keys.ts";
import { normalizeNamespace } from "./namespace.ts";

/** A loaded agent identity: the private seed stays in memory only as bytes. */
export interface SigilumIdentity {
  namespace: string;
  did: string;
  keyId: string;
  publicKey: string;
  privateKey: Uint8Array;
  certificate: SigilumCertificate;
  createdAt: string;
  updatedAt: string;
}

/** identity.json: the certificate's identifying fields, the private seed and the certificate itself. */
const identityRecordSchema = certificateSchema
  .pick({ version: true, namespace: true, did: true, keyId: true, publicKey: true })
  .extend({
    privateKey: z.string().min(1),
    certificate: certificateSchema,
    createdAt: z.string().optional(),
    updatedAt: z.string().optional(),
  })
  .loose();

export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IdentityError";
  }
}

/** The given home (callers pass their SIGILUM_HOME or GATEWAY_SIGILUM_HOME), else ~/.sigilum. */
export function resolveSigilumHome(homeDir?: string): string {
  return homeDir ?? join(homedir(), ".sigilum");
}

export function identityPath(home: string, namespace: string): string {
  return join(home, "identities", namespace, "identity.json");
}

/** Builds a fresh identity in memory (new random seed, self-signed certificate). */
export function createIdentity(
  namespace: string,
  backend: Ed25519Backend = defaultEd25519Backend(),
): SigilumIdentity {
  const ns = normalizeNamespace(namespace);
  const seed = randomBytes(32);
  const rawPublicKey = backend.publicKeyFromSeed(seed);
  const did = didFor(ns);
  const keyId = keyIdFor(did, rawPublicKey);
  const publicKey = formatPublicKey(rawPublicKey);
  const now = new Date().toISOString();
  const certificate = issueCertificate(backend, seed, {
    namespace: ns,
    did,
    keyId,
    publicKey,
    issuedAt: now,
    expiresAt: null,
  });
  return {
    namespace: ns,
    did,
    keyId,
    publicKey,
    privateKey: seed,
    certificate,
    createdAt: now,
    updatedAt: now,
  };
}

function toRecord(identity: SigilumIdentity) {
  return {
    version: 1,
    namespace: identity.namespace,
    did: identity.did,
    keyId: identity.keyId,
    publicKey: identity.publicKey,
    privateKey: encodeBase64(identity.privateKey),
    certificate: identity.certificate,
    createdAt: identity.createdAt,
    updatedAt: identity.updatedAt,
  };
}

async function writeIdentityFile(path: string, dir: string, identity: SigilumIdentity): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(toRecord(identity), null, 2)}\n`, { mode: 0o600 });
  await rename(temp, path);
}

export interface InitIdentityResult {
  namespace: string;
  did: string;
  keyId: string;
  publicKey: string;
  created: boolean;
  homeDir: string;
  identityPath: string;
}

export async function initIdentity(options: {
  namespace: string;
  homeDir?: string;
  force?: boolean;
}): Promise<InitIdentityResult> {
  const namespace = normalizeNamespace(options.namespace);
  const home = resolveSigilumHome(options.homeDir);
  const path = identityPath(home, namespace);
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  const identity =
    exists && !options.force ? await loadIdentity({ namespace, homeDir: home }) : createIdentity(namespace);
  if (!exists || options.force) await writeIdentityFile(path, join(home, "identities", namespace), identity);
  return {
    namespace,
    did: identity.did,
    keyId: identity.keyId,
    publicKey: identity.publicKey,
    created: !exists || options.force === true,
    homeDir: home,
    identityPath: path,
  };
}

export async function listNamespaces(homeDir?: string): Promise<string[]> {
  const root = join(resolveSigilumHome(homeDir), "identities");
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const present = await stat(join(root, entry.name, "identity.json")).then(
      (s) => s.isFile(),
      () => false,
    );
    if (present) found.push(entry.name);
  }
  return found.sort();
}

async function resolveNamespace(explicit: string | undefined, home: string): Promise<string> {
  if (explicit) return normalizeNamespace(explicit);
  const namespaces = await listNamespaces(home);
  if (namespaces.length === 0)
    throw new IdentityError("No Sigilum identity found. Run `sigilum init <namespace>` first.");
  if (namespaces.length > 1) {
    throw new IdentityError(
      `Multiple identities found (${namespaces.join(", ")}). Pass namespace explicitly or set SIGILUM_NAMESPACE.`,
    );
  }
  return namespaces[0] as string;
}

/** Loads and fully validates an identity file (seed ↔ public key, certificate proof and fields). */
export async function loadIdentity(
  options: { namespace?: string; homeDir?: string; backend?: Ed25519Backend } = {},
): Promise<SigilumIdentity> {
  const home = resolveSigilumHome(options.homeDir);
  const namespace = await resolveNamespace(options.namespace, home);
  const path = identityPath(home, namespace);
  const text = await readFile(path, "utf8").catch(() => {
    throw new IdentityError(
      `Sigilum identity not found for namespace "${namespace}" (${path}). Run \`sigilum init ${namespace}\`.`,
    );
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IdentityError(`Sigilum identity file is not valid JSON: ${path}`);
  }
  const parsed = identityRecordSchema.safeParse(json);
  if (!parsed.success) throw new IdentityError(`Sigilum identity file is missing required fields: ${path}`);
  const record = parsed.data;
  if (record.namespace !== namespace) throw new IdentityError(`Identity namespace mismatch in ${path}`);
  const seed = decodeBase64Strict(record.privateKey);
  if (seed?.length !== 32) throw new IdentityError(`Identity private key must be a 32-byte seed: ${path}`);
  const backend = options.backend ?? defaultEd25519Backend();
  if (formatPublicKey(backend.publicKeyFromSeed(seed)) !== record.publicKey) {
    throw new IdentityError(`Identity public key does not match its private key: ${path}`);
  }
  const check = verifyCertificate(backend, record.certificate);
  if (!check.ok) throw new IdentityError(`Identity certificate is invalid (${check.reason}): ${path}`);
  const cert = record.certificate;
  if (
    cert.namespace !== record.namespace ||
    cert.did !== record.did ||
    cert.keyId !== record.keyId ||
    cert.publicKey !== record.publicKey
  ) {
    throw new IdentityError(`Identity certificate fields do not match the identity record: ${path}`);
  }
  return {
    namespace: record.namespace,
    did: record.did,
    keyId: record.keyId,
    publicKey: record.publicKey,
    privateKey: seed,
    certificate: cert,
    createdAt: record.createdAt ?? "",
    updatedAt: record.updatedAt ?? "",
  };
}

/** Builds an in-memory identity from raw parts (test vectors, SDK callers holding a seed). */
export function identityFromSeed(
  namespace: string,
  seed: Uint8Array,
  certificate?: SigilumCertificate,
  backend: Ed25519Backend = defaultEd25519Backend(),
): SigilumIdentity {
  const rawPublicKey = backend.publicKeyFromSeed(seed);
  const did = didFor(namespace);
  const keyId = keyIdFor(did, rawPublicKey);
  const publicKey = formatPublicKey(rawPublicKey);
  const cert =
    certificate ??
    issueCertificate(backend, seed, {
      namespace,
      did,
      keyId,
      publicKey,
      issuedAt: new Date().toISOString(),
      expiresAt: null,
    });
  return {
    namespace,
    did,
    keyId,
    publicKey,
    privateKey: seed,
    certificate: cert,
    createdAt: "",
    updatedAt: "",
  };
}
