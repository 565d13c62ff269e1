import { h, shortKey, table, when } from "../dom.js";
import { agentLabel } from "./claims.js";

export const title = "Pending requests";

export async function render(ctx) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const load = async () => {
    const { claims } = await ctx.api.get(
      `/v1/namespaces/${ctx.session.namespace}/claims?status=pending&limit=200`,
    );
    if (claims.length === 0) {
      list.replaceChildren(
        h("p", { class: "empty" }, "No pending requests. New ones appear here as agents ask."),
      );
      return;
    }
    const act = (claim, verb) => async () => {
      try {
        await ctx.api.post(`/v1/claims/${encodeURIComponent(claim.claim_id)}/${verb}`);
        ctx.toast(`${verb === "approve" ? "Approved" : "Denied"} ${agentLabel(claim)} for ${claim.service}`);
      } catch (error) {
        ctx.toast(error.message, "error");
      }
      await load();
    };
    list.replaceChildren(
      table(
        "Pending access requests",
        ["Agent", "Key", "Service", "From", "Asked", ""],
        claims.map((c) =>
          h(
            "tr",
            { "data-claim": c.claim_id },
            h("td", {}, agentLabel(c)),
            h("td", {}, shortKey(c.public_key)),
            h("td", {}, c.service),
            h("td", {}, c.agent_ip),
            h("td", {}, when(c.created_at)),
            h(
              "td",
              { class: "actions" },
              h("button", { type: "button", class: "primary", onclick: act(c, "approve") }, "Approve"),
              h("button", { type: "button", class: "danger", onclick: act(c, "reject") }, "Deny"),
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
    h("h1", {}, "Pending requests"),
    h("p", { class: "muted" }, "Agents that asked to use one of your services. This list updates by itself."),
    list,
  );
}
