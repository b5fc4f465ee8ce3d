// How each example runs as a command: its `import.meta.main` line calls `runCommand`, and a
// server prints where it listens with `printListening`.
//
// A mistake in how it was started (a flag it does not know, a port that is no port) and a
// failure the library names for its user (the port in use, a refused upstream, no
// permission) are for the user to fix, not bugs: they print as one line, `error: ...`,
// and the command exits with status 2 after a usage mistake (with the usage), 1 otherwise.
// Anything else is a bug, and keeps its stack trace.
import { NetError } from "../net/mod.ts";

/** A mistake in the command line, found before the example starts its work. */
export class UsageError extends TypeError {
  /**
   * @param message What is wrong, in Deno std style.
   * @param options Its cause, if another error found it.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** A failure the command names for its user (a URL it cannot fetch): one line, status 1. */
export class CommandError extends Error {
  /**
   * @param message What failed, in Deno std style.
   * @param options Its cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandError";
  }
}

/**
 * Runs `main(Deno.args)` as a command (see the top of the file), and exits with the code it
 * gives, if any.
 *
 * @param main The example's `main`.
 * @param usage How to start it, as in `deno task echo [--port N] [--host H]`.
 */
export async function runCommand(
  main: (args: readonly string[]) => Promise<number | void>,
  usage: string,
): Promise<void> {
  // Anywhere, as a flag of its own: not as another flag's value (`--host --help`).
  const args = Deno.args;
  const help = (arg: string, i: number) =>
    (arg === "--help" || arg === "-h") && (i === 0 || !args[i - 1].startsWith("-"));
  if (args.some(help)) {
    console.log(`usage: ${usage}`);
    return;
  }
  let code: number | void;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\nusage: ${usage}`);
      Deno.exit(2);
    }
    if (
      error instanceof NetError || error instanceof CommandError ||
      error instanceof Deno.errors.NotCapable
    ) {
      console.error(`error: ${error.message}`);
      Deno.exit(1);
    }
    throw error;
  }
  if (typeof code === "number") Deno.exit(code);
}

/**
 * The value of a flag that takes a port, checked.
 *
 * @param flag The flag, as in `--port`.
 * @param value What followed it, if anything did.
 * @returns The port: an integer from 0 to 65535.
 */
export function portArg(flag: string, value: string | undefined): number {
  // Decimal digits only: `Number` would take "1e3" and "0x10" too.
  const port = value !== undefined && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new UsageError(`${flag} must be a port from 0 to 65535, got ${quoted(value)}`);
  }
  return port;
}

/**
 * The value of a flag that takes a number, checked only for being one: what range it
 * needs is for the code that uses it to say.
 *
 * @param flag The flag, as in `--timeout`.
 * @param value What followed it, if anything did.
 * @returns The number.
 */
export function numberArg(flag: string, value: string | undefined): number {
  const number = value?.trim() ? Number(value) : NaN;
  if (!Number.isFinite(number)) {
    throw new UsageError(`${flag} must be a number, got ${quoted(value)}`);
  }
  return number;
}

/**
 * The value of `--idle-timeout`: how long a server lets a connection move no byte before it
 * lets the client go (the `server` helper's `idleTimeout`).
 *
 * @param flag The flag, as in `--idle-timeout`.
 * @param value What followed it, if anything did.
 * @returns The limit in milliseconds: a positive number.
 */
export function idleTimeoutArg(flag: string, value: string | undefined): number {
  const ms = numberArg(flag, value);
  if (!(ms > 0)) {
    throw new UsageError(`${flag} must be a positive number of milliseconds, got ${ms}`);
  }
  return ms;
}

/** The value of a flag that takes any text. */
export function textArg(flag: string, value: string | undefined): string {
  if (value === undefined) throw new UsageError(`${flag} needs a value`);
  return value;
}

function quoted(value: string | undefined): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

/**
 * An address as people write it: `HOST:PORT`, an IPv6 host in brackets as in a URL
 * (`[::1]:4915`); a Unix socket's path.
 */
export function address(addr: Deno.Addr): string {
  if ("path" in addr) return addr.path;
  if (!("hostname" in addr)) return `${addr.transport}:${addr.cid}:${addr.port}`;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** Prints `listening on HOST:PORT`: a server's `onListen`, for you and for the tests. */
export function printListening(addr: Deno.Addr): void {
  console.log(`listening on ${address(addr)}`);
}
