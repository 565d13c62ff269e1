import type { AddressInfo } from "node:net";
import { ConfigError } from "../config.ts";
import { reportListening } from "../listen-report.ts";
import { createLogger, flushLogs, type LogDestination, type Logger, stdoutDestination } from "../logger.ts";
import type { DrainOutcome } from "../metrics.ts";

/**
 * How every service process runs: configuration from the environment (each ConfigError issue logged as fatal,
 * then the service's configuration exit code), one logger on an asynchronous destination, start, the listening
 * line and LISTEN_ADDRESS_FILE, SIGINT/SIGTERM to one graceful stop, the logs flushed, and an exit code by the
 * drain's outcome (0 only when it drained cleanly).
 */

export interface ServiceInstance {
  /** Binds the listener; resolves with its address. */
  start(): Promise<AddressInfo>;
  /** Graceful stop (called once); resolves with the drain outcome. */
  stop(): Promise<DrainOutcome>;
  /** Called once started, when the service can end on its own (the bridge's terminal session): resolves with the
   * exit code. Without it the service runs until a signal. */
  run?(): Promise<number>;
  /** Fields of the listening line besides the address and port. */
  listening?: Record<string, unknown>;
}

export interface ServiceDefinition<C> {
  /** The logger's name ("control-plane"). */
  name: string;
  /** The listening line says `<label> listening` (supervisors wait for it). */
  label: string;
  /** Throws ConfigError on a bad environment. */
  loadConfig(): C;
  /** Exit code of a bad configuration; default 1. */
  configExitCode?: number;
  logLevel?(config: C): string | undefined;
  /** The parsed LISTEN_ADDRESS_FILE (listenReportEnv): where the listening address is written for a supervisor. */
  listenAddressFile?(config: C): string | undefined;
  /** Default: asynchronous stdout. */
  destination?: LogDestination;
  /** Instead of the JSON fatal lines, for a process run by a person (the bridge's `[sigilum] Error:` lines). */
  reportFatal?(message: string): void;
  /** Returns true when this process only supervises others (the verifier's cluster primary): no service here. */
  supervise?(config: C, logger: Logger): boolean;
  /** SIGINT is left to a supervisor that got it too (Ctrl-C reaches every process of the group). */
  ignoreSigint?: boolean;
  create(config: C, logger: Logger): ServiceInstance | Promise<ServiceInstance>;
}

export async function runService<C>(definition: ServiceDefinition<C>): Promise<void> {
  const destination = definition.destination ?? stdoutDestination();
  const logger = createLogger(definition.name, { destination });
  const exit = async (code: number): Promise<never> => {
    await flushLogs(destination);
    process.exit(code);
  };
  const fatal = (message: string, fields: Record<string, unknown> = {}) =>
    definition.reportFatal ? definition.reportFatal(message) : logger.fatal(fields, message);

  let config: C;
  try {
    config = definition.loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) {
      fatal(`${definition.label} failed to start: ${(err as Error).message}`, { err });
      return exit(1);
    }
    for (const issue of err.issues) fatal(issue.message, { variable: issue.variable });
    return exit(definition.configExitCode ?? 1);
  }
  const level = definition.logLevel?.(config);
  if (level) logger.level = level;
  if (definition.supervise?.(config, logger)) return;

  let service: ServiceInstance;
  try {
    service = await definition.create(config, logger);
    const address = await service.start();
    reportListening(address, definition.listenAddressFile?.(config));
    logger.info(
      { address: address.address, port: address.port, ...service.listening },
      `${definition.label} listening`,
    );
  } catch (err) {
    fatal(`${definition.label} failed to start: ${(err as Error).message}`, { err });
    return exit(1);
  }

  let stopping = false;
  const stopWith = (code: number) => {
    if (stopping) return;
    stopping = true;
    service.stop().then(
      (outcome) => {
        if (outcome !== "success") logger.warn({ outcome }, `${definition.label} did not drain cleanly`);
        return exit(outcome === "success" ? code : 1);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        return exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    logger.info({ signal }, "shutting down");
    stopWith(0);
  };
  process.on("SIGTERM", onSignal);
  if (!definition.ignoreSigint) process.on("SIGINT", onSignal);
  service.run?.().then(stopWith, (err: unknown) => {
    logger.error({ err }, `${definition.label} failed`);
    stopWith(1);
  });
}
