// Which errors a program threw, and which of them someone took in. The README promises that
// no error is dropped: what a thread throws reaches a joiner, a killer, a scope's joiner or
// the run. Only JavaScript drops errors, where a `finally` ends otherwise than normally.
import {
  ClosedError,
  DeadlockError,
  KilledError,
  LaggedError,
  TimeoutError,
} from "../../../mod.ts";

/** An error a program's `throw` step or throwing cleanup made: numbered, to be found again. */
export class ProgramError extends Error {
  override name = "ProgramError";
  readonly id: number;
  constructor(id: number, where: string) {
    super(where);
    this.id = id;
  }
}

export class ErrorLedger {
  readonly #thrown = new Map<number, string>();
  readonly #observed = new Set<number>();
  readonly #caught = new Set<unknown>();
  readonly #fromKills = new Set<unknown>();
  readonly #isCloseError: (error: unknown) => boolean;
  /**
   * What an operation's body threw straight into `withTimeout` or `moveOnAfter`: a caller
   * killed before it took such an error in hands it to its killer (README), so it may reach
   * the run although it is a library error.
   */
  readonly fromBodies = new Set<unknown>();
  /** Errors a join step got: a thread's error is kept for late joiners, and goes on too. */
  readonly joined = new Set<unknown>();

  /** `isCloseError` tells the errors the program closed its channels with. */
  constructor(isCloseError: (error: unknown) => boolean) {
    this.#isCloseError = isCloseError;
  }

  get anyThrown(): boolean {
    return this.#thrown.size > 0;
  }

  raise(where: string): ProgramError {
    const error = new ProgramError(this.#thrown.size + 1, where);
    this.#thrown.set(error.id, where);
    return error;
  }

  /** Someone saw `error`, and every error chained in it. */
  observe(error: unknown, seen = new Set<unknown>()): void {
    if (seen.has(error)) return;
    seen.add(error);
    if (error instanceof ProgramError) this.#observed.add(error.id);
    if (error instanceof SuppressedError) {
      this.observe(error.error, seen);
      this.observe(error.suppressed, seen);
    }
    if (error instanceof Error && error.cause !== undefined) this.observe(error.cause, seen);
  }

  /** A `catch` of the program took `error` in. */
  catch(error: unknown): void {
    this.observe(error);
    this.#markCaught(error);
  }

  /** A kill threw `error` (what the target's cleanup threw, or was handed). */
  killThrew(error: unknown): void {
    forEachChained(error, (e) => this.#fromKills.add(e));
  }

  #markCaught(error: unknown): void {
    forEachChained(error, (e) => this.#caught.add(e));
  }

  /** What was thrown and never seen, with where it was thrown. */
  unobserved(): string[] {
    return [...this.#thrown].filter(([id]) => !this.#observed.has(id)).map(([id, where]) =>
      `#${id} (${where})`
    );
  }

  /** A short name for a log line; unknown errors are marked `OTHER`. */
  name(error: unknown): string {
    if (error instanceof ClosedError) return "ClosedError";
    if (error instanceof TimeoutError) return "TimeoutError";
    if (error instanceof KilledError) return "KilledError";
    if (error instanceof LaggedError) return "LaggedError";
    if (error instanceof ProgramError) return "ProgramError";
    if (error instanceof DeadlockError) return "DeadlockError";
    if (error instanceof SuppressedError) {
      return `Suppressed(${this.name(error.error)},${this.name(error.suppressed)})`;
    }
    if (this.#isCloseError(error)) return "CloseError";
    return `OTHER:${(error as Error)?.name}:${(error as Error)?.message}`;
  }

  /** Every error chained in `error`, newest first, with its message: for the log. */
  describe(error: unknown): string {
    if (error instanceof SuppressedError) {
      return `${this.describe(error.error)}; ${this.describe(error.suppressed)}`;
    }
    return `${this.name(error).replace(/^OTHER:.*/, "OTHER")}: ${(error as Error)?.message}`;
  }

  /** Whether a program's error, or one an operation's body threw, is in `error`. */
  explains(error: unknown): boolean {
    if (error instanceof SuppressedError) {
      return this.explains(error.error) || this.explains(error.suppressed);
    }
    return error instanceof ProgramError || this.fromBodies.has(error);
  }

  /**
   * The first library error in a run's rejection that no rule lets through, or undefined.
   * Two may: an operation body's error whose caller was killed before it took it in (and
   * no `catch` got it too); and `withTimeout`'s own `TimeoutError` when its losers' cleanup
   * threw: that answer, `Suppressed(cleanup, TimeoutError)`, is made inside the shield, so a
   * caller killed meanwhile hands all of it on.
   */
  unowed(error: unknown, underCleanup = false): unknown {
    if (error instanceof SuppressedError) {
      const timeoutUnderCleanup = error.suppressed instanceof TimeoutError &&
        (this.#holdsProgramError(error.error) || this.unowed(error.error) === undefined);
      return this.unowed(error.error) ?? this.unowed(error.suppressed, timeoutUnderCleanup);
    }
    const name = this.name(error);
    if (!["TimeoutError", "ClosedError", "LaggedError", "CloseError"].includes(name)) {
      return undefined;
    }
    if (error instanceof TimeoutError && underCleanup) return undefined;
    if (!this.fromBodies.has(error)) return error;
    // Caught, it may still come: a channel's close error is one object that every receiver
    // gets, and a kill's error goes to the target's joiners too (README), and on from them;
    // a thread's error stays its result, so a joiner that comes after it went on (to a
    // killer, a task group, the run) gets it as well.
    const handedOn = this.#isCloseError(error) || this.#fromKills.has(error) ||
      this.joined.has(error);
    return this.#caught.has(error) && !handedOn ? error : undefined;
  }

  #holdsProgramError(error: unknown): boolean {
    return error instanceof ProgramError ||
      (error instanceof SuppressedError &&
        (this.#holdsProgramError(error.error) || this.#holdsProgramError(error.suppressed)));
  }
}

/** Calls `visit` on `error` and on every error chained in it as a `SuppressedError`. */
export function forEachChained(error: unknown, visit: (error: unknown) => void): void {
  visit(error);
  if (error instanceof SuppressedError) {
    forEachChained(error.error, visit);
    forEachChained(error.suppressed, visit);
  }
}
