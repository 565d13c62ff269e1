import { h, when } from "../dom.js";
import { actOnClaim, showClaims } from "./claims.js";

export const title = "Pending requests";

export async function render(ctx) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const load = async () => {
    const { claims } = await ctx.api.get(
      `/v1/namespaces/${ctx.session.namespace}/claims?status=pending&limit=200`,
    );
    const act = (claim, verb, done) => async () => {
      await actOnClaim(ctx, claim, verb, done);
      await load();
    };
    showClaims(list, claims, {
      caption: "Pending access requests",
      headers: ["From", "Asked", ""],
      empty: "No pending requests. New ones appear here as agents ask.",
      cells: (c) => [
        h("td", {}, c.agent_ip),
        h("td", {}, when(c.created_at)),
        h(
          "td",
          { class: "actions" },
          h(
            "button",
            { type: "button", class: "primary", onclick: act(c, "approve", "Approved") },
            "Approve",
          ),
          h("button", { type: "button", class: "danger", onclick: act(c, "reject", "Denied") }, "Deny"),
        ),
      ],
    });
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
