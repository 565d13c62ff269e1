/**
 * Exit codes (spec controlplane-cli-sdk.md §C.9): 0 success and help, 1 usage, validation, unreachable services,
 * health timeouts and failed requests.
 */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;

/**
 * An expected failure: printed as `error: <message>` plus what to do next, never as a stack trace; with `--json`,
 * as `{"error", "code", "hint"}` on stdout. `code` is a stable machine-readable name (CLI_ERROR unless a more
 * specific one applies).
 */
export class CliError extends Error {
  override name = "CliError";
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly code: string;
  constructor(message: string, options: { hint?: string; exitCode?: number; code?: string } = {}) {
    super(message);
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT_FAILURE;
    this.code = options.code ?? "CLI_ERROR";
  }
}
