// What every socket event shares: claim a side of the connection (reading or writing),
// begin the OS work, take in each outcome as it settles, and release the side when the
// thread resumes (or at once, if it is killed). Errors from any step are mapped once, here,
// to the module's typed errors, and thrown at the thread's yield point.
import { Primitive, type Wait } from "../scheduler/lowlevel.ts";
import type { Socket } from "./_socket.ts";

/** What an operation that has not failed holds as its error: any value may be thrown. */
const NO_ERROR: unique symbol = Symbol("no error");

/** A kernel primitive working on one connection's {@linkcode Socket}. */
export abstract class SocketEvent<T> extends Primitive<T> {
  // Declared, not defined: set once in the constructor, rather than defined, then set.
  declare protected readonly socket: Socket;
  /**
   * The error the operation failed with, or `NO_ERROR`. A plain field, not a private one:
   * see scheduler/_primitive.ts on what a private field in a base class costs.
   */
  declare private error: unknown;

  constructor(socket: Socket) {
    super();
    this.socket = socket;
    this.error = NO_ERROR;
  }

  /** The verb for messages, e.g. `"recv from"`. */
  protected abstract get action(): string;
  /**
   * Checks the arguments and claims the side this event uses, or throws why it cannot;
   * only once the side is claimed may it reset the event's own state.
   */
  protected abstract claim(): void;
  /** Gives the side back. */
  protected abstract release(): void;
  /**
   * Begins the work: a promise to wait on (an OS op), null if the result is already there,
   * or SUSPEND until an in-memory peer calls `wake` (after `fail`, for an error).
   */
  protected abstract begin(): Wait;
  /** Takes in how the last wait ended: the next promise to wait on, or null if done. */
  protected abstract step(ok: boolean, value: unknown): PromiseLike<unknown> | null;
  /** The result, once done; throws if the result is an error. */
  protected abstract result(): T;

  start(): Wait {
    this.claim();
    // An event may be yielded again once it is done: each start is a fresh operation.
    // Only now, once the side is claimed: yielded again while still in progress (by
    // another thread), it is rejected and must not touch the operation's state.
    this.error = NO_ERROR;
    try {
      return this.begin();
    } catch (error) {
      this.release();
      throw this.socket.mapError(error, this.action);
    }
  }

  override settled(ok: boolean, value: unknown): PromiseLike<unknown> | null {
    try {
      return this.step(ok, value);
    } catch (error) {
      this.error = this.socket.mapError(error, this.action);
      return null;
    }
  }

  /** Sets the error a SUSPEND wait ends with; an in-memory transport calls it before `wake`. */
  fail(error: unknown): void {
    this.error = this.socket.mapError(error, this.action);
  }

  /** The error the operation has failed with, if it has: `undefined` if not. */
  protected get failure(): unknown {
    return this.error === NO_ERROR ? undefined : this.error;
  }

  finish(): T {
    this.release();
    if (this.error !== NO_ERROR) throw this.error;
    return this.result();
  }

  cancel(): void {
    this.release();
  }
}
