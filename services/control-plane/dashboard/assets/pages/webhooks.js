import { attempt, confirmButton, field, form, h, table, when } from "../dom.js";

export const title = "Webhooks";

const EVENTS = [
  "request.submitted",
  "request.approved",
  "request.rejected",
  "request.revoked",
  "request.expired",
];

const STATUS_LABELS = {
  pending: "queued",
  retrying: "retrying",
  delivered: "delivered",
  dead_letter: "dead letter",
  skipped: "skipped",
};

const enc = encodeURIComponent;

/** The deliveries of one webhook, newest first; refreshed while the page is shown. */
function deliveriesPanel(ctx, base, hook) {
  const panel = h("div", { class: "deliveries", "data-deliveries": hook.id });
  const load = async () => {
    const { deliveries } = await ctx.api.get(`${base}/${enc(hook.id)}/deliveries?limit=20`);
    panel.replaceChildren(
      deliveries.length === 0
        ? h("p", { class: "muted" }, "No deliveries yet.")
        : table(
            `Deliveries to ${hook.url}`,
            ["Event", "Status", "Attempts", "Last error", "Time"],
            deliveries.map((d) =>
              h(
                "tr",
                { "data-delivery": d.id, "data-status": d.status },
                h("td", {}, h("code", {}, d.event)),
                h("td", {}, h("span", { class: `badge ${d.status}` }, STATUS_LABELS[d.status] ?? d.status)),
                h("td", { class: "num" }, String(d.attempts)),
                h("td", {}, d.last_error ?? "—"),
                h("td", {}, when(d.last_attempt_at ?? d.created_at)),
              ),
            ),
          ),
    );
  };
  return { panel, load };
}

function webhookCard(ctx, base, hook, reload) {
  const deliveries = deliveriesPanel(ctx, base, hook);
  return {
    refresh: deliveries.load,
    card: h(
      "article",
      { class: "card", "data-webhook": hook.id },
      h("h3", {}, h("code", {}, hook.url)),
      h(
        "p",
        { class: "muted" },
        hook.active ? "Active" : "Inactive (its target was refused)",
        ` · ${hook.events.join(", ")}`,
        hook.failure_count > 0 ? ` · ${hook.failure_count} failed attempts in a row` : "",
      ),
      h(
        "div",
        { class: "actions start" },
        h(
          "button",
          {
            type: "button",
            disabled: !hook.active,
            onclick: async () => {
              try {
                await ctx.api.post(`${base}/${enc(hook.id)}/test`);
                ctx.toast("Test event queued");
                await deliveries.load();
              } catch (error) {
                ctx.toast(error.message, "error");
              }
            },
          },
          "Send test event",
        ),
        confirmButton("Delete", "Confirm delete", async () => {
          await attempt(ctx, () => ctx.api.del(`${base}/${enc(hook.id)}`), "Webhook deleted");
          await reload();
        }),
      ),
      h("h4", {}, "Deliveries"),
      deliveries.panel,
    ),
  };
}

function deadLettersPanel(ctx, base, urls, reload) {
  const panel = h("div", {});
  const load = async () => {
    const { dead_letters: letters } = await ctx.api.get(`${base}/dead-letters`);
    panel.replaceChildren(
      letters.length === 0
        ? h("p", { class: "muted" }, "No dead letters.")
        : table(
            "Dead letters",
            ["Event", "Webhook", "Attempts", "Last error", "Given up", ""],
            letters.map((d) =>
              h(
                "tr",
                { "data-dead-letter": d.id },
                h("td", {}, h("code", {}, d.event)),
                h("td", {}, h("code", { title: d.webhook_id }, urls.get(d.webhook_id) ?? d.webhook_id)),
                h("td", { class: "num" }, String(d.attempts)),
                h("td", {}, d.last_error),
                h("td", {}, when(d.failed_at)),
                h(
                  "td",
                  { class: "actions" },
                  h(
                    "button",
                    {
                      type: "button",
                      onclick: async () => {
                        await attempt(
                          ctx,
                          () => ctx.api.post(`${base}/dead-letters/${enc(d.id)}/redeliver`),
                          "Redelivery queued",
                        );
                        await reload();
                      },
                    },
                    "Redeliver",
                  ),
                ),
              ),
            ),
          ),
    );
  };
  return { panel, load };
}

function addWebhookForm(ctx, base, reload) {
  const url = h("input", { name: "url", type: "url", required: true, maxlength: 2048 });
  const secret = h("input", {
    name: "secret",
    type: "password",
    required: true,
    minlength: 16,
    maxlength: 512,
    autocomplete: "off",
  });
  const boxes = EVENTS.map((event) =>
    h("input", { type: "checkbox", name: "events", value: event, checked: true }),
  );
  return form(
    { class: "card grid" },
    async () => {
      const events = boxes.filter((b) => b.checked).map((b) => b.value);
      await ctx.api.post(base, { url: url.value.trim(), events, secret: secret.value });
      secret.value = "";
      ctx.toast("Webhook added");
      await reload();
    },
    ctx.fail,
    h("h2", {}, "Add a webhook"),
    field("Endpoint URL", url),
    field("Signing secret", secret, "at least 16 characters; receivers check X-Sigilum-Signature-V2 with it"),
    h(
      "fieldset",
      { class: "events" },
      h("legend", {}, "Events"),
      EVENTS.map((event, i) => h("label", {}, boxes[i], ` ${event}`)),
    ),
    h("button", { type: "submit", class: "primary" }, "Add webhook"),
  );
}

/** One service's webhooks, their deliveries and its dead letters. */
async function servicePanel(ctx, service) {
  const base = `/v1/services/${enc(service.id)}/webhooks`;
  const box = h("div", {});
  let refreshers = [];
  const load = async () => {
    const { webhooks } = await ctx.api.get(base);
    const cards = webhooks.map((hook) => webhookCard(ctx, base, hook, load));
    const dead = deadLettersPanel(ctx, base, new Map(webhooks.map((w) => [w.id, w.url])), load);
    refreshers = [...cards.map((c) => c.refresh), dead.load];
    box.replaceChildren(
      ...(webhooks.length === 0 ? [h("p", { class: "empty" }, `No webhooks for ${service.slug} yet.`)] : []),
      ...cards.map((c) => c.card),
      h("h2", {}, "Dead letters"),
      h(
        "p",
        { class: "muted" },
        "Deliveries given up after their retry window; redeliver once the receiver works.",
      ),
      dead.panel,
      addWebhookForm(ctx, base, load),
    );
    await Promise.all(refreshers.map((f) => f()));
  };
  await load();
  return { box, refresh: () => Promise.all(refreshers.map((f) => f())) };
}

export async function render(ctx) {
  const { services } = await ctx.api.get("/v1/services");
  const section = h(
    "section",
    {},
    h("h1", {}, "Webhooks"),
    h(
      "p",
      { class: "muted" },
      "Endpoints told about each access request of a service (signed JSON POSTs, retried with growing delays).",
    ),
  );
  if (services.length === 0) {
    section.append(h("p", { class: "empty" }, "Create a service first (Services page)."));
    return section;
  }
  const holder = h("div", {});
  let current = null;
  const show = async (id) => {
    const service = services.find((s) => s.id === id) ?? services[0];
    current = await servicePanel(ctx, service);
    holder.replaceChildren(current.box);
  };
  const select = h(
    "select",
    {
      name: "service",
      onchange: (event) => void show(event.target.value).catch((e) => ctx.toast(e.message, "error")),
    },
    services.map((s) => h("option", { value: s.id }, `${s.name} (${s.slug})`)),
  );
  await show(services[0].id);
  ctx.every(2000, () => void current?.refresh().catch(() => undefined));
  section.append(h("div", { class: "inline" }, field("Service", select)), holder);
  return section;
}
