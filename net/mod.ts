/**
 * Sockets as events: `Listener`, `connect`, `Connection` and the `server` helper, on
 * `Deno.listen` and `Deno.connect`.
 *
 * @module
 */
export {};
