/**
 * Sockets as events: `Listener`, `connect`, `Connection` and the `server` helper, on
 * `Deno.listen` and `Deno.connect`.
 *
 * Every I/O call is an event: yield it Bluelet-style (`const data = yield conn.recv(1024)`)
 * or delegate to it for a typed result (`const data = yield* conn.recv(1024)`). TCP (IPv4
 * and IPv6), Unix sockets and TLS are supported; failures throw typed errors that extend
 * {@linkcode NetError}.
 *
 * @example The echo server
 * ```ts
 * import { type Connection, type Coroutine, run, server } from "@bluelet/bluelet";
 * import { connect, kill, spawn, until } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* echoer(conn: Connection): Coroutine<void> {
 *   while (true) {
 *     const data = yield conn.recv(1024);
 *     if (data.length === 0) break;
 *     yield conn.sendall(data);
 *   }
 * }
 *
 * await run(function* () {
 *   const listening = Promise.withResolvers<Deno.NetAddr | Deno.UnixAddr>();
 *   const echo = yield* spawn(server("127.0.0.1", 0, echoer, { onListen: listening.resolve }));
 *   const { port } = (yield* until(listening.promise)) as Deno.NetAddr;
 *   using conn = yield* connect("127.0.0.1", port);
 *   yield* conn.sendall("hello");
 *   assert.equal(new TextDecoder().decode(yield* conn.recvExactly(5)), "hello");
 *   yield* kill(echo); // closes the listener and every connection
 * }());
 * ```
 *
 * @module
 */
// Re-exported because every event here is typed with it.
export type { Coroutine } from "../scheduler/mod.ts";
export { connect, type ConnectOptions } from "./connect.ts";
export { Connection, type ReadlineOptions } from "./connection.ts";
export {
  AddressInUseError,
  BrokenPipeError,
  ConnectError,
  ConnectionRefusedError,
  ConnectionResetError,
  ConnectionTimedOutError,
  ConnectTimeoutError,
  LineTooLongError,
  NetError,
  SocketClosedError,
  UnexpectedEofError,
} from "./errors.ts";
export { Listener, type ListenerOptions } from "./listener.ts";
export { server, type ServerOptions } from "./server.ts";
export { recvInto } from "./recv_into.ts";
export { relay, type RelayOptions, type RelayResult } from "./relay.ts";
export { type ConnectionStreams, toStreams, type ToStreamsOptions } from "./streams.ts";
export { serveWorkers, type ServeWorkersOptions, WorkerServer } from "./serve_workers.ts";
