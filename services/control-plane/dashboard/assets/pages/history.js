import { h, when } from "../dom.js";
import { claimsWithStatus, showClaims } from "./claims.js";

export const title = "History";

export async function render(ctx) {
  const list = h("div", {});
  const load = async () => {
    const claims = await claimsWithStatus(ctx, ["revoked", "rejected", "expired"]);
    showClaims(list, claims, {
      caption: "Revoked, denied and expired requests",
      headers: ["Outcome", "Asked", "Revoked"],
      empty: "Nothing revoked, denied or expired yet.",
      cells: (c) => [
        h("td", {}, h("span", { class: `badge ${c.status}` }, c.status === "rejected" ? "denied" : c.status)),
        h("td", {}, when(c.created_at)),
        h("td", {}, c.revoked_at ? when(c.revoked_at) : "—"),
      ],
    });
  };
  await load();
  ctx.onClaimsChange(() => void load().catch(() => undefined));
  return h("section", {}, h("h1", {}, "History"), list);
}
