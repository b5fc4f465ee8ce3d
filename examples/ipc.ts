// deno run --allow-net=127.0.0.1 --allow-read examples/ipc.ts
//
// Bluelet's IPC demo: two coroutines exchange framed messages over a connected pair of
// sockets. First both run in one scheduler (one `run`, taking turns); then each runs in
// its own Deno Worker with its own scheduler, truly in parallel, talking over loopback.
//
// Deno has no socketpair, so the pair is a loopback TCP connection on a free port (port
// 0). A frame is a 4-byte big-endian length and that many bytes of JSON (Bluelet pickled
// objects and ended each with a random sentinel; a length prefix cannot clash with the
// payload). `--allow-read` is for loading the Worker's module.
//
// Any local process can connect to a loopback port, and may be first: so the connecting
// end sends a secret, made fresh for each pair, as its first frame, and the listening end
// talks only to a connection that sends it. Each connection proves itself on its own, so
// strangers that stay silent do not hold the peer up.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import { CommandError, runCommand, UsageError } from "./_command.ts";

type Print = (line: string) => void;

/** One end of the channel: sends and receives whole JSON messages. */
export class Endpoint {
  /** The connection this end owns. */
  readonly conn: bluelet.Connection;

  /** Wraps a connected socket. */
  constructor(conn: bluelet.Connection) {
    this.conn = conn;
  }

  /** Sends `value` as one frame. */
  *put(value: unknown): bluelet.Coroutine<void> {
    const payload = new TextEncoder().encode(JSON.stringify(value));
    const frame = new Uint8Array(4 + payload.length);
    new DataView(frame.buffer).setUint32(0, payload.length);
    frame.set(payload, 4);
    yield this.conn.sendall(frame);
  }

  /** Receives one frame and gives its value. */
  *get(): bluelet.Coroutine<unknown> {
    const header: Uint8Array = yield this.conn.recvExactly(4);
    const length = new DataView(header.buffer, header.byteOffset).getUint32(0);
    const payload: Uint8Array = yield this.conn.recvExactly(length);
    return JSON.parse(new TextDecoder().decode(payload));
  }
}

/** Sends three messages, then prints the one reply. */
export function* thread1(
  ep: Endpoint,
  print: Print = console.log,
): bluelet.Coroutine<void> {
  yield ep.put("hello!");
  yield ep.put(123);
  yield ep.put({ foo: "bar" });
  print(`thread1 got ${Deno.inspect(yield ep.get())}`);
}

/** Prints three messages, then replies. */
export function* thread2(
  ep: Endpoint,
  print: Print = console.log,
): bluelet.Coroutine<void> {
  print(`thread2 got ${Deno.inspect(yield ep.get())}`);
  print(`thread2 got ${Deno.inspect(yield ep.get())}`);
  print(`thread2 got ${Deno.inspect(yield ep.get())}`);
  yield ep.put(["test", 1234, "foo"]);
}

/** A secret for one pair: what the connecting end proves itself with. */
function newSecret(): string {
  return crypto.randomUUID();
}

/**
 * Accepts until a connection sends `secret` as its first frame, within `patience` ms;
 * closes the others (another local process that connected first, say). Each connection
 * proves itself in a thread of its own, so strangers that stay silent do not hold up the
 * peer behind them; at most MAX_PROVING at once.
 */
export function* acceptPeer(
  listener: bluelet.Listener,
  secret: string,
  patience = 1000,
): bluelet.Coroutine<bluelet.Connection> {
  const proven = new bluelet.Channel<bluelet.Connection>(1);
  try {
    return yield* bluelet.taskGroup(acceptProven(listener, secret, patience, proven));
  } finally {
    // Proven but not taken: a second peer in the instant the first won, or the caller
    // was killed.
    for (let left; (left = proven.tryReceive()) !== undefined && !left.done;) left.value.close();
  }
}

function acceptProven(
  listener: bluelet.Listener,
  secret: string,
  patience: number,
  proven: bluelet.Channel<bluelet.Connection>,
): () => bluelet.Coroutine<bluelet.Connection> {
  const proving = new bluelet.Semaphore(MAX_PROVING);
  return function* () {
    // Helpers of the group: killed once the peer is found, their connections closed.
    yield* bluelet.spawn(function* () {
      for (;;) {
        yield* proving.acquire();
        let conn: bluelet.Connection;
        try {
          conn = yield* listener.accept();
        } catch (error) {
          proving.release();
          throw error;
        }
        yield* bluelet.spawn(function* () {
          let proved = false;
          try {
            const proof = yield* bluelet.moveOnAfter(patience, provesSecret(conn, secret));
            proved = proof.value === true && proven.trySend(conn);
          } finally {
            proving.release();
            if (!proved) conn.close();
          }
        }());
      }
    }());
    return (yield* proven.receive()).value!;
  };
}

/** How many connections may be proving themselves at once (see `acceptPeer`). */
const MAX_PROVING = 64;

/** The longest first frame a peer may send: a secret, quoted as JSON, is far shorter. */
const MAX_PROOF = 256;

function* provesSecret(conn: bluelet.Connection, secret: string): bluelet.Coroutine<boolean> {
  try {
    // Its length first: a stranger's frame of half a gigabyte is not read.
    const header = yield* conn.recvExactly(4);
    const length = new DataView(header.buffer, header.byteOffset).getUint32(0);
    if (length > MAX_PROOF) return false;
    const payload = yield* conn.recvExactly(length);
    return JSON.parse(new TextDecoder().decode(payload)) === secret;
  } catch (error) {
    // Not our peer: what it sent is no frame of JSON, or it left. Anything else is a bug.
    if (error instanceof SyntaxError || error instanceof bluelet.NetError) return false;
    throw error;
  }
}

/** Makes a connected pair of endpoints in one scheduler: accept and connect at once. */
export function* channel(): bluelet.Coroutine<[Endpoint, Endpoint]> {
  using listener = new bluelet.Listener("127.0.0.1", 0);
  const secret = newSecret();
  const accepting: bluelet.Task<bluelet.Connection> = yield bluelet.spawn(
    acceptPeer(listener, secret),
  );
  const port = (listener.addr as Deno.NetAddr).port;
  const client = new Endpoint(yield* bluelet.connect("127.0.0.1", port));
  yield client.put(secret);
  const server: bluelet.Connection = yield bluelet.join(accepting);
  return [new Endpoint(server), client];
}

/** Part one: both threads in one scheduler. */
export function* inOneScheduler(
  print: Print = console.log,
): bluelet.Coroutine<void> {
  const [ep1, ep2] = yield* channel();
  try {
    const a = yield* bluelet.spawn(thread1(ep1, print));
    const b = yield* bluelet.spawn(thread2(ep2, print));
    yield* bluelet.join(a);
    yield* bluelet.join(b);
  } finally {
    ep1.conn.close();
    ep2.conn.close();
  }
}

// Part two. A Worker is told its role; the listening one answers with its port first.
type Command = { role: "thread2"; secret: string } | {
  role: "thread1";
  port: number;
  secret: string;
};
type Report = { listening: number } | { done: true } | { error: string };

function* workerMain(
  command: Command,
  report: (r: Report) => void,
): bluelet.Coroutine<void> {
  let conn: bluelet.Connection;
  if (command.role === "thread2") {
    using listener = new bluelet.Listener("127.0.0.1", 0);
    report({ listening: (listener.addr as Deno.NetAddr).port });
    conn = yield* acceptPeer(listener, command.secret);
  } else {
    conn = yield* bluelet.connect("127.0.0.1", command.port);
  }
  using _ = conn;
  const ep = new Endpoint(conn);
  if (command.role === "thread1") yield* ep.put(command.secret);
  yield command.role === "thread1" ? thread1(ep) : thread2(ep);
}

function startWorker(
  command: Command,
  onListening?: (port: number) => void,
): Promise<void> {
  const worker = new Worker(import.meta.url, {
    type: "module",
    name: command.role,
  });
  return new Promise<void>((resolve, reject) => {
    worker.onmessage = ({ data }: MessageEvent<Report>) => {
      if ("listening" in data) onListening?.(data.listening);
      else if ("done" in data) resolve();
      // The exchange failed (its peer left, say): one line, as the command's own error.
      else reject(new CommandError(`Worker ${command.role} failed: ${data.error}`));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`Worker ${command.role} failed: ${event.message}`));
    };
    worker.postMessage(command);
  }).finally(() => worker.terminate());
}

/** Part two: each thread in its own Worker, each Worker with its own scheduler. */
export async function inTwoWorkers(): Promise<void> {
  const listening = Promise.withResolvers<number>();
  const secret = newSecret();
  const first = startWorker({ role: "thread2", secret }, listening.resolve);
  const second = listening.promise.then((port) => startWorker({ role: "thread1", port, secret }));
  await Promise.all([first, second]);
}

/** Runs both parts, one after the other. */
export async function main(): Promise<void> {
  console.log("In one scheduler:");
  await bluelet.run(inOneScheduler());
  console.log("In two workers:");
  await inTwoWorkers();
}

if ("WorkerGlobalScope" in globalThis) {
  // In a Worker (where `import.meta.main` is true too): wait for the role.
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<Command>) => void) | null;
    postMessage(report: Report): void;
  };
  scope.onmessage = ({ data }) => {
    scope.onmessage = null;
    bluelet.run(workerMain(data, (r) => scope.postMessage(r))).then(
      () => scope.postMessage({ done: true }),
      (error) => scope.postMessage({ error: String(error) }),
    );
  };
} else if (import.meta.main) {
  await runCommand(async (args) => {
    if (args.length > 0) throw new UsageError(`Unknown argument: ${args[0]}`);
    await main();
  }, "deno task ipc");
}
