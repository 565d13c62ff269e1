import { type Command, Option } from "commander";
import type { CliContext } from "../context.ts";

import { type AddOptions, add } from "./service/add.ts";
import { withSecretOptions } from "./service/common.ts";
import { list } from "./service/list.ts";
import { remove } from "./service/remove.ts";
import { type SecretSetOptions, secretSet } from "./service/secret-set.ts";

/**
 * `sigilum service add | list | secret set` (spec §C.4): a service registered in the control plane with its own
 * service API key (written where the verifier's claims feed reads it, spec/gateway.md §4.1) and, in gateway mode,
 * the gateway connection that injects the upstream credential (admin API, spec/gateway.md §5.2).
 */

export function registerServiceCommands(program: Command, ctx: CliContext): void {
  const service = program.command("service").description("services: register, list, update gateway secrets");

  withSecretOptions(
    service
      .command("add")
      .description(
        "register a service (control plane + service API key) and, in gateway mode, its gateway connection",
      )
      .argument("[slug]", "service slug (also the gateway connection id)")
      .option("--service-slug <slug>", "same as the argument")
      .option("--service-name <name>", "display name (default: the slug)")
      .option("--description <text>", "description")
      .option("--domain <domain>", "domain (default: the upstream host, or localhost)")
      .option("--namespace <namespace>", "owner namespace (default: $SIGILUM_NAMESPACE or the only identity)")
      .addOption(
        new Option(
          "--mode <mode>",
          "native or gateway (default: gateway when --upstream-base-url is given)",
        ).choices(["native", "gateway"]),
      )
      .option("--upstream-base-url <url>", "the API the gateway forwards to")
      .addOption(
        new Option("--auth-mode <mode>", "how the credential is injected")
          .choices(["bearer", "header_key", "query_param"])
          .default("bearer"),
      )
      .option("--upstream-header <name>", "header (or query parameter) name; default by auth mode")
      .option("--auth-prefix <prefix>", 'value prefix (default "Bearer " for bearer)')
      .option("--upstream-secret-key <name>", "name of the secret in the connection (default by auth mode)"),
  )
    .option("--force", "recreate an existing gateway connection")
    .option("--reveal-secrets", "print the service API key")
    .option(
      "--key-dir <path>",
      "where the verifier reads service-api-key-<slug> (default: the local stack's gateway home)",
    )
    .option("--api-url <url>", "control plane URL")
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON")
    .action((slug: string | undefined, opts: AddOptions) => add(ctx, slug, opts));

  service
    .command("list")
    .description("list the namespace's services and whether the gateway has a connection for each")
    .option("--namespace <namespace>", "owner namespace")
    .option("--api-url <url>", "control plane URL")
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON")
    .action((opts) => list(ctx, opts));

  service
    .command("remove")
    .alias("rm")
    .description("delete a service: its gateway connection, its key file and the control plane's service")
    .argument("<slug>", "service slug (connection id)")
    .option("--namespace <namespace>", "owner namespace")
    .option(
      "--key-dir <path>",
      "where the verifier reads service-api-key-<slug> (default: the local stack's)",
    )
    .option("--api-url <url>", "control plane URL")
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON")
    .action((slug: string, opts) => remove(ctx, slug, opts));

  const secret = service.command("secret").description("gateway connection secrets");
  withSecretOptions(
    secret
      .command("set", { isDefault: true })
      .description(
        "replace a gateway connection's upstream secret (read from stdin, a file, a variable or a prompt)",
      )
      .argument("[slug]", "service slug (connection id)")
      .option("--service-slug <slug>", "same as the argument")
      .option(
        "--upstream-secret-key <name>",
        "which secret to set (default: the connection's auth secret key)",
      )
      .option("--value <secret>", "the secret itself (visible in the process list)"),
  )
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--json", "print JSON")
    .action((slug: string | undefined, opts: SecretSetOptions) => secretSet(ctx, slug, opts));
}
