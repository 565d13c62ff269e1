import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The dashboard's own files: index.html and assets/ (plain ES modules and CSS, no build step). */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../dashboard/", import.meta.url));
export const ASSETS_DIR = join(DASHBOARD_DIR, "assets");
/**
 * Browser libraries served as they ship, under `assets/<version>/vendor/<name>/` (scripts only):
 * @simplewebauthn/browser (passkeys), and for the gateway page's sealed boxes tweetnacl (`nacl.box`, X25519 +
 * XSalsa20-Poly1305) and @noble/hashes (BLAKE2b, the sealed box's nonce). Each is loaded by the page that needs it.
 */
export const VENDOR_DIRS: Record<string, string> = {
  webauthn: dirname(fileURLToPath(import.meta.resolve("@simplewebauthn/browser"))),
  tweetnacl: dirname(fileURLToPath(import.meta.resolve("tweetnacl"))),
  "noble-hashes": dirname(fileURLToPath(import.meta.resolve("@noble/hashes/blake2.js"))),
};

export interface DashboardAssets {
  /** Content hash in every asset URL: assets are cached for a year and a new release changes the URL. */
  version: string;
  indexHtml: string;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

export function loadDashboardAssets(): DashboardAssets {
  const hash = createHash("sha256");
  for (const file of [ASSETS_DIR, ...Object.values(VENDOR_DIRS)].flatMap(filesUnder)) {
    hash.update(file.slice(file.lastIndexOf("/node_modules/") + 1)).update(readFileSync(file));
  }
  const version = hash.digest("hex").slice(0, 16);
  const indexHtml = readFileSync(join(DASHBOARD_DIR, "index.html"), "utf8").replaceAll(
    "{{ASSETS}}",
    `/assets/${version}`,
  );
  return { version, indexHtml };
}
