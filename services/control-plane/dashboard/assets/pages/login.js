import { h } from "../dom.js";

export const title = "Sign in";

async function signInWithPasskey(ctx, status) {
  status.textContent = "Waiting for your passkey…";
  try {
    const { startAuthentication } = await import("../vendor/webauthn/methods/startAuthentication.js");
    const optionsJSON = await ctx.api.get("/v1/auth/login/options");
    const credential = await startAuthentication({ optionsJSON });
    const { user } = await ctx.api.post("/v1/auth/login", { credential });
    ctx.signedIn(user);
  } catch (error) {
    status.textContent = `Passkey sign-in failed: ${error.message}`;
  }
}

/** The login link's token travels in the URL fragment, so it never reaches a server log or a Referer header. */
async function redeemLink(ctx, token, status) {
  history.replaceState(null, "", "/login");
  status.textContent = "Signing you in…";
  try {
    const { user } = await ctx.api.post("/v1/auth/login-links/redeem", { token });
    ctx.signedIn(user);
  } catch (error) {
    status.textContent = `This login link does not work (${error.message}). Run sigilum auth login --open for a new one.`;
  }
}

export async function render(ctx) {
  if (ctx.session) {
    queueMicrotask(() => ctx.navigate("/approvals", { replace: true }));
    return h("p", {}, "Signed in.");
  }
  const status = h("p", { class: "status", role: "status" });
  const token = new URLSearchParams(location.hash.slice(1)).get("link");
  if (token) void redeemLink(ctx, token, status);
  return h(
    "section",
    { class: "card narrow" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Approve the agents that may use your services, and watch what they do."),
    h(
      "button",
      { type: "button", class: "primary", onclick: () => signInWithPasskey(ctx, status) },
      "Sign in with a passkey",
    ),
    h(
      "p",
      { class: "muted" },
      "No passkey yet? On the gateway's host run ",
      h("code", {}, "sigilum auth login --open"),
      ": it opens a one-time sign-in link. Then add a passkey on the Passkeys page.",
    ),
    status,
  );
}
