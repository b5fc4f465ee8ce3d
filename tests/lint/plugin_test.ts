import assert from "node:assert/strict";
import plugin from "../../lint/plugin.ts";

/** Lints a module and gives each diagnostic as `[rule, flagged source text]`. */
function lint(source: string): [string, string][] {
  return Deno.lint.runPlugin(plugin, "snippet.ts", source).map((diagnostic) => [
    diagnostic.id.replace("bluelet/", ""),
    source.slice(diagnostic.range[0], diagnostic.range[1]),
  ]);
}

const IMPORTS = `
import * as bluelet from "jsr:@bluelet/bluelet";
import {
  all, call, join, kill, moveOnAfter, race, run, select, shield, sleep, sleep as nap, spawn, until,
  withTimeout, yieldNow,
} from "@bluelet/bluelet";
import type { Channel, Connection, Event, Lock, Task } from "@bluelet/bluelet";
`;

Deno.test("unyielded-event flags every kind of event dropped in a coroutine", () => {
  const source = IMPORTS + `
function* handler(conn: Connection, task: Task<void>, channel: Channel<number>, lock: Lock, event: Event) {
  sleep(5);
  nap(5);
  bluelet.null();
  spawn(handler(conn, task));
  kill(task);
  join(task);
  withTimeout(10, sleep(1));
  all([sleep(1)]);
  race([sleep(1)]);
  call(handler(conn, task));
  until(Promise.resolve());
  yieldNow();
  conn.recv(1024);
  conn.recvExactly(4);
  conn.readline();
  conn.send("x");
  conn.sendall("x");
  conn.closeWrite();
  select([sleep(1), sleep(2)]);
  moveOnAfter(10, sleep(1));
  shield(sleep(1));
  channel.send(1);
  channel.receive();
  lock.acquire();
  event.wait();
}`;
  assert.deepEqual(lint(source), [
    ["unyielded-event", "sleep(5)"],
    ["unyielded-event", "nap(5)"],
    ["unyielded-event", "bluelet.null()"],
    ["unyielded-event", "spawn(handler(conn, task))"],
    ["unyielded-event", "kill(task)"],
    ["unyielded-event", "join(task)"],
    ["unyielded-event", "withTimeout(10, sleep(1))"],
    ["unyielded-event", "all([sleep(1)])"],
    ["unyielded-event", "race([sleep(1)])"],
    ["unyielded-event", "call(handler(conn, task))"],
    ["unyielded-event", "until(Promise.resolve())"],
    ["unyielded-event", "yieldNow()"],
    ["unyielded-event", "conn.recv(1024)"],
    ["unyielded-event", "conn.recvExactly(4)"],
    ["unyielded-event", "conn.readline()"],
    ["unyielded-event", 'conn.send("x")'],
    ["unyielded-event", 'conn.sendall("x")'],
    ["unyielded-event", "conn.closeWrite()"],
    ["unyielded-event", "select([sleep(1), sleep(2)])"],
    ["unyielded-event", "moveOnAfter(10, sleep(1))"],
    ["unyielded-event", "shield(sleep(1))"],
    ["unyielded-event", "channel.send(1)"],
    ["unyielded-event", "channel.receive()"],
    ["unyielded-event", "lock.acquire()"],
    ["unyielded-event", "event.wait()"],
  ]);
});

Deno.test("unyielded-event says what was dropped and fixes it with yield*", () => {
  const source = IMPORTS + `function* reply(conn: Connection) {\n  conn.sendall("ok");\n}`;
  const [diagnostic] = Deno.lint.runPlugin(plugin, "reply.ts", source);
  assert.equal(diagnostic.id, "bluelet/unyielded-event");
  assert.equal(
    diagnostic.message,
    "The event from conn.sendall(...) is never yielded, so it does nothing",
  );
  assert.equal(diagnostic.hint, "Yield it: yield* conn.sendall(...)");
  assert.deepEqual(diagnostic.fix, [{
    range: [diagnostic.range[0], diagnostic.range[0]],
    text: "yield* ",
  }]);
});

Deno.test("unyielded-event leaves yielded events and code outside coroutines alone", () => {
  const source = IMPORTS + `
import { sleep as delay } from "npm:some-other-library";
function sleep2(ms: number) { return ms; }
function* handler(conn: Connection) {
  yield sleep(5);
  yield* conn.sendall("x");
  const pending = conn.recv(10);
  yield pending;
  delay(5);
  sleep2(5);
  console.log("x");
  const later = () => { sleep(5); };
  later();
  function plain() { conn.sendall("x"); }
  plain();
}
function outside(conn: Connection) {
  sleep(5);
  conn.sendall("x");
}
async function* stream(conn: Connection) {
  conn.send("x");
  yield 1;
}
await run(handler(null!));
outside(null!);
stream(null!);`;
  assert.deepEqual(lint(source), []);
});

Deno.test("unyielded-event checks generator methods and generator expressions", () => {
  const source = IMPORTS + `
class Greeter {
  *greet(conn: Connection) { conn.sendall("hi"); }
  *#wait() { sleep(1); }
}
const task = function* () { yieldNow(); };`;
  assert.deepEqual(lint(source), [
    ["unyielded-event", 'conn.sendall("hi")'],
    ["unyielded-event", "sleep(1)"],
    ["unyielded-event", "yieldNow()"],
  ]);
});

Deno.test("uncalled-event flags a yielded function instead of its event", () => {
  const source = IMPORTS + `
function* handler(conn: Connection) {
  yield sleep;
  yield* bluelet.yieldNow;
  yield conn.readline;
  yield sleep(1);
  yield* conn.readline();
  yield Promise.resolve(1);
}`;
  assert.deepEqual(lint(source), [
    ["uncalled-event", "sleep"],
    ["uncalled-event", "bluelet.yieldNow"],
    ["uncalled-event", "conn.readline"],
  ]);
  const [diagnostic] = Deno.lint.runPlugin(plugin, "a.ts", source);
  assert.equal(diagnostic.message, "Cannot yield the function sleep: call it to make an event");
  assert.equal(diagnostic.hint, "Call it: yield sleep(...)");
});

Deno.test("yield-star-finally flags delegating to a coroutine whose finally yields", () => {
  const source = IMPORTS + `
function* unsafe() {
  try {
    yield* sleep(1000);
  } finally {
    yield* sleep(1);
  }
}
const alsoUnsafe = function* () {
  try { yield* sleep(1); } finally { if (Math.random()) { yield sleep(1); } }
};
function* wrapper() {
  yield* unsafe();
}
function* main() {
  yield* unsafe();
  yield* alsoUnsafe();
  yield* wrapper();
  yield* call(unsafe());
  yield unsafe();
}`;
  assert.deepEqual(lint(source), [
    ["yield-star-finally", "yield* unsafe()"],
    ["yield-star-finally", "yield* unsafe()"],
    ["yield-star-finally", "yield* alsoUnsafe()"],
    ["yield-star-finally", "yield* wrapper()"],
  ]);
  const [diagnostic] = Deno.lint.runPlugin(plugin, "a.ts", source);
  assert.equal(
    diagnostic.message,
    "Cannot kill safely through yield* unsafe(): its finally block yields, so a kill inside it resumes the caller",
  );
  assert.equal(diagnostic.hint, "Run it as a frame of its own: yield* call(unsafe())");
});

Deno.test("yield-star-finally leaves finally blocks that do not yield alone", () => {
  const source = IMPORTS + `
function* closes(conn: Connection) {
  try {
    yield* conn.recv(1);
  } catch {
    yield* sleep(1);
  } finally {
    conn.close();
    const later = function* () { yield* sleep(1); };
    later();
  }
}
function* twice() { try { yield 1; } finally { yield 2; } }
function* main(conn: Connection) {
  yield* closes(conn);
  yield* twice();
  yield* imported();
}
{
  function* twice() { yield 3; }
  twice();
}`;
  // "twice" names two generators here, so which one main delegates to is unknown.
  assert.deepEqual(lint(source), []);
});

Deno.test("async-coroutine flags an async generator given to the scheduler", () => {
  const source = IMPORTS + `
async function* fetcher() {
  await fetch("https://example.com");
}
const other = async function* () {};
function* main() {
  yield fetcher();
  yield* spawn(other());
  yield* all([sleep(1), fetcher()]);
}
await run(async function* () {}());
await run(main());
for await (const _ of fetcher()) break;`;
  assert.deepEqual(lint(source), [
    ["async-coroutine", "fetcher()"],
    ["async-coroutine", "other()"],
    ["async-coroutine", "fetcher()"],
    ["async-coroutine", "async function* () {}()"],
  ]);
  const [diagnostic] = Deno.lint.runPlugin(plugin, "a.ts", source);
  assert.equal(
    diagnostic.message,
    "Cannot run an async generator as a coroutine: the scheduler drives only function*",
  );
});

Deno.test("deno lint loads the plugin from deno.json, honours ignore comments and fixes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pluginUrl = new URL("../../lint/plugin.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ lint: { plugins: [pluginUrl] } }),
    );
    await Deno.writeTextFile(
      `${dir}/handler.ts`,
      `import { type Connection, sleep } from "./bluelet.ts";
export function* handler(conn: Connection) {
  conn.sendall("x");
  // deno-lint-ignore bluelet/unyielded-event
  sleep(5);
}
`,
    );
    const lint = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["lint", ...args, "handler.ts"],
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const { stdout } = await lint("--json");
    const report = JSON.parse(new TextDecoder().decode(stdout));
    const ours = report.diagnostics
      .filter((d: { code: string }) => d.code.startsWith("bluelet/"))
      .map((d: { code: string; range: { start: { line: number } } }) => [
        d.code,
        d.range.start.line,
      ]);
    assert.deepEqual(ours, [["bluelet/unyielded-event", 3]]);
    await lint("--fix");
    const fixed = await Deno.readTextFile(`${dir}/handler.ts`);
    assert.match(fixed, /^ {2}yield\* conn\.sendall\("x"\);$/m);
    assert.match(fixed, /^ {2}sleep\(5\);$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rules leave method calls and yields alone in a file that does not use the library", () => {
  const source = `
async function* fetcher() {}
export function* frames(ws: WebSocket) {
  ws.send("hello");
  yield 1;
}
export function* streams() {
  yield fetcher();
}`;
  assert.deepEqual(lint(source), []);
  // The same code in a file that uses the library, even for types only, is checked.
  const checked = `import type { Connection } from "jsr:@bluelet/bluelet";\n${source}`;
  assert.deepEqual(lint(checked), [
    ["unyielded-event", 'ws.send("hello")'],
    ["async-coroutine", "fetcher()"],
  ]);
});
