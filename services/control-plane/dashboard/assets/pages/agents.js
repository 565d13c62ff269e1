import { confirmButton, h, when } from "../dom.js";
import { actOnClaim, claimsWithStatus, showClaims } from "./claims.js";

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
    showClaims(list, claims, {
      caption: "Approved agents",
      headers: ["Approved", "Last use", ""],
      empty: "No approved agents yet.",
      cells: (c) => [
        h("td", {}, when(c.approved_at)),
        h("td", {}, when(lastUse.get(`${c.service} ${c.public_key}`))),
        h(
          "td",
          { class: "actions" },
          confirmButton("Revoke", "Confirm revoke", async () => {
            await actOnClaim(ctx, c, "revoke", "Revoked");
            await load();
          }),
        ),
      ],
    });
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
