// Container HEALTHCHECK without curl in the image: exit 0 when the URL answers 2xx within 2 s.
const url = process.argv[2];
if (!url) {
  console.error("usage: node deploy/healthcheck.ts <url>");
  process.exit(2);
}
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
