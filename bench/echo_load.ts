// Echo round trips per second under a real load generator, client and server on separate
// cores (issue #11): bench/echo_load.c, built here with `cc`, keeps CONNS connections
// busy against each echo server in turn, the server pinned to core 1 and the load
// generator to core 0 with `taskset`. The servers are bench/echo_bench.ts's: plain
// `Deno.listen` async/await (the baseline), and bluelet's `server` with the echoer
// written Bluelet style (`yield conn.recv()`), typed (`yield* conn.recv()`) and reading
// into one array (`recvInto`).
//
// Run: deno run -A bench/echo_load.ts [--size 64] [--conns 100] [--seconds 2] [--rounds 10]
//        [--servers plain,recv,typed,into]
//      `--servers plain,trampoline,kernel,typed` takes the library apart layer by layer:
//      "trampoline" is the echo as a generator per connection resumed by its promises'
//      reactions (no bluelet), "kernel" the same generators as bluelet threads.
//      "control" is plain again, measured as a server of its own: how far its ratio
//      strays from 1 is how far the machine's noise alone moves a ratio.
//      `--servers plain,workers1,workers2` compares `serveWorkers` with one Worker (on
//      core 1, as every other server) and with two (free to use both cores, the load
//      generator's included: what a second Worker gains where the client leaves room).
//      (or `deno task bench:echo-load`, flags after it)
//
// Each round runs every server once, one after the other, each round starting with the
// next server in turn, and each server's rate is divided by plain's from the same round:
// machine load that comes and goes (other work on the machine, frequency changes) then
// shifts both sides of a ratio alike, and the median over the rounds drops the rounds
// where it did not. Each server runs in a process of its own, started afresh per run, so
// no run inherits another's garbage or warm-up.
//
// The script runs itself as the server process: `--serve KIND` serves one kind on a free
// port, prints the port and serves until killed, or until its stdin closes, so a server
// whose parent died does not keep its core busy.
import { run, server, serveWorkers } from "../mod.ts";
import {
  handler as echoer,
  intoEchoer,
  kernelServer,
  plainServer,
  trampolineServer,
  typedEchoer,
} from "./_echo_servers.ts";

/** The servers, by the name `--servers` knows them by. */
const SERVERS = {
  plain: "plain Deno.listen",
  recv: "bluelet server, yield conn.recv",
  typed: "bluelet server, typed yield*",
  into: "bluelet server, recvInto one array",
  trampoline: "floor: generators, promise trampoline",
  kernel: "layer: bluelet kernel, Deno's promises",
  control: "control: plain Deno.listen again",
  workers1: "serveWorkers, 1 Worker",
  workers2: "serveWorkers, 2 Workers (both cores)",
} as const;

/** The servers measured when `--servers` is not given: plain Deno and bluelet's echoers. */
const DEFAULT_SERVERS: ServerKind[] = ["plain", "recv", "typed", "into"];

type ServerKind = keyof typeof SERVERS;

/** The core the server is pinned to; the load generator gets core 0. */
const SERVER_CORE = 1;
const LOAD_CORE = 0;

/** How long a server may take to print its port. */
const START_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------
// The servers (bench/_echo_servers.ts, shared with bench/echo_bench.ts)

/** Serves `kind` in this process, prints the port, and exits when stdin closes. */
function serve(kind: ServerKind): void {
  (async () => {
    const buffer = new Uint8Array(64);
    while (await Deno.stdin.read(buffer) !== null) {
      // Nothing is sent on stdin: only its end matters.
    }
    Deno.exit(0);
  })();
  if (kind === "plain" || kind === "control" || kind === "trampoline" || kind === "kernel") {
    const start = kind === "plain" || kind === "control"
      ? plainServer
      : kind === "trampoline"
      ? trampolineServer
      : kernelServer;
    console.log(start());
    return;
  }
  if (kind === "workers1" || kind === "workers2") {
    const module = new URL("./_echo_servers.ts", import.meta.url);
    serveWorkers(module, { workers: kind === "workers1" ? 1 : 2 }).then(
      (workers) => console.log(workers.port),
      (error) => {
        console.error(error);
        Deno.exit(1);
      },
    );
    return;
  }
  const handler = kind === "recv" ? echoer : kind === "typed" ? typedEchoer : intoEchoer;
  run(server("127.0.0.1", 0, handler, {
    onListen: (addr) => console.log((addr as Deno.NetAddr).port),
  })).catch((error) => {
    console.error(error);
    Deno.exit(1);
  });
}

// ---------------------------------------------------------------------------------------
// The measurement

/** The options of one measurement. */
interface LoadOptions {
  /** Bytes per message. */
  size: number;
  /** Connections kept busy at once. */
  conns: number;
  /** Measured seconds per run, after the load generator's 0.5 s warm-up. */
  seconds: number;
  /** Rounds, each running every server once. */
  rounds: number;
  /** The servers to compare, in order. */
  servers: ServerKind[];
}

/**
 * Parses the command line.
 *
 * @throws {TypeError} On an unknown flag or server, or a bad number.
 */
function parseArgs(args: readonly string[]): LoadOptions {
  const options: LoadOptions = {
    size: 64,
    conns: 100,
    seconds: 2,
    rounds: 10,
    servers: DEFAULT_SERVERS,
  };
  const integer = (flag: string, value: string | undefined) => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < 1) {
      throw new TypeError(`${flag} needs an integer >= 1, got ${value}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--size") options.size = integer(arg, args[++i]);
    else if (arg === "--conns") options.conns = integer(arg, args[++i]);
    else if (arg === "--rounds") options.rounds = integer(arg, args[++i]);
    else if (arg === "--seconds") {
      const value = args[++i];
      options.seconds = Number(value);
      if (value === undefined || !(options.seconds > 0 && options.seconds <= 3600)) {
        throw new TypeError(`--seconds needs a number above 0, at most 3600, got ${value}`);
      }
    } else if (arg === "--servers") {
      const names = (args[++i] ?? "").split(",").filter(Boolean);
      if (names.length === 0) {
        throw new TypeError(`--servers needs at least one server, got "${args[i] ?? ""}"`);
      }
      for (const name of names) {
        if (!Object.hasOwn(SERVERS, name)) { // not `in`: "toString" is no server
          throw new TypeError(
            `Unknown server: ${name} (known: ${Object.keys(SERVERS).join(", ")})`,
          );
        }
      }
      options.servers = names as ServerKind[];
    } else throw new TypeError(`Unknown flag: ${arg}`);
  }
  return options;
}

/** Builds the load generator into `dir`; gives its path. */
async function buildLoadGenerator(dir: string): Promise<string> {
  const source = new URL("./echo_load.c", import.meta.url).pathname;
  const out = `${dir}/echo_load`;
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command("cc", { args: ["-O2", "-o", out, source] }).output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error("Cannot build the load generator: no C compiler (cc) on PATH", {
      cause: error,
    });
  }
  if (!result.success) {
    throw new Error(
      `Cannot build the load generator: cc exited with code ${result.code}\n${
        new TextDecoder().decode(result.stderr)
      }`,
    );
  }
  return out;
}

/** Whether `taskset` can pin the server: it exists and the machine has a core 1. */
async function canPin(): Promise<boolean> {
  try {
    const args = ["-c", `${SERVER_CORE}`, "true"];
    return (await new Deno.Command("taskset", { args, stderr: "null" }).output()).success;
  } catch {
    return false;
  }
}

/** The command and its arguments, behind `taskset -c core` when pinning. */
function pinned(
  pin: boolean,
  core: number | string,
  command: readonly string[],
): [string, string[]] {
  const full = pin ? ["taskset", "-c", `${core}`, ...command] : command;
  return [full[0], full.slice(1)];
}

/** Every child process still running, so that an exit on a signal can kill them. */
const running = new Set<Deno.ChildProcess>();

/** Spawns `command`, kept in `running` until {@linkcode stop} or its output is read. */
function spawn(command: [string, string[]], options: Deno.CommandOptions): Deno.ChildProcess {
  const child = new Deno.Command(command[0], { ...options, args: command[1] }).spawn();
  running.add(child);
  child.status.then(() => running.delete(child));
  return child;
}

/** Kills `child` and waits for it to exit. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch (error) {
    // It has exited already: it is only waited for.
    if (!(error instanceof TypeError)) throw error;
  }
  await child.status;
}

/** Starts a `kind` server on a free port, runs `use` with the port, then kills the server. */
async function withServer<T>(
  kind: ServerKind,
  pin: boolean,
  use: (port: number) => Promise<T>,
): Promise<T> {
  const script = new URL(import.meta.url).pathname;
  const workers = kind === "workers1" || kind === "workers2";
  // Workers load the echo module and listen with `reusePort`.
  const flags = workers ? ["--unstable-net", "--allow-read"] : [];
  const command = [
    Deno.execPath(),
    "run",
    "--allow-net=127.0.0.1",
    ...flags,
    script,
    "--serve",
    kind,
  ];
  // Its stdin stays open as long as this process lives: the server exits when it closes.
  const cores = kind === "workers2" ? `${LOAD_CORE},${SERVER_CORE}` : `${SERVER_CORE}`;
  const child = spawn(pinned(pin, cores, command), {
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  });
  try {
    const line = await firstLine(child.stdout, START_TIMEOUT_MS);
    const port = Number(line);
    if (!Number.isInteger(port) || port <= 0) {
      throw new Error(`Cannot start the ${kind} server: it printed "${line}", not a port`);
    }
    return await use(port);
  } finally {
    await stop(child);
    await child.stdin.close();
  }
}

/** The first line of `stream`, then cancels it; throws if it ends first or takes too long. */
async function firstLine(stream: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Cannot start a server: no port within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error("Cannot start a server: it exited before printing its port");
      text += value;
    }
    return text.slice(0, text.indexOf("\n"));
  } finally {
    clearTimeout(timer);
    await reader.cancel();
  }
}

/** Runs the load generator against the `kind` server at `port`; gives its round trips/s. */
async function load(
  kind: ServerKind,
  generator: string,
  pin: boolean,
  port: number,
  options: LoadOptions,
): Promise<number> {
  const command = pinned(pin, LOAD_CORE, [
    generator,
    `${port}`,
    `${options.conns}`,
    `${options.size}`,
    `${options.seconds}`,
  ]);
  const result = await spawn(command, { stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  if (!result.success) {
    throw new Error(
      `Cannot measure the ${kind} server: the load generator exited with code ${result.code}: ${
        text.decode(result.stderr).trim()
      }`,
    );
  }
  const rate = Number(text.decode(result.stdout));
  if (!Number.isFinite(rate)) {
    throw new Error(`Cannot measure the ${kind} server: the load generator printed no rate`);
  }
  return rate;
}

function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs every round with the load generator at `generator`; gives each server's rates. */
async function measure(
  options: LoadOptions,
  generator: string,
  pin: boolean,
): Promise<Map<ServerKind, number[]>> {
  const rates = new Map(options.servers.map((kind) => [kind, [] as number[]]));
  const servers = options.servers;
  for (let round = 0; round < options.rounds; round++) {
    const line = [`round ${round + 1}:`];
    // Each round starts with the next server: the first run of a round is not the same as
    // the last (the machine's state, the page cache, frequency), and with a fixed order
    // that difference would land on one server's ratio every round.
    const order = servers.map((_, i) => servers[(round + i) % servers.length]);
    for (const kind of order) {
      const rate = await withServer(kind, pin, (port) => load(kind, generator, pin, port, options));
      rates.get(kind)!.push(rate);
      line.push(`${kind} ${Math.round(rate)}`);
    }
    console.log(line.join("  "));
  }
  return rates;
}

/** Prints each server's median rate and its median ratio to plain over the rounds. */
function report(rates: Map<ServerKind, number[]>): void {
  const plain = rates.get("plain");
  const width = Math.max(...[...rates.keys()].map((kind) => SERVERS[kind].length));
  const ratio = (n: number) => n.toFixed(3);
  console.log();
  console.log(
    `${"server".padEnd(width)}  round trips/s${plain ? "  vs plain (median, min-max)" : ""}`,
  );
  for (const [kind, values] of rates) {
    let row = `${SERVERS[kind].padEnd(width)}  ${
      Math.round(median(values)).toString().padStart(13)
    }`;
    if (plain) {
      const ratios = values.map((value, round) => value / plain[round]);
      row += `  ${ratio(median(ratios))} (${ratio(Math.min(...ratios))}-${
        ratio(Math.max(...ratios))
      })`;
    }
    console.log(row);
  }
}

async function main(args: readonly string[]): Promise<void> {
  const options = parseArgs(args);
  const dir = await Deno.makeTempDir({ prefix: "echo_load_" });
  // `Deno.exit` skips `finally` blocks: on a signal, this kills the children (the servers
  // would keep their core busy) and removes the build.
  const exitOn = (signal: "SIGINT" | "SIGTERM") => () => {
    for (const child of running) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It has exited already.
      }
    }
    Deno.removeSync(dir, { recursive: true });
    Deno.exit(signal === "SIGINT" ? 130 : 143);
  };
  const onInt = exitOn("SIGINT");
  const onTerm = exitOn("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  try {
    const generator = await buildLoadGenerator(dir);
    const pin = await canPin();
    console.log(
      `echo, ${options.size} B messages, ${options.conns} connections, ` +
        `${options.seconds} s per run after 0.5 s of warm-up, ${options.rounds} rounds`,
    );
    console.log(
      pin
        ? `server on core ${SERVER_CORE}, load generator on core ${LOAD_CORE} (taskset)`
        : `not pinned (no taskset, or no core ${SERVER_CORE}): ` +
          "server and load generator share cores",
    );
    report(await measure(options, generator, pin));
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--serve");
  if (at >= 0) {
    const kind = Deno.args[at + 1];
    if (!Object.hasOwn(SERVERS, kind)) throw new TypeError(`Unknown server: ${kind}`);
    serve(kind as ServerKind);
  } else {
    await main(Deno.args);
  }
}
