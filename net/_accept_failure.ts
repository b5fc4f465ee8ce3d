// Which failures of an OS accept are about the one connection it was taking, not about the
// listener. Linux's accept(2) gives a pending connection's network error as its own (a
// client that reset while it waited in the backlog, a route that went away) and asks
// callers to treat those as a retry; Trio's and Go's listeners do so. Anything else (out of
// descriptors, out of memory, a closed socket) is the listener's, and is thrown.

/** The codes accept(2) names as a pending connection's own, with ECONNRESET and ETIMEDOUT. */
const ONE_CLIENT_CODES = new Set([
  "ECONNABORTED",
  "ECONNRESET",
  "ENOTCONN",
  "ETIMEDOUT",
  "EPROTO",
  "ENOPROTOOPT",
  "EOPNOTSUPP",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "ENONET",
]);

/**
 * Whether `error`, as Deno's `accept` rejected with it, is about the one connection being
 * accepted: the listener is fine, and the next accept may well succeed.
 */
export function failedForOneClient(error: unknown): boolean {
  const errors = Deno.errors;
  if (
    error instanceof errors.ConnectionAborted || error instanceof errors.ConnectionReset ||
    error instanceof errors.NotConnected || error instanceof errors.TimedOut
  ) {
    return true;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && ONE_CLIENT_CODES.has(code);
}
