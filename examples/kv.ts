// deno run --allow-net examples/kv.ts [--port 6380] [--host 127.0.0.1] [--idle-timeout SECONDS]
//                                      [--pubsub-limit BYTES] [--max-clients N]
//
// A Redis-compatible key-value server that real clients talk to unmodified:
// `redis-cli -p 6380`, `redis-benchmark -p 6380`. It speaks RESP2 (arrays, and inline
// commands typed into `nc`), answers pipelines in one write, and covers strings, keys,
// expiry, lists with blocking pops, and publish/subscribe, with Redis 7's replies byte for
// byte. One coroutine per client reads requests and executes them; the commands themselves
// (examples/_kv_db.ts) know nothing of sockets.
//
// A subscriber that stops reading never slows a publisher: messages queue in memory, and
// past `--pubsub-limit` bytes (32 MiB, Redis's hard limit) the subscriber is disconnected.
// `--port 0` picks a free port; the `listening on HOST:PORT` line says which. Ctrl-C (or
// SIGTERM) closes every connection and exits.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import { type Client, Database } from "./_kv_db.ts";
import { ProtocolError, RequestParser } from "./_kv_resp.ts";
import { FOREVER } from "./_kv_wakeup.ts";

/**
 * The port `deno task kv` listens on: next to Redis's 6379, so both can run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_PORT } from "./kv.ts";
 *
 * assert.equal(DEFAULT_PORT, 6379 + 1);
 * ```
 */
export const DEFAULT_PORT = 6380;

/** Redis reads 16 KiB at a time too. */
const RECV_SIZE = 16 * 1024;

/**
 * Writes what `client` has to say; a subscriber's writer thread does it for a client that
 * has subscribed (so that two writes never overlap).
 */
function* flush(
  conn: bluelet.Connection,
  client: Client,
  writer: bluelet.Task<void> | null,
): bluelet.Coroutine<void> {
  if (writer !== null) {
    client.writerWakeup.wake();
    return;
  }
  while (client.out.length > 0) {
    const n = client.out.length;
    yield conn.sendall(client.out.bytes());
    client.out.consume(n); // a blocking pop may have been served meanwhile
  }
}

/**
 * A subscriber's writer: publishers only append to the subscriber's buffer and wake this
 * thread, so a subscriber that does not read holds up nobody.
 */
function* writeForSubscriber(
  conn: bluelet.Connection,
  client: Client,
): bluelet.Coroutine<void> {
  try {
    for (;;) {
      if (client.out.length === 0) {
        if (client.closeAfterReply) return;
        yield* client.writerWakeup.wait(FOREVER);
        continue;
      }
      const sending = client.out;
      client.out = client.spare;
      client.spare = sending;
      yield* conn.sendall(sending.bytes());
      sending.clear();
    }
  } catch {
    client.kill(); // the peer is gone; the reader ends too
  }
}

/**
 * While a client waits in BLPOP, reads on its behalf: what it sends waits for its turn,
 * and if it hangs up, it leaves the queue at once, so a value is never handed to it.
 */
function* watchBlocked(
  conn: bluelet.Connection,
  client: Client,
  parser: RequestParser,
): bluelet.Coroutine<void> {
  try {
    for (;;) {
      const data = yield* conn.recv(RECV_SIZE);
      if (data.length === 0) break;
      parser.feed(data);
    }
  } catch {
    // Reset, or too much sent while blocked: the same as hanging up.
  }
  client.db.endBlock(client, false);
  client.kill();
  client.wakeup.wake();
}

/** Runs one blocking pop that `execute` queued, then sends its reply. */
function* blockClient(
  conn: bluelet.Connection,
  client: Client,
  parser: RequestParser,
  timeout: number,
  writer: bluelet.Task<void> | null,
): bluelet.Coroutine<void> {
  yield* flush(conn, client, writer); // earlier replies of the pipeline go first
  const watcher = yield* bluelet.spawn(watchBlocked(conn, client, parser));
  try {
    yield* client.block(timeout);
  } finally {
    if (!watcher.done) yield bluelet.kill(watcher); // a killed read loses no bytes
  }
  yield* flush(conn, client, writer);
  client.delivered();
}

/**
 * Makes the handler that serves one client of `db`.
 *
 * @param db The database every client shares.
 * @returns The handler, for `bluelet.server`.
 *
 * @example A client's pipeline, over a real socket
 * ```ts
 * import assert from "node:assert/strict";
 * import * as bluelet from "../mod.ts";
 * import { Database } from "./_kv_db.ts";
 * import { kvHandler } from "./kv.ts";
 *
 * const db = new Database();
 * const reply = await bluelet.run(function* () {
 *   let port = 0;
 *   const server = yield* bluelet.spawn(bluelet.server("127.0.0.1", 0, kvHandler(db), {
 *     onListen: (addr) => port = (addr as Deno.NetAddr).port,
 *   }));
 *   yield* bluelet.sleep(1);
 *   const conn = yield* bluelet.connect("127.0.0.1", port);
 *   yield* conn.sendall("SET greeting hello\r\nGET greeting\r\n");
 *   const reply = yield* conn.recvExactly(16);
 *   conn.close();
 *   yield* bluelet.kill(server);
 *   return new TextDecoder().decode(reply);
 * }());
 * assert.equal(reply, "+OK\r\n$5\r\nhello\r\n");
 * ```
 */
export function kvHandler(
  db: Database,
): (conn: bluelet.Connection) => bluelet.Coroutine<void> {
  return function* kvClient(conn) {
    const client = db.connect();
    client.onKill = () => conn.close();
    const parser = new RequestParser();
    // One read event for the whole connection: an event yielded again starts afresh, and
    // Bluelet-style `yield` skips the iterator that `yield*` makes. It is the hot path.
    const read = conn.recv(RECV_SIZE);
    let writer: bluelet.Task<void> | null = null;
    try {
      while (!client.closeAfterReply) {
        const data: Uint8Array = yield read;
        if (data.length === 0) return;
        client.active = true;
        try {
          parser.feed(data);
        } catch {
          return; // over the query buffer limit (1 GiB): Redis closes such a client too
        }
        for (;;) {
          let args: string[] | null;
          try {
            args = parser.next();
          } catch (error) {
            if (!(error instanceof ProtocolError)) throw error;
            client.out.error(`ERR ${error.message}`);
            client.closeAfterReply = true;
            break;
          }
          if (args === null) break;
          const timeout = client.execute(args);
          if (timeout >= 0) {
            yield* bluelet.call(blockClient(conn, client, parser, timeout, writer));
            // It hung up while blocked: what else it sent must not run (a pop would lose
            // its value), as Redis frees such a client at once.
            if (client.killed) return;
          }
          if (client.closeAfterReply) break;
        }
        if (db.needsSweep) yield* bluelet.spawn(db.expireCycle());
        if (client.pushMode && writer === null) {
          writer = yield* bluelet.spawn(writeForSubscriber(conn, client));
        }
        if (writer === null && client.out.length > 0) {
          // flush(), inlined on the hot path: one generator less per batch.
          const n = client.out.length;
          yield conn.sendall(client.out.bytes());
          client.out.consume(n);
        }
        if (writer !== null || client.out.length > 0) yield* flush(conn, client, writer);
      }
      if (writer !== null) yield* bluelet.join(writer); // it writes the last replies
    } catch (error) {
      // Closed by the server itself (a slow subscriber, an idle client): not a failure.
      if (!(client.killed && error instanceof bluelet.SocketClosedError)) throw error;
    } finally {
      if (writer !== null && !writer.done) yield bluelet.kill(writer);
      db.disconnect(client);
    }
  };
}

/**
 * Runs the server until SIGINT or SIGTERM (or `signal`), then closes every connection.
 *
 * @param args `--port N` (default 6380), `--host H` (default 127.0.0.1),
 * `--idle-timeout SECONDS` (default 0: never), `--pubsub-limit BYTES`,
 * `--max-clients N` (default 10000).
 * @param signal Stops the server too, as a signal would.
 * @returns A promise that resolves once the server has stopped.
 *
 * @example Starting and stopping the server
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./kv.ts";
 *
 * const stop = new AbortController();
 * const serving = main(["--port", "0"], stop.signal);
 * stop.abort();
 * assert.equal(await serving, undefined);
 * ```
 */
export async function main(args: readonly string[], signal?: AbortSignal): Promise<void> {
  let port = DEFAULT_PORT;
  let host = "127.0.0.1";
  let idleTimeout = 0;
  let pubsubLimit: number | undefined;
  let maxConnections = 10_000;
  for (let i = 0; i < args.length; i++) {
    const value = args[i + 1];
    if (args[i] === "--port") port = Number(value);
    else if (args[i] === "--host") host = value ?? "";
    else if (args[i] === "--idle-timeout") idleTimeout = Number(value) * 1000;
    else if (args[i] === "--pubsub-limit") pubsubLimit = Number(value);
    else if (args[i] === "--max-clients") maxConnections = Number(value);
    else throw new TypeError(`Unknown argument: ${args[i]}`);
    i++;
  }
  const db = new Database({ idleTimeout, pubsubLimit });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  signal?.addEventListener("abort", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await bluelet.run(
      function* () {
        yield* bluelet.server(host, port, kvHandler(db), {
          maxConnections,
          onListen: (addr) => {
            if (addr.transport === "tcp") console.log(`listening on ${addr.hostname}:${addr.port}`);
          },
        });
      }(),
      { signal: stop.signal },
    );
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    signal?.removeEventListener("abort", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    console.log("Exiting.");
  }
}

if (import.meta.main) await main(Deno.args);
