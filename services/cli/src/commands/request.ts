import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { createSigilumClient } from "@sigilum-gw/sdk";
import { listNamespaces } from "@sigilum-gw/shared/identity";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { sigilumHome } from "../core/paths.ts";
import { CliError, EXIT_FAILURE } from "../errors.ts";
import { resolveEndpoints } from "../lib/endpoints.ts";
import { transportReason } from "../lib/http.ts";
import { localGatewayNamespace } from "../lib/namespace.ts";
import { emit } from "../output.ts";
import { identityError } from "./identity.ts";

/** `sigilum request`: one request signed with the local agent identity, printed like `curl -i`. */

const METHOD_RE = /^[A-Za-z]{1,16}$/;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseHeaderOption(value: string, previous: [string, string][] = []): [string, string][] {
  const colon = value.indexOf(":");
  const name = colon > 0 ? value.slice(0, colon).trim() : "";
  if (!HEADER_NAME_RE.test(name)) {
    throw new CliError(`Invalid --header ${JSON.stringify(value)}`, { hint: 'Use --header "Name: value"' });
  }
  const headerValue = value.slice(colon + 1).trim();
  if (/[\r\n\u0000]/.test(headerValue)) throw new CliError(`Invalid --header value for ${name}`);
  return [...previous, [name, headerValue]];
}

/** `--data text`, `--data @file` or `--data @-` (standard input). */
async function readData(ctx: CliContext, data: string | undefined): Promise<string | Uint8Array | null> {
  if (data === undefined) return null;
  if (!data.startsWith("@")) return data;
  if (data === "@-") {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    return Buffer.concat(chunks);
  }
  const path = resolve(ctx.cwd, data.slice(1));
  return readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`Cannot read --data file ${path} (${error.code ?? error.message})`);
  });
}

/** An absolute http(s) URL, or a path (`/proxy/<service>/...`) on the local gateway. */
export function targetUrl(input: string, gatewayUrl: string): string {
  if (input.startsWith("/")) return `${gatewayUrl}${input}`;
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new CliError(`Invalid URL ${JSON.stringify(input)}`, {
      hint: "Give an absolute http(s) URL, or a path such as /proxy/<service>/v1/ping for the local gateway",
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new CliError(`Unsupported URL scheme ${url.protocol}`);
  return url.toString();
}

/** --namespace / SIGILUM_NAMESPACE, else (towards the local gateway) its namespace when that identity exists. */
async function signingNamespace(
  chosen: string | undefined,
  homeDir: string,
  gatewayNamespace: string | undefined,
): Promise<string | undefined> {
  if (chosen) return chosen;
  if (gatewayNamespace && (await listNamespaces(homeDir)).includes(gatewayNamespace)) return gatewayNamespace;
  return undefined;
}

interface RequestOptions {
  data?: string;
  header?: [string, string][];
  subject?: string;
  namespace?: string;
  home?: string;
  gatewayUrl?: string;
  timeout: string;
  json?: boolean;
}

export function registerRequestCommand(program: Command, ctx: CliContext): void {
  program
    .command("request")
    .description("send one request signed with the local agent identity")
    .argument("<method>", "HTTP method (GET, POST, ...)")
    .argument("<url>", "absolute URL, or a path on the local gateway such as /proxy/<service>/...")
    .option("-d, --data <data>", "request body: text, @file, or @- for standard input")
    .option("-H, --header <name:value>", "extra header (repeatable)", parseHeaderOption)
    .option("--subject <subject>", "who the agent acts for (default: the namespace)")
    .option("--namespace <namespace>", "identity to sign with (default: $SIGILUM_NAMESPACE or the only one)")
    .option("--home <path>", "Sigilum home (default $SIGILUM_HOME or ~/.sigilum)")
    .option("--gateway-url <url>", "base URL for paths (default: the local gateway)")
    .option("--timeout <seconds>", "give up after this many seconds", "30")
    .option("--json", "print {status, headers, body}")
    .action(async (methodArg: string, urlArg: string, opts: RequestOptions) => {
      if (!METHOD_RE.test(methodArg)) throw new CliError(`Invalid HTTP method ${JSON.stringify(methodArg)}`);
      const timeoutSeconds = Number(opts.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
        throw new CliError("--timeout must be a positive number");
      const method = methodArg.toUpperCase();
      const endpoints = await resolveEndpoints(ctx, { gatewayUrl: opts.gatewayUrl });
      const url = targetUrl(urlArg, endpoints.gatewayUrl);
      const body = await readData(ctx, opts.data);
      const homeDir = sigilumHome(ctx.env, ctx.cwd, opts.home);
      const local = url.startsWith(`${endpoints.gatewayUrl}/`);
      const gatewayNamespace = local ? await localGatewayNamespace(ctx) : undefined;
      const client = await createSigilumClient({
        namespace: await signingNamespace(
          opts.namespace ?? ctx.env.SIGILUM_NAMESPACE?.trim(),
          homeDir,
          gatewayNamespace,
        ),
        homeDir,
      }).catch(identityError);
      if (gatewayNamespace && client.namespace !== gatewayNamespace) {
        throw new CliError(
          `The local gateway serves namespace "${gatewayNamespace}"; a request signed as "${client.namespace}" can never be approved on it`,
          {
            code: "NAMESPACE_MISMATCH",
            hint:
              `Sign as "${gatewayNamespace}": sigilum init (once), then sigilum request --namespace ${gatewayNamespace} ...\n` +
              `Or run the gateway for "${client.namespace}": sigilum down && sigilum up --namespace ${client.namespace}`,
          },
        );
      }
      const signed = client.sign({
        url,
        method,
        headers: opts.header ?? [],
        body,
        subject: opts.subject,
      });
      let response: Response;
      try {
        response = await fetch(signed.url, {
          method: signed.method,
          headers: signed.headers,
          body: signed.body,
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutSeconds * 1000),
        });
      } catch (error) {
        throw new CliError(`Request to ${signed.url} failed (${transportReason(error)})`, {
          hint: url.startsWith(endpoints.gatewayUrl)
            ? "Is the gateway running? Check with `sigilum status`."
            : undefined,
        });
      }
      const text = await response.text();
      const headers: Record<string, string> = {};
      for (const [name, value] of response.headers) headers[name] = value;
      emit(ctx, opts.json, { status: response.status, headers, body: text }, () => [
        `HTTP ${response.status} ${response.statusText}`.trimEnd(),
        ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
        "",
        ...(text.length > 0 ? [text.replace(/\n$/, "")] : []),
      ]);
      if (response.status >= 400) ctx.exitCode = EXIT_FAILURE;
    });
}
