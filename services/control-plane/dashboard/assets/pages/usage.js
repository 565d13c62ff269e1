import { qs } from "../api.js";
import { usageChart } from "../chart.js";
import { h, shortKey, table, when } from "../dom.js";

export const title = "Usage";

export async function render(ctx) {
  const ns = ctx.session.namespace;
  const { services } = await ctx.api.get("/v1/services");
  const provider = h(
    "select",
    { name: "provider" },
    h("option", { value: "" }, "All services"),
    services.map((s) => h("option", { value: s.slug }, s.slug)),
  );
  const agent = h("input", { name: "agent", placeholder: "agent id or key", maxlength: 256 });
  const bucket = h(
    "select",
    { name: "bucket" },
    h("option", { value: "minute" }, "per minute (last 48 min)"),
    h("option", { value: "hour", selected: true }, "per hour (last 48 h)"),
    h("option", { value: "day" }, "per day (last 48 days)"),
  );
  const out = h("div", {});
  const load = async () => {
    const filters = { provider: provider.value, agent: agent.value.trim() };
    const [timeline, usage] = await Promise.all([
      ctx.api.get(`/v1/namespaces/${ns}/usage/timeline${qs({ ...filters, bucket: bucket.value })}`),
      ctx.api.get(`/v1/namespaces/${ns}/usage${qs({ ...filters, limit: 200 })}`),
    ]);
    out.replaceChildren(
      usageChart(timeline),
      usage.rows.length === 0
        ? h("p", { class: "empty" }, "No calls in this range.")
        : table(
            "Calls per service and agent",
            ["Service", "Agent", "Key", "Calls", "Failed", "Last call"],
            usage.rows.map((r) =>
              h(
                "tr",
                {},
                h("td", {}, r.provider),
                h("td", {}, r.agent_id ?? r.subject),
                h("td", {}, shortKey(r.public_key)),
                h("td", { class: "num" }, r.total_calls),
                h("td", { class: "num" }, r.error_calls),
                h("td", {}, when(r.last_used_at)),
              ),
            ),
          ),
    );
  };
  await load();
  const form = h(
    "form",
    {
      class: "inline filters",
      onsubmit: (event) => {
        event.preventDefault();
        void load().catch((error) => ctx.toast(error.message, "error"));
      },
    },
    h("label", { class: "field" }, h("span", {}, "Service"), provider),
    h("label", { class: "field" }, h("span", {}, "Agent"), agent),
    h("label", { class: "field" }, h("span", {}, "Range"), bucket),
    h("button", { type: "submit" }, "Show"),
  );
  return h("section", {}, h("h1", {}, "Usage"), form, out);
}
