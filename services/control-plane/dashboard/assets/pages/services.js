import { attempt, confirmButton, field, form, h, table, when } from "../dom.js";

export const title = "Services";

/** The new key, shown once: the server keeps only its hash. */
function revealedKey(created) {
  const value = h("input", {
    readonly: true,
    value: created.key,
    "aria-label": "New API key",
    class: "mono",
    size: 60,
  });
  return h(
    "div",
    { class: "reveal", role: "alert" },
    h("strong", {}, "Copy this key now. It will not be shown again."),
    value,
    h(
      "button",
      {
        type: "button",
        onclick: async (event) => {
          await navigator.clipboard?.writeText(created.key).catch(() => undefined);
          value.select();
          event.target.textContent = "Copied";
        },
      },
      "Copy",
    ),
  );
}

function keysPanel(ctx, service) {
  const panel = h("div", { class: "keys" });
  const reveal = h("div", {});
  const load = async () => {
    const { keys } = await ctx.api.get(`/v1/services/${encodeURIComponent(service.id)}/keys`);
    const name = h("input", { name: "key-name", placeholder: "Default", maxlength: 100 });
    panel.replaceChildren(
      keys.length === 0
        ? h("p", { class: "muted" }, "No active API keys.")
        : table(
            `API keys of ${service.slug}`,
            ["Name", "Key", "Created", "Last used", ""],
            keys.map((k) =>
              h(
                "tr",
                { "data-key": k.id },
                h("td", {}, k.name),
                h("td", {}, h("code", {}, k.key_prefix)),
                h("td", {}, when(k.created_at)),
                h("td", {}, when(k.last_used_at)),
                h(
                  "td",
                  { class: "actions" },
                  confirmButton("Revoke", "Confirm revoke", async () => {
                    await attempt(
                      ctx,
                      () =>
                        ctx.api.del(
                          `/v1/services/${encodeURIComponent(service.id)}/keys/${encodeURIComponent(k.id)}`,
                        ),
                      `Revoked key ${k.name}`,
                    );
                    await load();
                  }),
                ),
              ),
            ),
          ),
      form(
        { class: "inline" },
        async () => {
          const created = await ctx.api.post(`/v1/services/${encodeURIComponent(service.id)}/keys`, {
            ...(name.value.trim() ? { name: name.value.trim() } : {}),
          });
          await load();
          reveal.replaceChildren(revealedKey(created));
        },
        ctx.fail,
        field("New key name", name),
        h("button", { type: "submit" }, "Create API key"),
      ),
      reveal,
    );
  };
  void load().catch((error) => panel.replaceChildren(h("p", { class: "error" }, error.message)));
  return panel;
}

function createServiceForm(ctx, reload) {
  const inputs = {
    name: h("input", { name: "name", required: true, maxlength: 100 }),
    slug: h("input", {
      name: "slug",
      required: true,
      pattern: "[a-z0-9][a-z0-9-]{1,62}[a-z0-9]",
      maxlength: 64,
    }),
    domain: h("input", { name: "domain", required: true, maxlength: 255 }),
    description: h("input", { name: "description", required: true, maxlength: 500 }),
  };
  return form(
    { class: "card grid" },
    async () => {
      const body = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
      await ctx.api.post("/v1/services", body);
      ctx.toast(`Service ${body.slug} created`);
      await reload();
    },
    ctx.fail,
    h("h2", {}, "New service"),
    field("Name", inputs.name),
    field("Slug", inputs.slug, "lower-case letters, digits and -; the gateway connection's name"),
    field("Domain", inputs.domain),
    field("Description", inputs.description),
    h("button", { type: "submit", class: "primary" }, "Create service"),
  );
}

export async function render(ctx) {
  const list = h("div", {});
  const load = async () => {
    const { services } = await ctx.api.get("/v1/services");
    list.replaceChildren(
      ...(services.length === 0 ? [h("p", { class: "empty" }, "No services yet.")] : []),
      ...services.map((s) =>
        h(
          "article",
          { class: "card", "data-service": s.slug },
          h("h2", {}, s.name, " ", h("code", {}, s.slug)),
          h("p", { class: "muted" }, s.description ?? "", s.domain ? ` · ${s.domain}` : ""),
          keysPanel(ctx, s),
        ),
      ),
      createServiceForm(ctx, load),
    );
  };
  await load();
  return h("section", {}, h("h1", {}, "Services and API keys"), list);
}
