/**
 * h("button", {class: "x", onclick: fn, "aria-label": "..."}, "text", child): builds elements without HTML
 * strings, so nothing the API returns is ever parsed as markup.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Node|string|number|null|undefined|false|Array<Node|string>)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = String(value);
    else if (key === "value") el.value = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** SVG element with attributes (the usage chart). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

/** Replaces an element's children, skipping null, undefined and false (replaceChildren would print "null"). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** "2 min ago", "3 h ago", or the date; the exact time is in the title. */
export function when(isoString) {
  if (!isoString) return h("span", { class: "muted" }, "never");
  const date = new Date(isoString);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  let text;
  if (seconds < 60) text = "just now";
  else if (seconds < 3600) text = `${Math.floor(seconds / 60)} min ago`;
  else if (seconds < 86400) text = `${Math.floor(seconds / 3600)} h ago`;
  else text = date.toLocaleDateString();
  return h("time", { datetime: isoString, title: date.toLocaleString() }, text);
}

/** A table that scrolls sideways on a phone (focusable, so the keyboard can scroll it too). */
export function table(caption, headers, rows) {
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      {},
      h("caption", { class: "sr-only" }, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headers.map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

/** Shortens an `ed25519:...` key for display; the full key is in the title. */
export function shortKey(key) {
  return h("code", { title: key }, key.length > 24 ? `${key.slice(0, 16)}…${key.slice(-6)}` : key);
}

/** Runs `action`, then says `done` in a toast; when it throws, the toast says its error instead. */
export async function attempt(ctx, action, done) {
  try {
    await action();
    ctx.toast(done);
  } catch (error) {
    ctx.toast(error.message, "error");
  }
}

/** A button that asks "sure?" by changing into a confirm button first (no modal, works with the keyboard). */
export function confirmButton(label, confirmLabel, action, attrs = {}) {
  let armed = false;
  const button = h("button", {
    type: "button",
    class: "danger",
    ...attrs,
    onclick: async () => {
      if (!armed) {
        armed = true;
        button.textContent = confirmLabel;
        setTimeout(() => {
          armed = false;
          if (button.isConnected) button.textContent = label;
        }, 5000);
        return;
      }
      button.disabled = true;
      try {
        await action();
      } finally {
        button.disabled = false;
      }
    },
  });
  button.textContent = label;
  return button;
}

/** A labelled form control with an optional hint below it. */
export function field(label, input, hint) {
  return h(
    "label",
    { class: "field" },
    h("span", {}, label),
    input,
    hint ? h("small", { class: "muted" }, hint) : null,
  );
}

/**
 * A form whose submit runs `action` instead of loading a page; a thrown error goes to `fail` (the pages pass
 * `ctx.fail`, which shows it as a toast).
 */
export function form(attrs, action, fail, ...children) {
  const onsubmit = async (event) => {
    event.preventDefault();
    try {
      await action(event);
    } catch (error) {
      fail(error);
    }
  };
  return h("form", { ...attrs, onsubmit }, ...children);
}
