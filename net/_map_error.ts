// Turns the errors Deno's socket ops throw into this module's typed errors, with the
// original as `cause` and a message that says what was attempted on which address.
import {
  AddressInUseError,
  BrokenPipeError,
  ConnectError,
  ConnectionRefusedError,
  ConnectionResetError,
  ConnectionTimedOutError,
  ConnectTimeoutError,
  NetError,
  SocketClosedError,
} from "./errors.ts";

/**
 * Maps `error`, thrown while doing `action` (e.g. `"Cannot recv from 127.0.0.1:80"`), to a
 * typed error. `closed` says the socket was closed by this side, which is why a pending
 * op was interrupted. Errors that are not about the network (Deno's own permissions,
 * bugs) pass through untouched; the OS's EACCES (Deno's `PermissionDenied`) is about the
 * address, and is mapped.
 */
export function mapError(
  error: unknown,
  action: string,
  closed = false,
): unknown {
  if (closed) {
    return error instanceof SocketClosedError ? error : closedError(action, error);
  }
  if (error instanceof NetError || !(error instanceof Error)) return error;
  const options = { cause: error };
  const errors = Deno.errors;
  if (
    error instanceof errors.ConnectionReset ||
    error instanceof errors.ConnectionAborted
  ) {
    return new ConnectionResetError(
      `${action}: connection reset by peer`,
      options,
    );
  }
  if (error instanceof errors.UnexpectedEof) {
    // Over TLS: the peer closed the connection without saying so first (a "ragged" end, as
    // many HTTPS servers give), so what came may be cut short. As abrupt as a reset.
    const why = error.message.includes("close_notify")
      ? "the peer closed the connection without TLS's close_notify"
      : `the peer closed the connection unexpectedly (${describeError(error)})`;
    return new ConnectionResetError(`${action}: ${why}`, options);
  }
  if (error instanceof errors.BrokenPipe) {
    return new BrokenPipeError(`${action}: broken pipe`, options);
  }
  if (
    error instanceof errors.BadResource || error instanceof errors.Interrupted
  ) {
    return closedError(action, error);
  }
  if (error instanceof errors.ConnectionRefused) {
    return new ConnectionRefusedError(`${action}: connection refused`, options);
  }
  if (error instanceof errors.TimedOut) {
    // On an established connection: the peer stopped answering. `connect` maps it anew.
    return new ConnectionTimedOutError(`${action}: connection timed out`, options);
  }
  if (error instanceof errors.AddrInUse) {
    return new AddressInUseError(`${action}: address already in use`, options);
  }
  if (error instanceof errors.PermissionDenied) {
    return new NetError(`${action}: permission denied`, options);
  }
  if (
    error instanceof TypeError || error instanceof RangeError ||
    error instanceof errors.NotCapable
  ) {
    return error;
  }
  return new NetError(`${action}: ${describeError(error)}`, options);
}

/** Like {@linkcode mapError}, for `connect`: failures are all `ConnectError`s. */
export function mapConnectError(error: unknown, action: string): unknown {
  if (error instanceof Deno.errors.TimedOut) {
    return new ConnectTimeoutError(`${action}: timed out`, { cause: error });
  }
  const mapped = mapError(error, action);
  if (mapped instanceof ConnectError || !(mapped instanceof NetError)) {
    return mapped;
  }
  return new ConnectError(mapped.message, { cause: error });
}

/**
 * A `TypeError` Deno threw about an argument it refuses (a Unix socket path too long for
 * the system), with what was attempted in front, as this module's own messages have;
 * anything else as it is.
 */
export function withAction(error: unknown, action: string): unknown {
  if (!(error instanceof TypeError) || error.message.startsWith("Cannot ")) return error;
  return new TypeError(`${action}: ${describeError(error)}`, { cause: error });
}

/** The error for an operation on a socket this side closed. */
export function closedError(
  action: string,
  cause?: unknown,
): SocketClosedError {
  return new SocketClosedError(
    `${action}: the socket is closed`,
    cause === undefined ? undefined : { cause },
  );
}

/** Deno's message in sentence-case-free form: `"Broken pipe (os error 32)"` -> `"broken pipe"`. */
function describeError(error: Error): string {
  const text = error.message.replace(/\s*\(os error \d+\)$/, "");
  if (text === "") return error.name;
  return text[0].toLowerCase() + text.slice(1);
}
