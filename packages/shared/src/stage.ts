import type { ErrorCode } from "./errors.ts";
import { statusOf } from "./errors.ts";

/**
 * The stage contract every request path is built from. A stage takes the request as the previous stage left it
 * and the request's context, and either passes its output on or denies with a catalogue code. A stage may answer
 * synchronously (the hot paths' common case: no promise) or return a promise; only the runner tells the two
 * apart, so the code around a pipeline never handles a value-or-promise. Each service turns a denial into its
 * answer in one place (`pipeline/errors.ts`).
 */

export interface Denial<D = never> {
  readonly code: ErrorCode;
  /** Which stage refused (logged as `stage`). */
  readonly stage: string;
  /** The catalogue status of `code`. */
  readonly status: number;
  /** Replaces the catalogue message; never carries a secret. */
  readonly message?: string | undefined;
  /** Extra response headers (retry-after, connection: close). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** What the service's answer or log needs beyond the code (e.g. who was refused). */
  readonly detail?: D | undefined;
}

export type Result<T, D = never> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly denial: Denial<D> };

export type Denied<D = never> = { readonly ok: false; readonly denial: Denial<D> };

export type Stage<I, O, C, D = never> = (input: I, ctx: C) => Result<O, D> | Promise<Result<O, D>>;

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export interface DenyOptions<D> {
  message?: string | undefined;
  headers?: Record<string, string> | undefined;
  detail?: D | undefined;
}

export function deny<D = never>(stage: string, code: ErrorCode, options?: DenyOptions<D>): Denied<D> {
  return {
    ok: false,
    denial: {
      code,
      stage,
      status: statusOf(code),
      ...(options?.message !== undefined ? { message: options.message } : {}),
      ...(options?.headers !== undefined ? { headers: options.headers } : {}),
      ...(options?.detail !== undefined ? { detail: options.detail } : {}),
    },
  };
}

export interface RunCallbacks<O, D> {
  /** The last stage's output, or the first denial. Called once, synchronously when every stage was. */
  done(result: Result<O, D>): void;
  /** A stage threw or rejected: a bug or an outage the stage did not map; the caller answers INTERNAL_ERROR. */
  fail(error: unknown): void;
}

// biome-ignore lint/suspicious/noExplicitAny: the chain's types are checked when it is built (pipe), not here.
type AnyStage<C, D> = Stage<any, any, C, D>;

/**
 * A list of stages, each fed the previous one's output, read top to bottom where it is built:
 * `stages<Request, Ctx>().pipe(route).pipe(signature)`. `run` calls the stages in order until one denies; a
 * stage that answers synchronously costs no promise, one that returns a promise resumes the list when it settles.
 */
export class Pipeline<I, O, C, D = never> {
  readonly #list: readonly AnyStage<C, D>[];

  constructor(list: readonly AnyStage<C, D>[]) {
    this.#list = list;
  }

  pipe<N>(stage: Stage<O, N, C, D>): Pipeline<I, N, C, D> {
    return new Pipeline<I, N, C, D>([...this.#list, stage]);
  }

  run(input: I, ctx: C, callbacks: RunCallbacks<O, D>): void {
    try {
      this.#from(0, input, ctx, callbacks);
    } catch (error) {
      callbacks.fail(error);
    }
  }

  /** `run` as a promise, for callers off the hot path (tests, admin routes). */
  result(input: I, ctx: C): Promise<Result<O, D>> {
    return new Promise((resolve, reject) => this.run(input, ctx, { done: resolve, fail: reject }));
  }

  /** Throws what a stage or `done` throws; the caller turns it into `fail`. */
  #from(start: number, input: unknown, ctx: C, callbacks: RunCallbacks<O, D>): void {
    const list = this.#list;
    let value = input;
    for (let i = start; i < list.length; i++) {
      const result = (list[i] as AnyStage<C, D>)(value, ctx);
      if (result instanceof Promise) {
        const next = i + 1;
        result.then((settled) => {
          try {
            if (settled.ok) this.#from(next, settled.value, ctx, callbacks);
            else callbacks.done(settled);
          } catch (error) {
            callbacks.fail(error);
          }
        }, callbacks.fail);
        return;
      }
      if (!result.ok) {
        callbacks.done(result);
        return;
      }
      value = result.value;
    }
    callbacks.done({ ok: true, value: value as O });
  }
}

/** Starts a stage list whose first stage takes `I`. */
export function stages<I, C, D = never>(): Pipeline<I, I, C, D> {
  return new Pipeline<I, I, C, D>([]);
}
