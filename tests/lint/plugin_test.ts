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

Deno.test("unyielded-event flags an event dropped with void, or returned instead of yielded, and fixes each", () => {
  const source = IMPORTS + `function* reply(conn: Connection) {
  void sleep(5);
  void conn.sendall("ok");
  if (conn) return conn.recv(10);
  return sleep(1);
}
function helper(conn: Connection) {
  void sleep(5);
  return conn.recv(10); // a plain function may hand an event to its caller
}
function* fine(conn: Connection) {
  return yield* conn.recv(10);
}`;
  const diagnostics = Deno.lint.runPlugin(plugin, "reply.ts", source);
  assert.deepEqual(
    diagnostics.map((d) => [d.id, source.slice(d.range[0], d.range[1]), d.message, d.hint]),
    [
      [
        "bluelet/unyielded-event",
        "void sleep(5)",
        "The event from sleep(...) is never yielded, so it does nothing",
        "Yield it: yield* sleep(...)",
      ],
      [
        "bluelet/unyielded-event",
        'void conn.sendall("ok")',
        "The event from conn.sendall(...) is never yielded, so it does nothing",
        "Yield it: yield* conn.sendall(...)",
      ],
      [
        "bluelet/unyielded-event",
        "conn.recv(10)",
        "The event from conn.recv(...) is returned, never yielded, so it does nothing",
        "Yield it and return its result: return yield* conn.recv(...)",
      ],
      [
        "bluelet/unyielded-event",
        "sleep(1)",
        "The event from sleep(...) is returned, never yielded, so it does nothing",
        "Yield it and return its result: return yield* sleep(...)",
      ],
    ],
  );
  const fixed = diagnostics.reduceRight(
    (text, d) =>
      text.slice(0, d.fix![0].range[0]) + d.fix![0].text + text.slice(d.fix![0].range[1]),
    source,
  );
  assert.ok(fixed.includes(`  yield* sleep(5);\n  yield* conn.sendall("ok");\n`), fixed);
  assert.ok(
    fixed.includes("if (conn) return yield* conn.recv(10);\n  return yield* sleep(1);"),
    fixed,
  );
});

Deno.test("unyielded-event flags what a return gives in every branch, and a returned coroutine of the file's own", () => {
  const source = IMPORTS + `
function* own() {
  yield* sleep(1);
}
function* reply(conn: Connection, x: boolean) {
  if (x) return x ? sleep(5) : conn.recv(10);
  if (conn) return sleep(5) as unknown;
  if (!x) return void sleep(6);
  return own();
}`;
  const diagnostics = Deno.lint.runPlugin(plugin, "reply.ts", source);
  assert.deepEqual(
    diagnostics.map((d) => [source.slice(d.range[0], d.range[1]), d.fix?.[0]?.text ?? null]),
    [
      ["sleep(5)", null],
      ["conn.recv(10)", null],
      ["sleep(5)", null],
      ["sleep(6)", null],
      ["own()", null], // maybe made for its caller to run: no fix
    ],
  );
  assert.equal(
    diagnostics[4].message,
    "The coroutine from own(...) is returned, never run, so its body does nothing",
  );
});

Deno.test("unyielded-event sees a var hoisted from a nested block hide an import", () => {
  const source = IMPORTS + `
function* handler(x: boolean) {
  if (x) {
    var sleep = (ms: number) => ms;
  }
  sleep(5);
  return sleep(6);
}`;
  assert.deepEqual(lint(source), []);
});

Deno.test("unyielded-event flags a call of the file's own coroutine whose generator is dropped, and fixes it with yield*", () => {
  const source = IMPORTS + `
function* greet(conn: Connection) {
  yield* conn.sendall("hello");
}
export function* farewell(conn: Connection) {
  yield* conn.sendall("bye");
}
const wave = function* (conn: Connection) {
  yield* conn.sendall("~");
};
function plain(conn: Connection) {
  return conn;
}
function* handler(conn: Connection) {
  greet(conn);
  farewell(conn);
  wave(conn);
  plain(conn);
  yield* greet(conn);
  const later = greet(conn);
  yield* later;
}
function* shadowing(greet: (conn: Connection) => void, conn: Connection) {
  greet(conn);
  yield* sleep(1);
}
function outside(conn: Connection) {
  greet(conn); // not in a coroutine: another mistake, not this rule's
}`;
  assert.deepEqual(lint(source), [
    ["unyielded-event", "greet(conn)"],
    ["unyielded-event", "farewell(conn)"],
    ["unyielded-event", "wave(conn)"],
  ]);
  const [diagnostic] = Deno.lint.runPlugin(plugin, "a.ts", source);
  assert.equal(
    diagnostic.message,
    "The coroutine from greet(...) is never run, so its body does nothing",
  );
  assert.equal(diagnostic.hint, "Run it in this thread: yield* greet(...)");
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
  // Of the two generators named "twice", main sees the first: the second is the block's.
  assert.deepEqual(lint(source), [["yield-star-finally", "yield* twice()"]]);
});

Deno.test("the rules look up a name where it is used: a parameter or a local of the same name is not the file's generator", () => {
  const source = IMPORTS + `
function* cleanup() { try { yield* sleep(100); } finally { yield* sleep(10); } }
async function* ticks() { yield 1; }
function* runStep(cleanup: () => Coroutine<void>) {
  yield* cleanup(); // the caller's callback
}
function* main() {
  const ticks = function* () { yield* sleep(1); };
  yield* spawn(ticks());
  {
    function* cleanup() { yield* sleep(1); }
    yield* cleanup();
  }
}`;
  assert.deepEqual(lint(source), []);
});

Deno.test("a namespace import of a project's own module does not make connect, publish or spawn events", () => {
  const source = `
import * as paths from "./paths.ts";
import { sleep } from "@bluelet/bluelet";
interface Db { connect(): void }
function* job(db: Db, bus: { publish(topic: string): void }) {
  db.connect();
  bus.publish(paths.root);
  new Deno.Command("ls").spawn();
  yield* sleep(1);
}`;
  assert.deepEqual(lint(source), []);
  // Unless the file names the library's class through it: a re-export of the library.
  const reexported = `
import * as deps from "./deps.ts";
function* news(room: deps.Broadcast<string>) {
  room.publish("hi");
}`;
  assert.deepEqual(lint(reexported), [["unyielded-event", 'room.publish("hi")']]);
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

/** The part of `deno doc --json` output read below. */
interface DocFunction {
  isGenerator?: boolean;
  returnType?: { repr?: string } | null;
}
interface DocDeclaration {
  kind: string;
  location: { filename: string; line: number };
  def: DocFunction & {
    methods?: { name: string; kind: string; functionDef: DocFunction }[];
    target?: { filename: string; line: number };
  };
}
interface DocJson {
  nodes: Record<string, { symbols?: { name: string; declarations: DocDeclaration[] }[] }>;
}

/** Whether a documented function gives something to `yield*`: an event or a coroutine. */
function makesOperation(fn: DocFunction): boolean {
  return fn.isGenerator === true ||
    ["Effect", "Coroutine", "Operation", "Generator", "Iterator"].includes(
      fn.returnType?.repr ?? "",
    );
}

/** Every export of a module whose call makes an event: functions, and classes' methods. */
async function eventMakers(path: string): Promise<{ functions: string[]; methods: string[][] }> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", new URL(path, import.meta.url).href],
    stdout: "piped",
  }).output();
  const doc: DocJson = JSON.parse(new TextDecoder().decode(stdout));
  const symbols = Object.values(doc.nodes).flatMap((node) => node.symbols ?? []);
  const at = (place: { filename: string; line: number }) => `${place.filename}:${place.line}`;
  const makers = new Set(
    symbols.flatMap((symbol) => symbol.declarations)
      .filter((decl) => decl.kind === "function" && makesOperation(decl.def))
      .map((decl) => at(decl.location)),
  );
  const functions = new Set<string>();
  const methods: string[][] = [];
  for (const { name, declarations } of symbols) {
    for (const decl of declarations) {
      // A re-export under another name (`yieldNow as null`) points at the function it renames.
      const place = decl.kind === "reference" ? decl.def.target : decl.location;
      if ((decl.kind === "function" || decl.kind === "reference") && makers.has(at(place!))) {
        functions.add(name);
      }
      for (const method of decl.kind === "class" ? decl.def.methods ?? [] : []) {
        if (method.kind === "method" && !method.name.startsWith("[")) {
          if (makesOperation(method.functionDef)) methods.push([name, method.name]);
        }
      }
    }
  }
  return { functions: [...functions], methods };
}

Deno.test("unyielded-event and uncalled-event know every export that makes an event", async () => {
  const modules = [
    { path: "../../mod.ts", specifier: "@bluelet/bluelet" },
    { path: "../../testing/mod.ts", specifier: "@bluelet/bluelet/testing" },
  ];
  const missed: string[] = [];
  for (const { path, specifier } of modules) {
    const { functions, methods } = await eventMakers(path);
    // Checks that the doc reading works at all, so an empty list cannot pass.
    if (path === "../../mod.ts") {
      assert.ok(functions.includes("sleep") && functions.includes("null"));
    }
    for (const name of functions) {
      const source = `import { ${name} as subject } from "${specifier}";
function* user() {
  subject();
  yield subject;
}`;
      const found = JSON.stringify(lint(source));
      if (found !== '[["unyielded-event","subject()"],["uncalled-event","subject"]]') {
        missed.push(`${name}: ${found}`);
      }
    }
    for (const [owner, name] of methods) {
      const source = `import type { ${owner} } from "${specifier}";
function* user(subject: ${owner}) {
  subject.${name}();
  yield subject.${name};
}`;
      const expected =
        `[["unyielded-event","subject.${name}()"],["uncalled-event","subject.${name}"]]`;
      const found = JSON.stringify(lint(source));
      if (found !== expected) missed.push(`${owner}.${name}: ${found}`);
    }
  }
  assert.deepEqual(missed, []);
});

Deno.test("unyielded-event flags a dropped optional call without a fix", () => {
  const source = IMPORTS + `
function* bye(maybe?: Connection) {
  maybe?.sendall("bye");
  sleep?.(1);
  yield maybe?.readline;
}`;
  assert.deepEqual(lint(source), [
    ["unyielded-event", 'maybe?.sendall("bye")'],
    ["unyielded-event", "sleep?.(1)"],
    ["uncalled-event", "maybe?.readline"],
  ]);
  // yield* undefined throws, so adding yield* would turn a skipped send into an error.
  const [diagnostic] = Deno.lint.runPlugin(plugin, "bye.ts", source);
  assert.deepEqual(diagnostic.fix, []);
  assert.equal(
    diagnostic.hint,
    "Yield it where the optional chain is defined: yield* maybe?.sendall(...) throws on undefined",
  );
});

Deno.test("unyielded-event counts publish, subscribe and spawn methods only with their class imported", () => {
  const body = `
function* notify(feed: Feed, pool: Pool) {
  feed.publish(1);
  feed.subscribe();
  pool.spawn(notify(feed, pool));
}`;
  const unrelated = `import type { Connection } from "@bluelet/bluelet";\n` + body;
  assert.deepEqual(lint(unrelated), []);
  const broadcast = `import { Broadcast } from "@bluelet/bluelet";\n` + body;
  assert.deepEqual(lint(broadcast), [
    ["unyielded-event", "feed.publish(1)"],
    ["unyielded-event", "feed.subscribe()"],
  ]);
  const group = `import { taskGroup } from "@bluelet/bluelet";\n` + body;
  assert.deepEqual(lint(group), [["unyielded-event", "pool.spawn(notify(feed, pool))"]]);
  const namespace = `import * as bluelet from "@bluelet/bluelet";\n` + body;
  assert.equal(lint(namespace).length, 3);
});

Deno.test("yield-star-finally leaves generators alone in a file that does not use the library", () => {
  const source = `
function* tokens(text: string): Generator<string> {
  const stack: string[] = [];
  try {
    for (const t of text.split(" ")) yield t;
  } finally {
    while (stack.length) yield stack.pop()!;
  }
}
export function* upper(text: string): Generator<string> {
  yield* tokens(text);
}`;
  assert.deepEqual(lint(source), []);
  const checked = `import type { Coroutine } from "@bluelet/bluelet";\n${source}`;
  assert.deepEqual(lint(checked), [["yield-star-finally", "yield* tokens(text)"]]);
});

Deno.test("yield-star-finally follows this.method() and a function expression's variable", () => {
  const source = IMPORTS + `
class Session {
  *cleanup() { try { yield* sleep(1); } finally { yield* sleep(1); } }
  *#flush() { try { yield* sleep(1); } finally { yield* sleep(1); } }
  *main() {
    yield* this.cleanup();
    yield* this.#flush();
  }
}
const sub = function* inner() { try { yield* sleep(1); } finally { yield* sleep(1); } };
function* main() {
  yield* sub();
  yield* inner();
}`;
  assert.deepEqual(lint(source), [
    ["yield-star-finally", "yield* this.cleanup()"],
    ["yield-star-finally", "yield* this.#flush()"],
    ["yield-star-finally", "yield* sub()"],
  ]);
});

Deno.test("async-coroutine flags async generator methods given to the scheduler", () => {
  const source = IMPORTS + `
const source = { async *fetch() {}, *fine() {} };
class Poller {
  async *poll() {}
  *main() {
    yield* spawn(this.poll());
    yield* spawn(source.fine());
  }
}
await run(source.fetch());`;
  assert.deepEqual(lint(source), [
    ["async-coroutine", "this.poll()"],
    ["async-coroutine", "source.fetch()"],
  ]);
});

Deno.test("async-coroutine flags an async generator given to a task group's spawn", () => {
  const body = `
async function* fetcher() {}
export function* main(group: TaskGroup, pool: Pool) {
  yield* group.spawn(fetcher());
  yield* pool.spawn(async function* () {}());
  yield* group.spawn(main(group, pool));
}`;
  // As for unyielded-event, a spawn method counts only with a task group's export imported.
  const unrelated = `import type { Connection } from "@bluelet/bluelet";\n` + body;
  assert.deepEqual(lint(unrelated), []);
  for (const imported of ["type { TaskGroup }", "{ taskGroup }", "* as bluelet"]) {
    const source = `import ${imported} from "@bluelet/bluelet";\n` + body;
    assert.deepEqual(lint(source), [
      ["async-coroutine", "fetcher()"],
      ["async-coroutine", "async function* () {}()"],
    ], imported);
  }
});

Deno.test("rules leave a local name that shadows an import alone", () => {
  const source = IMPORTS + `
async function* fetcher() {}
function* params(sleep: (ms: number) => void, { spawn }: { spawn(x: unknown): void }, [kill] = [(x: number) => {}], ...join: (() => void)[]) {
  sleep(5);
  yield sleep;
  spawn(fetcher());
  kill(1);
  yield* join;
}
function* locals(tasks: (() => void)[]) {
  const call = () => {};
  call();
  {
    let all = () => {};
    all();
  }
  for (const race of tasks) race();
  try {
    yield 0;
  } catch (until) {
    until();
  }
  function yieldNow() {}
  yieldNow();
}
function* outer(sleep: () => void, bluelet: { sleep(ms: number): void }) {
  function* inner() {
    sleep();
    bluelet.sleep(5);
    yield 0;
  }
  yield* inner();
}
class Holder {
  static {
    const sleep = (ms: number) => {};
    function* inStatic() {
      sleep(5);
      yieldNow(); // the import: looked up past the static block
      yield 0;
    }
  }
}
const expression = function* withTimeout(ms: number) {
  withTimeout(ms);
  yield 0;
};
function* unshadowed() {
  {
    const sleep = () => {};
    sleep();
  }
  sleep(5);
  yield sleep;
  yield* spawn(fetcher());
}`;
  assert.deepEqual(lint(source), [
    ["unyielded-event", "yieldNow()"],
    ["unyielded-event", "sleep(5)"],
    ["uncalled-event", "sleep"],
    ["async-coroutine", "fetcher()"],
  ]);
});

Deno.test("rules leave a local enum or namespace that shadows an import alone", () => {
  const source = IMPORTS + `
namespace outer {
  namespace sleep { export const count = 1; }
  const spawn = 5;
  enum kill { Now }
  export function* inside() {
    yield sleep;
    yield spawn;
    yield kill;
  }
}
function* nested() {
  {
    enum join { Now }
    yield join;
  }
  yield join;
}`;
  assert.deepEqual(lint(source), [["uncalled-event", "join"]]);
});

Deno.test("unyielded-event fixes only calls surely the library's; one matched by name is flagged without a fix", () => {
  const source = IMPORTS + `
import { Channel as Queue } from "@bluelet/bluelet";
function* handler(conn: Connection, ws: WebSocket, peer) {
  const jobs = new Queue<number>(1);
  const typed: Channel<number> = jobs;
  const plain = { send(_: number) {} };
  jobs.send(1);
  typed.send(2);
  conn.sendall("x");
  ws.send("hello");
  plain.send(3);
  peer.sendall("y");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
  sleep(5);
}`;
  const fixed = Deno.lint.runPlugin(plugin, "handler.ts", source).map((diagnostic) => [
    source.slice(diagnostic.range[0], diagnostic.range[1]),
    (diagnostic.fix?.length ?? 0) > 0 ? "fix" : "no fix",
    diagnostic.hint,
  ]);
  assert.deepEqual(fixed, [
    ["jobs.send(1)", "fix", "Yield it: yield* jobs.send(...)"],
    ["typed.send(2)", "fix", "Yield it: yield* typed.send(...)"],
    ['conn.sendall("x")', "fix", "Yield it: yield* conn.sendall(...)"],
    ['ws.send("hello")', "no fix", "If it is bluelet's event, yield it: yield* ws.send(...)"],
    ["plain.send(3)", "no fix", "If it is bluelet's event, yield it: yield* plain.send(...)"],
    ['peer.sendall("y")', "no fix", "If it is bluelet's event, yield it: yield* peer.sendall(...)"],
    ["sleep(5)", "fix", "Yield it: yield* sleep(...)"],
  ]);
});

Deno.test("unyielded-event gives no fix where the receiver may be another library's", () => {
  const head = `import { Channel as Queue, type Connection } from "@bluelet/bluelet";\n`;
  const cases: [string, string][] = [
    ["for (const conn of sockets) conn.send(1);", "sockets: WebSocket[]"],
    ["try { yield 1; } catch (conn) { conn.send(1); }", ""],
    ["let conn: any = new Queue<number>(); conn = new WebSocket(''); conn.send(1);", ""],
    [
      "{ class Connection { send(_: number) {} } const c: Connection = new Connection(); c.send(1); }",
      "",
    ],
    ["const c: Channel = local; c.send(1);", "local: Channel"], // a local type, not the import
    ["switch (1) { case 1: { const conn = ws; conn.send(1); } }", "ws: WebSocket"],
    ["if (ws) var conn = ws; conn.send(1);", "ws: WebSocket"], // a var, hoisted
    ["type Queue = WebSocket; const q: Queue = ws; q.send(1);", "ws: WebSocket"],
  ];
  for (const [body, params] of cases) {
    const source = head +
      `interface Channel { send(x: number): void }\nfunction* f(conn: Connection, ${params}) { ${body} }`;
    const fixes = Deno.lint.runPlugin(plugin, "f.ts", source)
      .filter((diagnostic) => diagnostic.id === "bluelet/unyielded-event")
      .map((diagnostic) => (diagnostic.fix?.length ?? 0) > 0);
    assert.deepEqual(fixes, [false], body);
  }
  // A type parameter hides the import, and a relative module's types may be anything's.
  for (
    const source of [
      head + `function* f<Queue extends WebSocket>(q: Queue) { q.send(1); }`,
      `import type { Stats } from "./stats.ts";\nfunction* f(stats: Stats) { stats.send(1); }`,
    ]
  ) {
    const fixes = Deno.lint.runPlugin(plugin, "f.ts", source).map((d) => (d.fix?.length ?? 0) > 0);
    assert.deepEqual(fixes, [false], source);
  }
  // A namespace's own function, or a var hoisted to the namespace, is surely not the
  // imported function: not flagged at all.
  for (
    const source of [
      `import { kill } from "@bluelet/bluelet";\n` +
      `namespace N { function kill(_: number) {} export function* f() { kill(1); } }`,
      `import { kill } from "@bluelet/bluelet";\n` +
      `namespace N { if (1) { var kill = (_: number) => {}; } export function* f() { kill(1); } }`,
    ]
  ) {
    assert.deepEqual(Deno.lint.runPlugin(plugin, "f.ts", source), [], source);
  }
  // A var hoisted from a nested block of the coroutine itself: the call is surely not the
  // import's, so it is not flagged at all.
  assert.deepEqual(
    Deno.lint.runPlugin(
      plugin,
      "f.ts",
      `import { kill } from "@bluelet/bluelet";\n` +
        `function* f(hard: boolean) { if (hard) { var kill = (_: number) => {}; } kill(1); }`,
    ),
    [],
  );
  // The library's own, by the names the module imported them as: fixed.
  const source = head +
    `function* f(q: Queue<number> = new Queue(1)) { const r = new Queue<number>(1); q.send(1); r.send(2); }`;
  const fixes = Deno.lint.runPlugin(plugin, "f.ts", source).map((d) => (d.fix?.length ?? 0) > 0);
  assert.deepEqual(fixes, [true, true]);
});

Deno.test("the rules find a generator by name however it is declared: exported as default, or a var hoisted from a block", () => {
  const defaults = IMPORTS + `
export default function* cleanup() { try { yield* sleep(100); } finally { yield* sleep(10); } }
function* main() {
  yield* cleanup();
}`;
  assert.deepEqual(lint(defaults), [["yield-star-finally", "yield* cleanup()"]]);
  const asyncDefault = IMPORTS + `
export default async function* ticks() { yield 1; }
await run(ticks());`;
  assert.deepEqual(lint(asyncDefault), [["async-coroutine", "ticks()"]]);
  const hoisted = IMPORTS + `
function* main(flag: boolean) {
  if (flag) {
    var closes = function* () { try { yield* sleep(1); } finally { yield* sleep(1); } };
  }
  yield* closes();
}`;
  assert.deepEqual(lint(hoisted), [["yield-star-finally", "yield* closes()"]]);
});

Deno.test("a namespace import of a relative module counts Broadcast however the file reaches it through it", () => {
  for (const reach of ["deps?.Broadcast", 'deps["Broadcast"]', "({ Broadcast } = deps)"]) {
    const source = `
import * as deps from "./deps.ts";
const reached = ${reach};
function* news(room: { publish(item: string): unknown }) {
  room.publish("hi");
}`;
    assert.deepEqual(lint(source), [["unyielded-event", 'room.publish("hi")']], reach);
  }
});

Deno.test("the rules see a generator through as, satisfies, a non-null assertion and an angle-bracket cast", () => {
  const source = IMPORTS + `
type Job = (conn: Connection) => Generator<unknown, void>;
const cast = function* (conn: Connection) {
  yield* conn.sendall("a");
} as Job;
const checked = (function* () {
  try { yield* sleep(1); } finally { yield* sleep(1); }
}) satisfies () => Generator<unknown, void>;
const asserted = (function* () {
  try { yield* sleep(1); } finally { yield* sleep(1); }
})!;
const fetched = (async function* () {}) as unknown as () => AsyncGenerator<void>;
function* main(conn: Connection) {
  cast(conn);
  yield* checked();
  yield* asserted();
  yield* spawn(fetched());
}`;
  assert.deepEqual(lint(source), [
    ["unyielded-event", "cast(conn)"],
    ["yield-star-finally", "yield* checked()"],
    ["yield-star-finally", "yield* asserted()"],
    ["async-coroutine", "fetched()"],
  ]);
  const angled = `import { sleep } from "@bluelet/bluelet";
const old = <() => Generator<unknown, void>> function* () { yield* sleep(1); };
function* main() {
  old();
  yield* sleep(1);
}`;
  assert.deepEqual(lint(angled), [["unyielded-event", "old()"]]);
});
