import { attempt, h, shortKey, table } from "../dom.js";

/** What to call the agent behind a claim: its name, subject or id, else "unnamed agent". */
function agentLabel(claim) {
  return claim.agent_name || claim.subject || claim.agent_id || "unnamed agent";
}

/** Every claim of the namespace with one of these statuses, newest first. */
export async function claimsWithStatus(ctx, statuses) {
  const pages = await Promise.all(
    statuses.map((status) =>
      ctx.api.get(`/v1/namespaces/${ctx.session.namespace}/claims?status=${status}&limit=200`),
    ),
  );
  return pages.flatMap((p) => p.claims).sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
}

/**
 * Fills `list` with a table of claims, a row a claim: agent, key and service, then the page's
 * own `cells(claim)` under `headers`; with no claims, the `empty` sentence instead.
 */
export function showClaims(list, claims, { caption, headers, empty, cells }) {
  if (claims.length === 0) {
    list.replaceChildren(h("p", { class: "empty" }, empty));
    return;
  }
  list.replaceChildren(
    table(
      caption,
      ["Agent", "Key", "Service", ...headers],
      claims.map((c) =>
        h(
          "tr",
          { "data-claim": c.claim_id },
          h("td", {}, agentLabel(c)),
          h("td", {}, shortKey(c.public_key)),
          h("td", {}, c.service),
          ...cells(c),
        ),
      ),
    ),
  );
}

/** Posts `verb` (approve, reject, revoke) for a claim and toasts "<done> <agent> for <service>", or the error. */
export async function actOnClaim(ctx, claim, verb, done) {
  await attempt(
    ctx,
    () => ctx.api.post(`/v1/claims/${encodeURIComponent(claim.claim_id)}/${verb}`),
    `${done} ${agentLabel(claim)} for ${claim.service}`,
  );
}
