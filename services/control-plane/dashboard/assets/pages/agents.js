import { confirmButton, h, shortKey, table, when } from "../dom.js";
import { agentLabel, claimsWithStatus } from "./claims.js";

export const title = "Approved agents";

export async function render(ctx) {
  const list = h("div", {});
  const load = async () => {
    const [claims, usage] = await Promise.all([
      claimsWithStatus(ctx, ["approved"]),
      ctx.api.get(`/v1/namespaces/${ctx.session.namespace}/usage?limit=200`),
    ]);
    const lastUse = new Map();
    for (const row of usage.rows) {
      const key = `${row.provider} ${row.public_key}`;
      if (!lastUse.has(key) || lastUse.get(key) < row.last_used_at) lastUse.set(key, row.last_used_at);
    }
    if (claims.length === 0) {
      list.replaceChildren(h("p", { class: "empty" }, "No approved agents yet."));
      return;
    }
    list.replaceChildren(
      table(
        "Approved agents",
        ["Agent", "Key", "Service", "Approved", "Last use", ""],
        claims.map((c) =>
          h(
            "tr",
            { "data-claim": c.claim_id },
            h("td", {}, agentLabel(c)),
            h("td", {}, shortKey(c.public_key)),
            h("td", {}, c.service),
            h("td", {}, when(c.approved_at)),
            h("td", {}, when(lastUse.get(`${c.service} ${c.public_key}`))),
            h(
              "td",
              { class: "actions" },
              confirmButton("Revoke", "Confirm revoke", async () => {
                try {
                  await ctx.api.post(`/v1/claims/${encodeURIComponent(c.claim_id)}/revoke`);
                  ctx.toast(`Revoked ${agentLabel(c)} for ${c.service}`);
                } catch (error) {
                  ctx.toast(error.message, "error");
                }
                await load();
              }),
            ),
          ),
        ),
      ),
    );
  };
  await load();
  ctx.onClaimsChange(() => void load().catch(() => undefined));
  return h(
    "section",
    {},
    h("h1", {}, "Approved agents"),
    h(
      "p",
      { class: "muted" },
      "Agents that may use your services now. Revoking takes effect at the gateway within a second.",
    ),
    list,
  );
}
