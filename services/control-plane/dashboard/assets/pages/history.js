import { h, shortKey, table, when } from "../dom.js";
import { agentLabel, claimsWithStatus } from "./claims.js";

export const title = "History";

export async function render(ctx) {
  const list = h("div", {});
  const load = async () => {
    const claims = await claimsWithStatus(ctx, ["revoked", "rejected", "expired"]);
    if (claims.length === 0) {
      list.replaceChildren(h("p", { class: "empty" }, "Nothing revoked, denied or expired yet."));
      return;
    }
    list.replaceChildren(
      table(
        "Revoked, denied and expired requests",
        ["Agent", "Key", "Service", "Outcome", "Asked", "Revoked"],
        claims.map((c) =>
          h(
            "tr",
            { "data-claim": c.claim_id },
            h("td", {}, agentLabel(c)),
            h("td", {}, shortKey(c.public_key)),
            h("td", {}, c.service),
            h(
              "td",
              {},
              h("span", { class: `badge ${c.status}` }, c.status === "rejected" ? "denied" : c.status),
            ),
            h("td", {}, when(c.created_at)),
            h("td", {}, c.revoked_at ? when(c.revoked_at) : "—"),
          ),
        ),
      ),
    );
  };
  await load();
  ctx.onClaimsChange(() => void load().catch(() => undefined));
  return h("section", {}, h("h1", {}, "History"), list);
}
