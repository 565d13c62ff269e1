import { DEFAULT_OWNER_TOKEN_TTL_SECONDS, mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { readTrimmed, writeSecretFile } from "../core/files.ts";
import { CliError } from "../errors.ts";
import { resolveEndpoints } from "../lib/endpoints.ts";
import { ApiCallError } from "../lib/http.ts";
import { resolveOwnerNamespace } from "../lib/namespace.ts";
import { openUrl } from "../lib/open-url.ts";
import { controlPlaneClient, localJwtSecret, tokenFilePath } from "../lib/owner-session.ts";
import { isExpired, isWellFormedJwt, readTokenClaims } from "../lib/owner-token.ts";
import { emit, keyValues, printLines, success, warn } from "../output.ts";

/**
 * `sigilum auth login|refresh|show` (spec §C.3): the namespace owner's JWT, stored 0600 in
 * `<OPENCLAW_HOME or ~/.openclaw>/.sigilum/owner-token-<ns>.jwt`. oss-local mode issues it from the local control
 * plane's JWT secret; managed mode takes one issued elsewhere (--token or --token-stdin).
 */

interface LoginOptions {
  mode?: string;
  namespace?: string;
  email?: string;
  apiUrl?: string;
  token?: string;
  tokenStdin?: boolean;
  ttlSeconds: string;
  tokenFile?: string;
  tokenOnly?: boolean;
  printToken?: boolean;
  open?: boolean;
  json?: boolean;
}

/** A one-time dashboard sign-in link for the owner (valid minutes, used once). */
async function dashboardLink(
  ctx: CliContext,
  endpoints: Awaited<ReturnType<typeof resolveEndpoints>>,
  token: string,
): Promise<{ url: string; expires_at: string; opened: boolean }> {
  const link = await controlPlaneClient(endpoints, token).call<{ url: string; expires_at: string }>(
    { method: "POST", path: "/v1/auth/login-links" },
    "login link",
  );
  return { ...link, opened: await openUrl(link.url, ctx.env) };
}

async function readStdinLine(ctx: CliContext): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.stdin) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > 16 * 1024) throw new CliError("The token on standard input is larger than 16 KiB");
    chunks.push(buffer);
  }
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/[\r\n]/g, "")
    .trim();
}

function parseMode(ctx: CliContext, value: string | undefined): "oss-local" | "managed" {
  const mode = value ?? ctx.env.SIGILUM_MODE?.trim() ?? "oss-local";
  if (mode !== "oss-local" && mode !== "managed") throw new CliError("--mode must be managed or oss-local");
  return mode;
}

async function login(ctx: CliContext, opts: LoginOptions, refresh: boolean): Promise<void> {
  const mode = parseMode(ctx, opts.mode);
  const ttl = Number(opts.ttlSeconds);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new CliError("--ttl-seconds must be a positive whole number");
  const endpoints = await resolveEndpoints(ctx, { apiUrl: opts.apiUrl });
  const namespace = await resolveOwnerNamespace(ctx, opts.namespace);
  const path = tokenFilePath(ctx, namespace, opts.tokenFile);
  let token = opts.token?.trim() || (opts.tokenStdin ? await readStdinLine(ctx) : undefined);
  if (token === undefined && !opts.tokenStdin) token = ctx.env.SIGILUM_OWNER_TOKEN?.trim() || undefined;
  if (mode === "managed" || token) {
    if (!token) {
      throw new CliError("Managed mode requires an explicit owner JWT.", {
        hint: "Run browser/passkey login first, then pass the token via --token or --token-stdin.",
      });
    }
  } else {
    const secret = await localJwtSecret(ctx, endpoints);
    if (!secret) {
      throw new CliError("Unable to resolve JWT_SECRET for local token issuance.", {
        hint: `Start the local stack once with \`sigilum up\` (it creates ${endpoints.layout.controlPlaneDataDir}/jwt-secret), or set JWT_SECRET.`,
      });
    }
    token = await mintOwnerToken({ namespace, secret, ttlSeconds: ttl, email: opts.email });
  }
  if (!isWellFormedJwt(token)) throw new CliError("The owner token is not a JWT");
  const issued =
    mode === "oss-local" && !opts.token && !opts.tokenStdin && !ctx.env.SIGILUM_OWNER_TOKEN?.trim();
  const shownMode = issued ? "oss-local" : "managed";
  const claims = readTokenClaims(token);
  if (claims?.namespace !== undefined && claims.namespace !== namespace) {
    throw new CliError(`The token is for namespace "${claims.namespace}", not "${namespace}"`, {
      hint: `Pass --namespace ${claims.namespace}`,
    });
  }
  // Check the token where it will be used; the control plane provisions the owner on first use.
  let verified: "yes" | "refused" | "unreachable" = "unreachable";
  try {
    await controlPlaneClient(endpoints, token).call({ method: "GET", path: "/v1/auth/me" }, "token check");
    verified = "yes";
  } catch (error) {
    if (error instanceof ApiCallError) {
      throw new CliError(
        `The control plane at ${endpoints.controlPlaneUrl} refused the token (${error.message})`,
        {
          hint:
            mode === "oss-local"
              ? "The local JWT secret does not match the running control plane; set JWT_SECRET or SIGILUM_DATA_DIR to the stack's."
              : "Get a fresh token and try again.",
        },
      );
    }
    verified = "unreachable";
  }
  await writeSecretFile(path, token);
  if (opts.open && verified !== "yes") {
    throw new CliError(
      `Cannot open the dashboard: the control plane at ${endpoints.controlPlaneUrl} is not reachable`,
      {
        hint: "Start the local stack with `sigilum up`, or pass --api-url.",
      },
    );
  }
  const link = opts.open ? await dashboardLink(ctx, endpoints, token) : undefined;
  if (opts.tokenOnly) {
    printLines(ctx, [token]);
    return;
  }
  if (verified === "unreachable") {
    warn(
      ctx,
      `Could not check the token: the control plane at ${endpoints.controlPlaneUrl} is not reachable.`,
    );
  }
  success(ctx, `Namespace-owner token ${refresh ? "refreshed" : "ready"}.`);
  const expiresAt = claims?.exp ? new Date(claims.exp * 1000).toISOString() : null;
  emit(
    ctx,
    opts.json,
    {
      command: refresh ? "auth refresh" : "auth login",
      mode: shownMode,
      namespace,
      api: endpoints.controlPlaneUrl,
      token_file: path,
      expires_at: expiresAt,
      verified: verified === "yes",
      ...(link ? { login_url: link.url, login_url_expires_at: link.expires_at, opened: link.opened } : {}),
      ...(opts.printToken ? { token } : {}),
    },
    () => [
      ...keyValues([
        ["mode", shownMode],
        ["namespace", namespace],
        ["api", endpoints.controlPlaneUrl],
        ["token_file", path],
        ["expires_at", expiresAt],
      ]),
      ...(link
        ? [
            "",
            `[i] Dashboard sign-in link (one use, until ${link.expires_at})${link.opened ? ", opened in your browser" : ""}:`,
            link.url,
          ]
        : []),
      ...(opts.printToken ? ["", "[i] JWT:", token] : []),
    ],
  );
}

function loginCommand(parent: Command, ctx: CliContext, name: "login" | "refresh"): void {
  parent
    .command(name)
    .description(name === "login" ? "get and store the namespace owner's token" : "issue a fresh owner token")
    .option(
      "--mode <mode>",
      "oss-local (issue locally) or managed (bring a token); default $SIGILUM_MODE or oss-local",
    )
    .option("--namespace <namespace>", "owner namespace (default: $SIGILUM_NAMESPACE or the only identity)")
    .option("--email <email>", "owner email in a locally issued token (default <namespace>@local.sigilum)")
    .option("--api-url <url>", "control plane URL (default: the local stack)")
    .option("--token <jwt>", "managed mode: the token (visible in the process list; prefer --token-stdin)")
    .option("--token-stdin", "managed mode: read the token from standard input")
    .option(
      "--ttl-seconds <n>",
      "lifetime of a locally issued token",
      String(DEFAULT_OWNER_TOKEN_TTL_SECONDS),
    )
    .option("--token-file <path>", "where to store it (default ~/.openclaw/.sigilum/owner-token-<ns>.jwt)")
    .option("--token-only", "print only the token")
    .option("--print-token", "also print the token")
    .option("--open", "print a one-time dashboard sign-in link and open it in the browser ($BROWSER)")
    .option("--json", "print JSON")
    .action((opts: LoginOptions) => login(ctx, opts, name === "refresh"));
}

export function registerAuthCommands(program: Command, ctx: CliContext): void {
  const auth = program.command("auth").description("namespace-owner token (login, refresh, show)");
  loginCommand(auth, ctx, "login");
  loginCommand(auth, ctx, "refresh");
  auth
    .command("show")
    .description("show the stored owner token's namespace and expiry")
    .option("--namespace <namespace>", "owner namespace")
    .option("--token-file <path>", "token file")
    .option("--token-only", "print only the token")
    .option("--json", "print JSON")
    .action(async (opts: { namespace?: string; tokenFile?: string; tokenOnly?: boolean; json?: boolean }) => {
      const namespace = await resolveOwnerNamespace(ctx, opts.namespace);
      const path = tokenFilePath(ctx, namespace, opts.tokenFile);
      const token = await readTrimmed(path);
      if (!token) {
        throw new CliError(`Token file not found: ${path}`, {
          hint: `Run \`sigilum auth login --namespace ${namespace}\`.`,
        });
      }
      if (opts.tokenOnly) return printLines(ctx, [token]);
      const claims = readTokenClaims(token);
      const expiresAt = claims?.exp ? new Date(claims.exp * 1000).toISOString() : null;
      const expired = isExpired(claims);
      emit(
        ctx,
        opts.json,
        {
          command: "auth show",
          namespace: claims?.namespace ?? namespace,
          subject: claims?.sub ?? null,
          email: claims?.email ?? null,
          token_file: path,
          expires_at: expiresAt,
          expired,
        },
        () =>
          keyValues([
            ["namespace", claims?.namespace ?? namespace],
            ["subject", claims?.sub],
            ["email", claims?.email],
            ["token_file", path],
            ["expires_at", expiresAt ? `${expiresAt}${expired ? " (expired)" : ""}` : "unknown"],
          ]),
      );
    });
}
