import { Command, CommanderError } from "commander";
import { registerApprovalCommands } from "./commands/approvals.ts";
import { registerAuthCommands } from "./commands/auth.ts";
import { registerIdentityCommands } from "./commands/identity.ts";
import { registerRequestCommand } from "./commands/request.ts";
import { registerServiceCommands } from "./commands/service.ts";
import { registerStackCommands } from "./commands/stack.ts";
import type { CliContext } from "./context.ts";
import { CliError, EXIT_FAILURE, EXIT_OK } from "./errors.ts";
import { ApiCallError } from "./lib/http.ts";
import { printError } from "./output.ts";

export const VERSION = "0.1.0";

/** The `sigilum` program: one module per command group, all output through the context's streams. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("sigilum")
    .description("Sigilum agent credential gateway: local stack, identities, services and approvals")
    .version(`sigilum ${VERSION}`, "-v, --version", "print the version")
    .showHelpAfterError("(run `sigilum --help` for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.stdout.write(text),
      writeErr: (text) => ctx.stderr.write(text),
    });
  registerStackCommands(program, ctx);
  registerIdentityCommands(program, ctx);
  registerAuthCommands(program, ctx);
  registerServiceCommands(program, ctx);
  registerApprovalCommands(program, ctx);
  registerRequestCommand(program, ctx);
  return program;
}

/** Runs one command line and returns the exit code (never throws, never calls process.exit). */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT_FAILURE;
    }
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; every other commander error (unknown command, missing argument,
      // bad option) has already been printed with the usage hint.
      return error.code === "commander.helpDisplayed" ||
        error.code === "commander.version" ||
        error.code === "commander.help"
        ? EXIT_OK
        : EXIT_FAILURE;
    }
    if (error instanceof CliError) {
      printError(ctx, error);
      return error.exitCode;
    }
    if (error instanceof ApiCallError) {
      printError(ctx, { message: error.message, hint: undefined });
      return EXIT_FAILURE;
    }
    printError(ctx, {
      message: `unexpected failure: ${(error as Error)?.message ?? String(error)}`,
      hint: "This is a bug in the CLI; please report it with the command you ran.",
    });
    return EXIT_FAILURE;
  }
}
