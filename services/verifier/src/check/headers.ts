import type { IncomingMessage } from "node:http";
import { type HeaderInput, SIGNING_HEADERS } from "@sigilum-gw/shared/http-signatures";

/** Headers whose repeated field lines change the decision: the signing headers and Envoy's partial-body flag. */
const WATCHED_BITS = new Map<string, number>(
  [...SIGNING_HEADERS, "x-envoy-auth-partial-body"].map((name, i) => [name, 1 << i]),
);

/**
 * The header view the pipeline reads. `req.headers` (built by Node anyway) joins or drops repeated lines, which
 * would hide a smuggled second signing header; `req.headersDistinct` keeps every line but costs an array per
 * header on every request. One pass over `rawHeaders` tells whether a watched header repeats, and only then is
 * the distinct view used, so repeated lines are still seen (and refused) exactly as before.
 */
export function checkHeaders(req: IncomingMessage): HeaderInput {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const bit = WATCHED_BITS.get((raw[i] as string).toLowerCase());
    if (bit === undefined) continue;
    if (seen & bit) return req.headersDistinct;
    seen |= bit;
  }
  return req.headers;
}
