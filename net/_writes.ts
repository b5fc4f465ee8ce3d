// The write events of a connection: `send` (one write), `sendall` (as many writes as it
// takes) and `closeWrite`. Each claims the write side when it starts and releases it when
// its thread resumes, or at once if its thread is killed.
import { Primitive } from "../scheduler/_primitive.ts";
import type { Socket } from "./_socket.ts";

const encoder = new TextEncoder();

/** A write: one or more OS writes, then a result. */
abstract class Write<T> extends Primitive<T> {
  protected readonly socket: Socket;
  #failed = false;
  #error: unknown = undefined;

  constructor(socket: Socket) {
    super();
    this.socket = socket;
  }

  /** The verb for messages. */
  protected abstract get action(): string;
  /** Begins the work (the write side is claimed): a promise to wait on, or null if done. */
  protected abstract begin(): PromiseLike<unknown> | null;
  /** Takes in a write's count: the next promise to wait on, or null if done. */
  protected abstract wrote(value: unknown): PromiseLike<unknown> | null;
  /** The result once done. */
  protected abstract result(): T;

  start(): PromiseLike<unknown> | null {
    // An event may be yielded again once it is done: each start is a fresh write.
    this.#failed = false;
    this.#error = undefined;
    const socket = this.socket;
    socket.startWrite(this.action);
    try {
      return this.begin();
    } catch (error) {
      socket.writer = null;
      throw socket.mapError(error, this.action);
    }
  }

  settled(ok: boolean, value: unknown): PromiseLike<unknown> | null {
    let error = value;
    if (ok) {
      try {
        return this.wrote(value);
      } catch (thrown) {
        error = thrown;
      }
    }
    this.#failed = true;
    this.#error = this.socket.mapError(error, this.action);
    return null;
  }

  finish(): T {
    this.socket.writer = null;
    if (this.#failed) throw this.#error;
    return this.result();
  }

  cancel(): void {
    this.socket.writer = null;
  }

  /** `data` as bytes; throws a `TypeError` naming what it got otherwise. */
  protected toBytes(data: Uint8Array | string): Uint8Array {
    if (typeof data === "string") return encoder.encode(data);
    if (data instanceof Uint8Array) return data;
    throw new TypeError(
      `Cannot ${this.action} ${this.socket.peer()}: data must be a Uint8Array or a string, got ${typeof data}`,
    );
  }
}

/** `send(data)`: one write; gives how many bytes went out. */
export class Send extends Write<number> {
  readonly #data: Uint8Array | string;
  #bytes: Uint8Array | null = null;
  #sent = 0;

  constructor(socket: Socket, data: Uint8Array | string) {
    super(socket);
    this.#data = data;
  }

  get description(): string {
    return "send";
  }

  protected get action(): string {
    return "send to";
  }

  override start(): PromiseLike<unknown> | null {
    // A wrong type is a TypeError before the write side is claimed.
    this.#bytes = this.toBytes(this.#data);
    return super.start();
  }

  protected begin(): PromiseLike<unknown> {
    return this.socket.conn.write(this.#bytes!);
  }

  protected wrote(value: unknown): null {
    this.#sent = value as number;
    return null;
  }

  protected result(): number {
    return this.#sent;
  }
}

/** `sendall(data)`: writes until every byte went out. */
export class SendAll extends Write<void> {
  readonly #data: Uint8Array | string;
  #bytes: Uint8Array | null = null;
  #sent = 0;

  constructor(socket: Socket, data: Uint8Array | string) {
    super(socket);
    this.#data = data;
  }

  get description(): string {
    return "sendall";
  }

  protected get action(): string {
    return "send to";
  }

  override start(): PromiseLike<unknown> | null {
    this.#bytes = this.toBytes(this.#data);
    this.#sent = 0;
    return super.start();
  }

  protected begin(): PromiseLike<unknown> | null {
    const bytes = this.#bytes!;
    return bytes.length === 0 ? null : this.socket.conn.write(bytes);
  }

  protected wrote(value: unknown): PromiseLike<unknown> | null {
    const bytes = this.#bytes!;
    const sent = this.#sent += value as number;
    return sent < bytes.length ? this.socket.conn.write(bytes.subarray(sent)) : null;
  }

  protected result(): void {}
}

/** `closeWrite()`: shuts down the sending side, once. */
export class CloseWrite extends Write<void> {
  get description(): string {
    return "closeWrite";
  }

  protected get action(): string {
    return "shut down writing to";
  }

  protected begin(): PromiseLike<unknown> | null {
    const socket = this.socket;
    if (socket.writeClosed) return null;
    socket.writeClosed = true;
    return socket.conn.closeWrite();
  }

  protected wrote(): null {
    return null;
  }

  protected result(): void {}
}
