import { randomBytes } from "node:crypto";
import { availableEd25519Backends, defaultEd25519Backend } from "../../packages/shared/src/ed25519.ts";
import { createSigilumVerifier, signRequest } from "../../packages/shared/src/http-signatures.ts";
import { createIdentity } from "../../packages/shared/src/identity.ts";
import { fmt, opsPerSecond, ratio } from "./measure.ts";

export interface CryptoBenchResult {
  rawVerifiesPerSecond: Record<string, number>;
  backendInUse: string;
  profileVerifiesPerSecond: number;
  profileRatio: number;
}

/** Raw Ed25519 verify rate per backend, and the full Sigilum profile verification with a cached certificate. */
export function runCryptoBench(seconds = 1): CryptoBenchResult {
  const message = randomBytes(600);
  const seed = randomBytes(32);
  const raw: Record<string, number> = {};
  for (const backend of availableEd25519Backends()) {
    const key = backend.importPublicKey(backend.publicKeyFromSeed(seed));
    const signature = backend.sign(seed, message);
    raw[backend.name] = opsPerSecond(
      () => backend.verify(key, message, signature),
      backend.name === "noble" ? 0.5 : seconds,
    );
  }
  const backend = defaultEd25519Backend();
  const identity = createIdentity("bench-agent", backend);
  const created = Math.floor(Date.now() / 1000);
  const signed = signRequest(identity, {
    url: "http://127.0.0.1:38100/proxy/openai/v1/chat/completions",
    method: "POST",
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    subject: "user-42",
    created,
  });
  const verifier = createSigilumVerifier({ backend, now: () => created });
  const request = {
    method: signed.method,
    targetUri: signed.url,
    headers: signed.headers,
    body: signed.body,
  };
  if (!verifier.verify(request).ok) throw new Error("bench request does not verify");
  const profile = opsPerSecond(() => verifier.verify(request), seconds);
  const inUse = raw[backend.name] as number;
  return {
    rawVerifiesPerSecond: raw,
    backendInUse: backend.name,
    profileVerifiesPerSecond: profile,
    profileRatio: profile / inUse,
  };
}

export function printCryptoBench(result: CryptoBenchResult): void {
  console.log("\n== Ed25519 and Sigilum profile verification (one core, in process) ==");
  for (const [name, rate] of Object.entries(result.rawVerifiesPerSecond)) {
    console.log(`  raw verify  ${name.padEnd(14)} ${fmt(rate).padStart(9)} /s`);
  }
  console.log(
    `  profile verify (${result.backendInUse}, cert cached) ${fmt(result.profileVerifiesPerSecond)} /s = ${ratio(result.profileVerifiesPerSecond, result.rawVerifiesPerSecond[result.backendInUse] as number)} of raw (target >= 80%)`,
  );
}

if (import.meta.main) printCryptoBench(runCryptoBench());
