import { attempt, confirmButton, field, fill, form, h, table, when } from "../dom.js";

export const title = "Gateway";

/**
 * Pairing (start a session, show its one-time code, watch it connect) and the paired gateway's provider
 * connections, managed through the pairing relay: every command goes to the control plane, which hands it to the
 * gateway's bridge. Secret fields are sealed here, in the browser, to the gateway's public key (libsodium sealed
 * box): the control plane, its logs and the relay frames only ever carry `{"sealed": "…"}`.
 */

/** The secret's name inside the connection (its `auth_secret_key`). */
const SECRET_NAME = "api_key";
const AUTH_MODES = [
  ["bearer", "Authorization: Bearer <secret>"],
  ["header_key", "Header <name>: <secret>"],
  ["query_param", "Query parameter <name>=<secret>"],
];

/** Loads the sealed-box code (tweetnacl, BLAKE2b) only here: no other page pays for it. */
async function loadSealer() {
  await import("../vendor/tweetnacl/nacl-fast.min.js"); // UMD: defines self.nacl
  const [{ blake2b }, { sealedBox }] = await Promise.all([
    import("../vendor/noble-hashes/blake2.js"),
    import("../lib/sealed-box.js"),
  ]);
  return sealedBox(self.nacl, blake2b);
}

function gatewayMessage(status, data) {
  if (typeof data?.error === "string") return data.error;
  if (typeof data?.message === "string") return data.message;
  return `the gateway answered HTTP ${status}`;
}

/** One admin command through the relay; the gateway's JSON answer, or an Error with its message. */
async function relay(ctx, sessionId, method, path, body) {
  const answer = await ctx.api.post("/v1/gateway/pairing/command", {
    session_id: sessionId,
    method,
    path,
    headers: { "content-type": "application/json", accept: "application/json" },
    body: body === undefined ? null : JSON.stringify(body),
  });
  let data;
  try {
    data = answer.body ? JSON.parse(answer.body) : undefined;
  } catch {
    data = undefined;
  }
  if (answer.error) throw new Error(answer.error);
  if (answer.status >= 400 && !(data && "http_status" in data))
    throw new Error(gatewayMessage(answer.status, data));
  return data;
}

function pairCodeBox(started) {
  const command =
    `sigilum gateway pair --session-id ${started.session_id} --pair-code ${started.pair_code} ` +
    `--namespace ${started.namespace} --api-url ${location.origin} --daemon`;
  const expires = new Date(started.expires_at);
  return h(
    "div",
    { class: "pairing-code", role: "alert" },
    h(
      "p",
      {},
      h("strong", {}, "Pair code (shown once): "),
      h(
        "code",
        { class: "pair-code", "aria-label": "Pair code", "data-pair-code": started.pair_code },
        started.pair_code,
      ),
    ),
    h("p", { class: "muted" }, "On the gateway host, run:"),
    h(
      "code",
      { class: "command", "aria-label": "Pairing command", "data-session": started.session_id },
      command,
    ),
    h(
      "p",
      { class: "muted" },
      "Valid until ",
      h("time", { datetime: started.expires_at }, expires.toLocaleTimeString()),
      " unless a gateway connects.",
    ),
  );
}

function connectionRows(ctx, session, connections, reload) {
  return connections.map((c) =>
    h(
      "tr",
      { "data-connection": c.id },
      h("td", {}, h("code", {}, c.id)),
      h("td", {}, h("code", {}, c.base_url)),
      h("td", {}, c.auth_mode),
      h("td", {}, c.status),
      h(
        "td",
        {},
        c.last_test_status
          ? h(
              "span",
              { class: `badge ${c.last_test_status}` },
              `${c.last_test_status} ${c.last_test_http_status ?? ""}`,
            )
          : "—",
      ),
      h("td", {}, `v${c.secret_version}`, c.last_rotated_at ? [" · ", when(c.last_rotated_at)] : ""),
      h(
        "td",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            onclick: async (event) => {
              event.target.disabled = true;
              try {
                const result = await relay(
                  ctx,
                  session,
                  "POST",
                  `/api/admin/connections/${encodeURIComponent(c.id)}/test`,
                  {},
                );
                if (result.status === "pass")
                  ctx.toast(`Test of ${c.id} passed (HTTP ${result.http_status})`);
                else
                  ctx.toast(
                    `Test of ${c.id} failed: ${result.error ?? `HTTP ${result.http_status}`}`,
                    "error",
                  );
              } catch (error) {
                ctx.toast(error.message, "error");
              } finally {
                event.target.disabled = false;
              }
              await reload();
            },
          },
          "Test",
        ),
        confirmButton("Delete", "Confirm delete", async () => {
          await attempt(
            ctx,
            () => relay(ctx, session, "DELETE", `/api/admin/connections/${encodeURIComponent(c.id)}`),
            `Connection ${c.id} deleted`,
          );
          await reload();
        }),
      ),
    ),
  );
}

function secretInput(name) {
  return h("input", { name, type: "password", required: true, autocomplete: "off", maxlength: 8192 });
}

/** Add a connection: the secret is sealed to the gateway's key before the form's data leaves the page. */
function addForm(ctx, session, seal, reload) {
  const inputs = {
    id: h("input", { name: "id", required: true, pattern: "[a-z0-9][a-z0-9-]{1,62}[a-z0-9]", maxlength: 64 }),
    base_url: h("input", { name: "base_url", type: "url", required: true, maxlength: 2048 }),
    auth_mode: h(
      "select",
      { name: "auth_mode" },
      AUTH_MODES.map(([value, label]) => h("option", { value }, label)),
    ),
    auth_header_name: h("input", { name: "auth_header_name", maxlength: 128 }),
    secret: secretInput("secret"),
  };
  return form(
    { class: "card grid" },
    async () => {
      const sealed = await seal(inputs.secret.value);
      inputs.secret.value = "";
      const id = inputs.id.value.trim();
      const header = inputs.auth_header_name.value.trim();
      await relay(ctx, session, "POST", "/api/admin/connections", {
        id,
        base_url: inputs.base_url.value.trim(),
        auth_mode: inputs.auth_mode.value,
        ...(header ? { auth_header_name: header } : {}),
        auth_secret_key: SECRET_NAME,
        secrets: { [SECRET_NAME]: sealed },
      });
      ctx.toast(`Connection ${id} added`);
      await reload();
    },
    ctx.fail,
    h("h2", {}, "Add a provider connection"),
    field("Connection id", inputs.id, "the service slug agents call: /proxy/<id>/…"),
    field("Provider base URL", inputs.base_url),
    field("How the secret is sent", inputs.auth_mode),
    field("Header or parameter name", inputs.auth_header_name, "optional; the mode's usual name when empty"),
    field("Provider secret", inputs.secret, "sealed in this browser to the gateway's key; never stored here"),
    h("button", { type: "submit", class: "primary" }, "Add connection"),
  );
}

function rotateForm(ctx, session, seal, connections, reload) {
  const which = h(
    "select",
    { name: "connection" },
    connections.map((c) => h("option", { value: c.id }, c.id)),
  );
  const secret = secretInput("new-secret");
  return form(
    { class: "inline" },
    async () => {
      const connection = connections.find((c) => c.id === which.value);
      const sealed = await seal(secret.value);
      secret.value = "";
      // The secret the connection injects (a connection made by the CLI names it differently).
      const name = connection?.auth_secret_key ?? SECRET_NAME;
      const path = `/api/admin/connections/${encodeURIComponent(which.value)}/rotate`;
      await relay(ctx, session, "POST", path, { secrets: { [name]: sealed } });
      ctx.toast(`Secret of ${which.value} rotated`);
      await reload();
    },
    ctx.fail,
    field("Connection to rotate", which),
    field("New secret", secret),
    h("button", { type: "submit" }, "Rotate secret"),
  );
}

function connectionsPanel(ctx, session, publicKey) {
  const panel = h("div", {});
  const sealer = loadSealer();
  const seal = async (value) => ({ sealed: (await sealer)(value, publicKey) });
  const load = async () => {
    const { connections } = await relay(ctx, session, "GET", "/api/admin/connections");
    fill(
      panel,
      connections.length === 0
        ? h("p", { class: "empty" }, "No provider connections on this gateway yet.")
        : table(
            "Provider connections",
            ["Id", "Base URL", "Auth", "Status", "Last test", "Secret", ""],
            connectionRows(ctx, session, connections, load),
          ),
      connections.length > 0 ? rotateForm(ctx, session, seal, connections, load) : null,
      addForm(ctx, session, seal, load),
    );
  };
  return { panel, load };
}

/** The session to show: a connected gateway's, else the one just started, else one that was connected once. */
function pick(sessions, started) {
  return (
    sessions.find((s) => s.connected && s.gateway_public_key) ??
    sessions.find((s) => s.session_id === started?.session_id) ??
    sessions.find((s) => s.last_connected_at !== null)
  );
}

function pairingStatus(session) {
  const connected = session?.connected && session.gateway_public_key;
  let text = "Not paired.";
  if (connected) text = "Paired: the gateway is connected.";
  else if (session?.last_connected_at) {
    const seen = new Date(session.last_connected_at).toISOString();
    text = ["The gateway is not connected (last seen ", when(seen), ")."];
  } else if (session) text = "Waiting for the gateway to connect…";
  return h(
    "p",
    { class: "status", role: "status", "data-paired": connected ? "connected" : "waiting" },
    text,
  );
}

export async function render(ctx) {
  const pairing = h("div", { class: "card" });
  const connections = h("div", {});
  /** The session this page started, with its one-time code (kept in memory only, never stored). */
  let started = null;
  let shownFor = null;
  let shownState = null;

  const startButton = (label) =>
    h(
      "button",
      {
        type: "button",
        class: "primary",
        onclick: async () => {
          try {
            started = await ctx.api.post("/v1/gateway/pairing/start");
            await refresh();
          } catch (error) {
            ctx.fail(error);
          }
        },
      },
      label,
    );

  const refresh = async () => {
    const { sessions } = await ctx.api.get("/v1/gateway/pairing/sessions");
    const session = pick(sessions, started);
    const connected = Boolean(session?.connected && session.gateway_public_key);
    const waiting = started && sessions.some((s) => s.session_id === started.session_id && !s.connected);
    if (started && !waiting) started = null; // connected (the code is spent) or expired
    // Redrawn only when something changed, so the focus and the live region stay put between polls.
    const state = JSON.stringify([
      session?.session_id,
      connected,
      session?.last_connected_at,
      started?.session_id,
    ]);
    if (state !== shownState) {
      shownState = state;
      fill(
        pairing,
        h("h2", {}, "Pairing"),
        pairingStatus(session),
        connected
          ? h(
              "p",
              { class: "muted" },
              "Gateway key ",
              h("code", { title: session.gateway_public_key }, session.gateway_public_key.slice(0, 12)),
              "…",
            )
          : null,
        started ? pairCodeBox(started) : startButton(session ? "Start a new pairing" : "Start pairing"),
      );
    }
    if (connected && shownFor !== session.session_id) {
      shownFor = session.session_id;
      const panel = connectionsPanel(ctx, session.session_id, session.gateway_public_key);
      fill(connections, h("h2", {}, "Provider connections"), panel.panel);
      await panel.load().catch((error) => fill(panel.panel, h("p", { class: "error" }, error.message)));
    } else if (!connected) {
      shownFor = null;
      fill(connections);
    }
  };

  await refresh();
  ctx.every(2000, () => void refresh().catch(() => undefined));
  return h(
    "section",
    {},
    h("h1", {}, "Gateway"),
    h(
      "p",
      { class: "muted" },
      "Pair a gateway that has no inbound port, then manage its provider connections from here.",
    ),
    pairing,
    connections,
  );
}
