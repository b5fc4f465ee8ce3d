// deno run --allow-net examples/kv.ts [--port 6380] [--host 127.0.0.1] [--idle-timeout SECONDS]
//                                      [--pubsub-limit REPLIES] [--max-clients N]
//                                      [--pubsub-buffer-limit BYTES] [--query-buffer-limit BYTES]
//                                      [--query-memory BYTES] [--maxmemory BYTES]
//
// A Redis-compatible key-value server that real clients talk to unmodified:
// `redis-cli -p 6380`, `redis-benchmark -p 6380`. It speaks RESP2 (arrays, and inline
// commands typed into `nc`), answers pipelines in one write, and covers strings, keys,
// expiry, lists with blocking pops, and publish/subscribe, with Redis 7's replies byte for
// byte. One coroutine per client reads requests and executes them; the commands themselves
// (examples/_kv_db.ts) know nothing of sockets.
//
// Publish/subscribe hands each message to the mailbox (a `Channel`) of every subscriber it
// matches, so a subscriber gets its messages in publish order across all its channels and
// patterns. The policy for a subscriber that does not read: its connection's writes stop
// draining, so it stops taking messages from its mailbox; a PUBLISH that leaves it
// `--pubsub-limit` replies behind (default 1,000,000) or `--pubsub-buffer-limit` bytes behind
// (default 32 MiB, Redis's `client-output-buffer-limit pubsub 32mb`: messages not taken,
// counted as the replies they will make, and replies not written) disconnects it, so
// that big messages cannot pin count x size bytes. Only its own messages count. Publishers
// never wait, and nobody else is affected.
// `--port 0` picks a free port; the `listening on HOST:PORT` line says which. Ctrl-C (or
// SIGTERM) closes every connection and exits.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import { numberArg, portArg, printListening, runCommand, textArg, UsageError } from "./_command.ts";
import { type Client, Database, type Delivery, memoryValue } from "./_kv_db.ts";
import { getHeapStatistics } from "node:v8";
import { QueryBudget, RequestParser } from "./_kv_resp.ts";

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
 * Replies of a pipeline held past this many bytes are written before the next request
 * runs: a client that sends requests and never reads their replies holds at most this,
 * and one reply, rather than every reply of what it sent.
 */
const REPLY_FLUSH_BYTES = 64 * 1024;

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Writes what `client` has to say. Every write that moves bytes counts as activity, as in
 * Redis: a client still taking a long reply is not idle.
 */
function* flush(conn: bluelet.Connection, client: Client): bluelet.Coroutine<void> {
  while (client.out.length > 0) {
    const n: number = yield conn.send(client.out.bytes());
    client.out.consume(n); // a blocking pop may have been served meanwhile
    client.active = true;
  }
}

/** Reads once for a subscriber, whose own thread waits for messages meanwhile. */
function* readFor(
  conn: bluelet.Connection,
  input: bluelet.Channel<Uint8Array>,
): bluelet.Coroutine<void> {
  let data = EMPTY;
  try {
    data = yield* conn.recv(RECV_SIZE);
  } catch {
    // Reset, or closed by the server: the same as hanging up.
  }
  yield* input.send(data);
}

/**
 * A subscriber's read: writes its messages as they come until it sends something, and
 * gives that (empty once it hung up). Only this thread takes from the mailbox and writes,
 * so while a write waits (the client is not reading), messages wait in the mailbox, up to
 * the limits.
 */
function* readWhileSubscribed(
  conn: bluelet.Connection,
  client: Client,
  mailbox: bluelet.Channel<Delivery>,
): bluelet.Coroutine<Uint8Array> {
  const input = new bluelet.Channel<Uint8Array>();
  const reader = yield* bluelet.spawn(readFor(conn, input));
  try {
    for (;;) {
      const next = yield* bluelet.select([input.receive(), mailbox.receive()]);
      if (next.index === 0) return next.value.value ?? EMPTY;
      if (next.value.done) break; // closed: nobody closes it, so never here
      client.deliver(next.value.value);
      client.takeMessages(); // the rest go in the same write
      yield* flush(conn, client);
    }
    return (yield* input.receive()).value ?? EMPTY;
  } finally {
    if (!reader.done) yield bluelet.kill(reader); // a killed read loses no bytes
  }
}

/**
 * While a client waits in BLPOP, reads on its behalf: what it sends waits for its turn,
 * and if it hangs up, it leaves the queue at once, so a value is never handed to it.
 * What it sends is parsed as it comes (not executed), so that the limits hold while it
 * waits as at any other time: a line past the inline limit is refused there and nothing
 * after it is kept, and past the query buffer limit the client is dropped.
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
      parser.parseAhead();
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
): bluelet.Coroutine<void> {
  yield* flush(conn, client); // earlier replies of the pipeline go first
  const watcher = yield* bluelet.spawn(watchBlocked(conn, client, parser));
  try {
    yield* client.block(timeout);
    // Served. A hang-up that reached the server just before what served it (the push)
    // may not have been read yet: Deno hands over the reads its poll found over more than
    // one turn of the event loop. One turn (a few µs) lets the watcher see it, and the
    // value then goes back to its list (`Database.disconnect`), not to a closed socket.
    if (client.blocked !== null) {
      yield* bluelet.until(new Promise<void>((resolve) => setImmediate(resolve)));
    }
  } finally {
    if (!watcher.done) yield bluelet.kill(watcher); // a killed read loses no bytes
  }
  if (client.killed) return; // it hung up: the handler's end gives the value back
  yield* flush(conn, client);
  client.delivered();
}

/**
 * Options for {@linkcode kvHandler}.
 *
 * @example Each client may hold 1 MiB of requests not yet executed
 * ```ts
 * import type { KvOptions } from "./kv.ts";
 *
 * const options: KvOptions = { queryBufferLimit: 1024 * 1024 };
 * ```
 */
export interface KvOptions {
  /**
   * Redis's `client-query-buffer-limit`: how many bytes of requests not yet executed one
   * client may hold (see `RequestParserOptions.queryBufferLimit`); past it, it is dropped.
   *
   * @default {1073741824}
   */
  queryBufferLimit?: number;
  /**
   * How many bytes of requests not yet executed all clients together may hold. A request
   * that would pass it drops the client holding the most, as Redis's `maxmemory-clients`
   * evicts the biggest clients (the client sending it, if that one would hold the most),
   * so one client cannot take it all and lock the others out. Each client's own limit is
   * not enough: enough clients near it fill V8's heap, and the process dies with it.
   *
   * @default {an eighth of V8's heap_size_limit}
   */
  queryMemory?: number;
  /**
   * Redis's `maxclients`: one more client is told `-ERR max number of clients reached`,
   * and its connection is closed.
   *
   * @default {10000}
   */
  maxClients?: number;
}

/**
 * Makes the handler that serves one client of `db`. Expiry's sweep and the idle limit
 * need `db.expireCycle()` running beside the server (see {@linkcode main}).
 *
 * @param db The database every client shares.
 * @param options Limits on what one client may send.
 * @returns The handler, for `bluelet.server`.
 * @throws {RangeError} If `options.queryBufferLimit`, `options.queryMemory` or
 * `options.maxClients` is not a positive integer.
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
  options: KvOptions = {},
): (conn: bluelet.Connection) => bluelet.Coroutine<void> {
  const maxClients = options.maxClients ?? 10_000;
  if (!(Number.isInteger(maxClients) && maxClients > 0)) {
    throw new RangeError(
      `Cannot create kv handler: maxClients must be a positive integer, got ${maxClients}`,
    );
  }
  const budget = new QueryBudget(
    options.queryMemory ?? Math.floor(getHeapStatistics().heap_size_limit / 8),
  );
  const parserOptions = { queryBufferLimit: options.queryBufferLimit, budget };
  new RequestParser(parserOptions); // its options are checked now, not at the first client
  let clients = 0;
  return function* kvClient(conn) {
    if (clients >= maxClients) {
      yield* conn.sendall("-ERR max number of clients reached\r\n");
      return; // the server closes the connection
    }
    clients++;
    const client = db.connect();
    client.onKill = () => conn.close();
    const parser = new RequestParser(parserOptions);
    parser.onEvicted = () => client.kill(); // it held the most of the query memory
    // One read event for the whole connection: an event yielded again starts afresh, and
    // Bluelet-style `yield` skips the iterator that `yield*` makes. It is the hot path.
    const read = conn.recv(RECV_SIZE);
    try {
      while (!client.closeAfterReply) {
        const mailbox = client.mailbox;
        const data: Uint8Array = mailbox === null
          ? yield read
          : yield* bluelet.call(readWhileSubscribed(conn, client, mailbox));
        if (data.length === 0) return;
        client.active = true;
        try {
          parser.feed(data);
        } catch (error) {
          if (!(error instanceof RangeError)) throw error;
          return; // over the query buffer limit: Redis closes such a client too
        }
        for (;;) {
          const args = client.nextRequest(parser);
          if (args === null) break;
          // Messages published before it go first, 64 KiB of replies at a time, each batch
          // written before the next is made: a backlog of many small messages is never made
          // into replies all in one step. Those waiting now, not those published meanwhile,
          // or a publisher faster than the client reads would hold the request back for
          // ever (`execute` takes what came meanwhile, within the limits).
          for (let waiting = client.repliesWaiting; waiting > 0 && !client.killed;) {
            const taken = client.takeMessages(REPLY_FLUSH_BYTES, waiting);
            if (taken === 0 && client.out.length === 0) break; // none left after all
            waiting -= taken;
            yield* flush(conn, client);
          }
          if (client.killed) return; // dropped meanwhile: nothing more it sent runs
          const timeout = client.execute(args);
          if (client.out.length > REPLY_FLUSH_BYTES) yield* flush(conn, client);
          if (timeout >= 0) {
            yield* bluelet.call(blockClient(conn, client, parser, timeout));
            // It hung up while blocked: what else it sent must not run (a pop would lose
            // its value), as Redis frees such a client at once.
            if (client.killed) return;
          }
          if (client.closeAfterReply) break;
        }
        if (client.out.length > 0) {
          // flush(), inlined on the hot path: one generator less per batch.
          const n: number = yield conn.send(client.out.bytes());
          client.out.consume(n);
          if (client.out.length > 0) yield* flush(conn, client);
        }
      }
    } catch (error) {
      // Closed by the server itself (a slow subscriber, an idle client): not a failure.
      if (!(client.killed && error instanceof bluelet.SocketClosedError)) throw error;
    } finally {
      clients--;
      parser.release();
      db.disconnect(client);
    }
  };
}

/** A memory flag's value, as `CONFIG SET maxmemory` takes it: bytes, or `100mb` and the like. */
function memoryArg(flag: string, value: string | undefined): number {
  const bytes = value === undefined ? null : memoryValue(value);
  if (bytes === null) {
    throw new UsageError(
      `${flag} must be bytes, or a number with a unit (100mb), got ${JSON.stringify(value ?? "")}`,
    );
  }
  return bytes;
}

/**
 * Runs the server until SIGINT or SIGTERM (or `signal`), then closes every connection.
 *
 * @param args `--port N` (default 6380), `--host H` (default 127.0.0.1),
 * `--idle-timeout SECONDS` (default 0: never), `--pubsub-limit REPLIES` (default 1000000; a message makes one per channel or pattern it matches),
 * `--pubsub-buffer-limit BYTES` (default 32 MiB),
 * `--max-clients N` (default 10000; one more is told so and disconnected, as in Redis),
 * `--query-buffer-limit BYTES` (default 1 GiB: what one client may have sent that was not
 * executed yet, as Redis's `client-query-buffer-limit`), `--query-memory BYTES` (default
 * an eighth of V8's heap limit: the same for all clients together; past it, the client
 * holding the most is dropped),
 * `--maxmemory BYTES` (or `100mb` and the like; default three quarters of what V8's heap
 * limit leaves the old generation; 0 for none: past it, writes and subscriptions get
 * Redis's OOM error).
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
  let pubsubBufferLimit: number | undefined;
  let maxmemory: number | undefined;
  const handlerOptions: KvOptions = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === "--port") port = portArg(flag, value);
    else if (flag === "--host") host = textArg(flag, value);
    else if (flag === "--idle-timeout") idleTimeout = numberArg(flag, value) * 1000;
    else if (flag === "--pubsub-limit") pubsubLimit = numberArg(flag, value);
    else if (flag === "--pubsub-buffer-limit") pubsubBufferLimit = numberArg(flag, value);
    else if (flag === "--maxmemory") maxmemory = memoryArg(flag, value);
    else if (flag === "--max-clients") handlerOptions.maxClients = numberArg(flag, value);
    else if (flag === "--query-buffer-limit") {
      handlerOptions.queryBufferLimit = numberArg(flag, value);
    } else if (flag === "--query-memory") handlerOptions.queryMemory = numberArg(flag, value);
    else throw new UsageError(`Unknown argument: ${flag}`);
    i++;
  }
  let db: Database;
  let handler: (conn: bluelet.Connection) => bluelet.Coroutine<void>;
  try {
    db = new Database({ idleTimeout, pubsubLimit, pubsubBufferLimit, maxmemory });
    handler = kvHandler(db, handlerOptions);
  } catch (error) {
    // A limit out of range: the flag that gave it is the mistake.
    if (error instanceof RangeError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  signal?.addEventListener("abort", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await bluelet.run(
      function* () {
        // Expiry and the idle limit serve every client, so their sweep runs beside the
        // server: a thread spawned in a handler ends with that client's connection.
        const sweep = yield* bluelet.spawn(db.expireCycle(), { name: "sweep" });
        try {
          // No limit on connections here: past `--max-clients`, the handler tells a
          // client so and hangs up, as Redis does, rather than leave it waiting unserved.
          yield* bluelet.server(host, port, handler, {
            onListen: printListening,
          });
        } finally {
          yield* bluelet.kill(sweep);
        }
      }(),
      { signal: stop.signal },
    );
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    signal?.removeEventListener("abort", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  // Only once it served: a server that could not start says why, and nothing else.
  console.log("Exiting.");
}

if (import.meta.main) {
  await runCommand(
    main,
    "deno task kv [--port N] [--host H] [--maxmemory BYTES] (more in examples/kv.ts)",
  );
}
