import { attempt, confirmButton, form, h, table, when } from "../dom.js";

export const title = "Passkeys";

async function addPasskey(ctx, name) {
  const { startRegistration } = await import("../vendor/webauthn/methods/startRegistration.js");
  const optionsJSON = await ctx.api.get("/v1/auth/passkeys/options");
  const credential = await startRegistration({ optionsJSON });
  return ctx.api.post("/v1/auth/passkeys", { ...(name ? { name } : {}), credential });
}

function renameForm(ctx, passkey, reload) {
  const input = h("input", {
    value: passkey.name,
    maxlength: 100,
    "aria-label": `Name of passkey ${passkey.name}`,
  });
  return form(
    { class: "inline" },
    async () => {
      try {
        await ctx.api.patch(`/v1/auth/passkeys/${encodeURIComponent(passkey.id)}`, {
          name: input.value.trim(),
        });
        ctx.toast("Passkey renamed");
      } finally {
        await reload();
      }
    },
    ctx.fail,
    input,
    h("button", { type: "submit" }, "Rename"),
  );
}

export async function render(ctx) {
  const list = h("div", {});
  const load = async () => {
    const { passkeys } = await ctx.api.get("/v1/auth/passkeys");
    list.replaceChildren(
      passkeys.length === 0
        ? h("p", { class: "empty" }, "No passkeys yet. Add one to sign in without the CLI.")
        : table(
            "Your passkeys",
            ["Name", "Kind", "Added", "Last used", ""],
            passkeys.map((p) =>
              h(
                "tr",
                { "data-passkey": p.id },
                h("td", {}, renameForm(ctx, p, load)),
                h("td", {}, p.device_type === "multiDevice" ? "synced" : "this device"),
                h("td", {}, when(p.created_at)),
                h("td", {}, when(p.last_used_at)),
                h(
                  "td",
                  { class: "actions" },
                  confirmButton("Delete", "Confirm delete", async () => {
                    await attempt(
                      ctx,
                      () => ctx.api.del(`/v1/auth/passkeys/${encodeURIComponent(p.id)}`),
                      "Passkey deleted",
                    );
                    await load();
                  }),
                ),
              ),
            ),
          ),
    );
  };
  await load();
  const name = h("input", { name: "passkey-name", placeholder: "My Passkey", maxlength: 100 });
  const status = h("p", { class: "status", role: "status" });
  return h(
    "section",
    {},
    h("h1", {}, "Passkeys"),
    list,
    h(
      "form",
      {
        class: "card inline",
        onsubmit: async (event) => {
          event.preventDefault();
          status.textContent = "Waiting for your authenticator…";
          try {
            await addPasskey(ctx, name.value.trim());
            status.textContent = "Passkey added.";
            name.value = "";
            await load();
          } catch (error) {
            status.textContent = `Could not add the passkey: ${error.message}`;
          }
        },
      },
      h("label", { class: "field" }, h("span", {}, "Passkey name"), name),
      h("button", { type: "submit", class: "primary" }, "Add a passkey"),
    ),
    status,
  );
}
