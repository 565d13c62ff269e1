import { Command, CommanderError } from "commander";
import { registerApprovalCommands } from "./commands/approvals.ts";
import { registerAuthCommands } from "./commands/auth.ts";
import { registerDoctorCommand } from "./commands/doctor.ts";
import { registerGatewayCommands } from "./commands/gateway.ts";
import { registerGatewayBackupCommands } from "./commands/gateway-backup.ts";
import { registerIdentityCommands } from "./commands/identity.ts";
import { registerPairingCommands } from "./commands/pairing.ts";
import { registerRequestCommand } from "./commands/request.ts";
import { registerServiceCommands } from "./commands/service.ts";
import { registerStackCommands } from "./commands/stack.ts";
import { registerUsageCommand } from "./commands/usage.ts";
import { registerVersionCommand } from "./commands/version.ts";
import type { CliContext } from "./context.ts";
import { CliError, EXIT_FAILURE, EXIT_OK } from "./errors.ts";
import { ApiCallError } from "./lib/http.ts";
import { printError, printJsonError } from "./output.ts";

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
  registerUsageCommand(program, ctx);
  registerDoctorCommand(program, ctx);
  registerVersionCommand(program, ctx);
  registerPairingCommands(program, ctx);
  registerGatewayCommands(program, ctx);
  registerGatewayBackupCommands(program, ctx);
  return program;
}

/** Runs one command line and returns the exit code (never throws, never calls process.exit). */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  const json = argv.includes("--json");
  const fail = (error: Pick<CliError, "message" | "hint" | "code">, exitCode = EXIT_FAILURE): number => {
    if (json) printJsonError(ctx, error);
    printError(ctx, error);
    return exitCode;
  };
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
      // bad option) has already been printed with the usage hint on stderr.
      if (
        error.code === "commander.helpDisplayed" ||
        error.code === "commander.version" ||
        error.code === "commander.help"
      )
        return EXIT_OK;
      if (json)
        printJsonError(ctx, {
          message: error.message.replace(/^error: /, ""),
          code: "USAGE",
          hint: undefined,
        });
      return EXIT_FAILURE;
    }
    if (error instanceof CliError) return fail(error, error.exitCode);
    if (error instanceof ApiCallError) {
      return fail({ message: error.message, code: error.code ?? `HTTP_${error.status}`, hint: undefined });
    }
    return fail({
      message: `unexpected failure: ${(error as Error)?.message ?? String(error)}`,
      code: "INTERNAL_ERROR",
      hint: "This is a bug in the CLI; please report it with the command you ran.",
    });
  }
}
