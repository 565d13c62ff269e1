/** What to call the agent behind a claim: its name, subject or id, else "unnamed agent". */
export function agentLabel(claim) {
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
