// Writes the two Envoy configs from deploy/envoy/config.ts: envoy/envoy.yaml (docker compose) and the Helm
// chart's files/envoy.yaml (Service names filled in by `tpl` at install). `--check` only compares and exits 1
// when a file is stale (the deploy tests run the same comparison).
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { envoyFiles } from "./files.ts";

const check = process.argv.includes("--check");
let stale = 0;
for (const { path, content } of envoyFiles()) {
  const file = fileURLToPath(new URL(`../../${path}`, import.meta.url));
  const current = await readFile(file, "utf8").catch(() => "");
  if (current === content) continue;
  if (check) {
    console.error(`${path} is stale: run npm run envoy:generate`);
    stale++;
  } else {
    await writeFile(file, content);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale === 0 ? 0 : 1);
