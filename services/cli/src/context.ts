/** Everything a command touches outside itself, so tests can run the CLI in-process with captured streams. */
export interface TextSink {
  write(text: string): unknown;
}

export interface CliInput extends AsyncIterable<Buffer | string> {
  isTTY?: boolean;
}

export interface CliContext {
  stdout: TextSink;
  stderr: TextSink;
  stdin: CliInput;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Whether stdin is an interactive terminal (secret prompts are only offered then). */
  interactive: boolean;
  /** Set by a command that finished but must report failure (e.g. `request` got a 4xx). */
  exitCode: number;
}

export function processContext(): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    interactive: process.stdin.isTTY === true,
    exitCode: 0,
  };
}
