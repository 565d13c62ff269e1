import type { Logger } from "@sigilum-gw/shared/logger";

/**
 * Where the bridge says what it is doing: the reference bridge's `[sigilum] …` lines (stdout, warnings and errors
 * on stderr) when run from the CLI, or JSON log lines with the same text and fields when run as a service.
 */
export interface Reporter {
  info(line: string, fields?: Record<string, unknown>): void;
  warn(line: string, fields?: Record<string, unknown>): void;
  error(line: string, fields?: Record<string, unknown>): void;
}

export function textReporter(): Reporter {
  return {
    info: (line) => process.stdout.write(`[sigilum] ${line}\n`),
    warn: (line) => process.stderr.write(`[sigilum] ${line}\n`),
    error: (line) => process.stderr.write(`[sigilum] ${line}\n`),
  };
}

export function logReporter(logger: Logger): Reporter {
  return {
    info: (line, fields = {}) => logger.info(fields, line),
    warn: (line, fields = {}) => logger.warn(fields, line),
    error: (line, fields = {}) => logger.error(fields, line),
  };
}
