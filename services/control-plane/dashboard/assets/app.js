import { ApiError, api } from "./api.js";
import { h } from "./dom.js";
import { initTheme } from "./theme.js";

/** Each page module exports `title` and `render(ctx)` returning its content; loaded when first shown. */
const PAGES = {
  "/login": () => import("./pages/login.js"),
  "/approvals": () => import("./pages/approvals.js"),
  "/agents": () => import("./pages/agents.js"),
  "/history": () => import("./pages/history.js"),
  "/services": () => import("./pages/services.js"),
  "/usage": () => import("./pages/usage.js"),
  "/passkeys": () => import("./pages/passkeys.js"),
  "/webhooks": () => import("./pages/webhooks.js"),
  "/gateway": () => import("./pages/gateway.js"),
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const logout = document.getElementById("logout");
const toastBox = document.getElementById("toast");

let session = null;
let events = null;
/** Listeners of the current page for live claim changes; replaced on every navigation. */
let claimListeners = [];
/** Timers of the current page (ctx.every); cleared on every navigation. */
const pageTimers = [];
let renderId = 0;

function toast(message, kind = "ok") {
  const item = h("p", { class: `toast ${kind}` }, message);
  toastBox.append(item);
  setTimeout(() => item.remove(), 5000);
}

function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void render();
}

function connectEvents() {
  events?.close();
  events = new EventSource("/v1/dashboard/events");
  events.addEventListener("claims", () => {
    for (const listener of claimListeners) listener();
  });
}

function setSession(user) {
  session = user;
  nav.hidden = !user;
  logout.hidden = !user;
  who.textContent = user ? user.namespace : "";
  if (user) connectEvents();
  else {
    events?.close();
    events = null;
  }
}

const ctx = {
  api,
  toast,
  /** Shows a failed action's message (the `fail` of dom.js's `form`). */
  fail: (error) => toast(error.message, "error"),
  navigate,
  get session() {
    return session;
  },
  /** Signed in (login link or passkey): remember the user and go to the pending requests. */
  signedIn(user) {
    setSession(user);
    navigate("/approvals", { replace: true });
  },
  /** Calls fn whenever the namespace's claims change (server-sent events). */
  onClaimsChange(fn) {
    claimListeners.push(fn);
  },
  /** Calls fn every `ms` while the current page is shown (live status, deliveries). */
  every(ms, fn) {
    pageTimers.push(setInterval(fn, ms));
  },
};

async function render() {
  const id = ++renderId;
  let path = location.pathname;
  if (path === "/") path = "/approvals";
  if (!session && path !== "/login") path = "/login";
  const load = PAGES[path];
  claimListeners = [];
  for (const timer of pageTimers.splice(0)) clearInterval(timer);
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (path !== location.pathname) history.replaceState(null, "", path + location.hash);
  if (!load) {
    main.replaceChildren(
      h("h1", {}, "Not found"),
      h("p", {}, h("a", { href: "/approvals" }, "Pending requests")),
    );
    return;
  }
  try {
    const page = await load();
    const content = await page.render(ctx);
    if (id !== renderId) return;
    document.title = `${page.title} · Sigilum`;
    main.replaceChildren(content);
    main.focus({ preventScroll: true });
  } catch (error) {
    if (id !== renderId) return;
    if (error instanceof ApiError && error.status === 401) {
      setSession(null);
      navigate("/login", { replace: true });
      return;
    }
    main.replaceChildren(
      h("h1", {}, "Something went wrong"),
      h("p", { class: "error" }, String(error.message)),
    );
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[href^='/']");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || link.target) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", () => void render());

logout.addEventListener("click", async () => {
  await api.post("/v1/auth/logout").catch(() => undefined);
  setSession(null);
  navigate("/login", { replace: true });
});

initTheme(document.getElementById("theme"));
try {
  setSession(await api.get("/v1/auth/me"));
} catch {
  setSession(null);
}
await render();
