import assert from "node:assert/strict";
import {
  Broadcast,
  join,
  kill,
  LaggedError,
  run,
  server,
  sleep,
  spawn,
  until,
  VirtualClock,
} from "../../mod.ts";
import { memoryPair } from "../../testing/mod.ts";
import { chat, type ChatOptions, type Message, nameKey, nameProblem } from "../../examples/chat.ts";
import { withDeadline } from "./_process.ts";

const encoder = new TextEncoder();
const QUESTION = "What is your name?";

/** A plain Deno client that reads the server's lines as they come. */
class Client {
  readonly lines: string[] = [];
  #rest = "";
  #waiters: { until: (lines: string[]) => boolean; resolve: () => void }[] = [];
  readonly #decoder = new TextDecoder();
  reading: Promise<void> = Promise.resolve();

  constructor(readonly conn: Deno.TcpConn) {}

  /**
   * Connects and gives `name`. A client that reads has the server's question read and
   * dropped from its lines first; one that never reads leaves it unread.
   */
  static async connect(port: number, name: string, read: boolean): Promise<Client> {
    const client = new Client(await Deno.connect({ hostname: "127.0.0.1", port }));
    if (read) {
      client.reading = client.#read();
      await withDeadline(client.wait((lines) => lines.length >= 1), "the name question");
      assert.deepEqual(client.lines.splice(0), [QUESTION]);
    }
    await client.write(`${name}\n`);
    return client;
  }

  async write(text: string): Promise<void> {
    const data = encoder.encode(text);
    for (let written = 0; written < data.length;) {
      written += await this.conn.write(data.subarray(written));
    }
  }

  /** Resolves once the lines read so far satisfy `until`. */
  wait(until: (lines: string[]) => boolean): Promise<void> {
    if (until(this.lines)) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ until, resolve });
    return promise;
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await this.conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) return;
      const parts = (this.#rest + this.#decoder.decode(buffer.subarray(0, n), { stream: true }))
        .split("\n");
      this.#rest = parts.pop()!;
      this.lines.push(...parts);
      this.#waiters = this.#waiters.filter((w) => !(w.until(this.lines) && (w.resolve(), true)));
    }
  }
}

/** Starts a chat server on a free port; `stop()` shuts it down and waits for it. */
async function startChat(
  room: Broadcast<Message>,
  onError: (error: unknown) => void,
  options: ChatOptions = {},
) {
  const stop = Promise.withResolvers<void>();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const serving = run(function* () {
    const task = yield* spawn(
      server("127.0.0.1", 0, chat(room, { maxLineLength: 32 * 1024, ...options }), {
        onListen: (addr) => resolve((addr as Deno.NetAddr).port),
        onError,
      }),
    );
    yield* until(stop.promise);
    yield* kill(task);
  }());
  const port = await listening;
  return {
    port,
    async stop() {
      stop.resolve();
      await serving;
    },
  };
}

Deno.test("chat.ts: 20 TCP clients, one never reads: every message reaches the others, in order", async () => {
  // Every client sends its lines in one burst, and the server publishes a burst faster than
  // writes complete (a write takes a turn of the event loop): the buffer covers it.
  const capacity = 1024;
  const room = new Broadcast<Message>({ capacity, overflow: "end" });
  const errors: unknown[] = [];
  const chatServer = await startChat(room, (error) => errors.push(error));
  const clients: Client[] = [];
  const silent = 19;
  const perClient = 50;
  let peakBuffered = 0;
  const sampler = setInterval(() => {
    peakBuffered = Math.max(peakBuffered, room.statistics().buffered);
  }, 1);
  try {
    // Connect one at a time: once client 0 has seen a join, that client is subscribed.
    for (let i = 0; i < 20; i++) {
      clients.push(await Client.connect(chatServer.port, `c${i}`, i !== silent));
      if (i > 0) await clients[0].wait((lines) => lines.includes(`* c${i} joined`));
    }
    assert.equal(room.statistics().subscribers, 20);

    // Everyone talks at once, the silent client too.
    await Promise.all(clients.map(async (client, i) => {
      for (let k = 0; k < perClient; k++) await client.write(`message ${k} from c${i}\n`);
    }));
    const expected = 19 * perClient;
    await Promise.all(
      clients.map((client, i) =>
        i === silent
          ? undefined
          : client.wait((lines) => lines.filter((line) => !line.startsWith("*")).length >= expected)
      ),
    );

    for (let r = 0; r < 20; r++) {
      if (r === silent) continue;
      const lines = clients[r].lines.filter((line) => !line.startsWith("*"));
      assert.equal(lines.length, expected, `c${r} got ${lines.length} lines`);
      for (let s = 0; s < 20; s++) {
        const fromS = lines.filter((line) => line.startsWith(`c${s}: `));
        const want = s === r ? [] : Array.from(
          { length: perClient },
          (_, k) => `c${s}: message ${k} from c${s}`,
        );
        assert.deepEqual(fromS, want, `what c${r} got from c${s}`);
      }
    }
    assert.deepEqual(errors, []);
    assert.ok(peakBuffered <= 20 * capacity, `peak buffered ${peakBuffered}`);
  } finally {
    clearInterval(sampler);
    for (const client of clients) client.conn.close();
    await Promise.all(clients.map((client) => client.reading));
    await chatServer.stop();
  }
});

Deno.test("chat.ts: a client that never reads is dropped once it falls behind; memory stays bounded", async () => {
  const capacity = 8;
  const room = new Broadcast<Message>({ capacity, overflow: "end" });
  const { promise: dropped, resolve } = Promise.withResolvers<unknown>();
  const chatServer = await startChat(room, resolve);
  const talker = await Client.connect(chatServer.port, "talker", true);
  const silent = await Client.connect(chatServer.port, "silent", false);
  await talker.wait((lines) => lines.includes("* silent joined"));
  let peakBuffered = 0;
  try {
    // 16 KiB lines until the server gives up on the silent client: its socket buffers
    // (a few MB on loopback) fill, then its subscription's 8 lines, then it lags.
    const line = "x".repeat(16 * 1024) + "\n";
    let sent = 0;
    let stop = false;
    dropped.then(() => stop = true);
    while (!stop && sent < 100_000) {
      await talker.write(line);
      sent++;
      peakBuffered = Math.max(peakBuffered, room.statistics().buffered);
    }
    const error = await dropped;
    assert.ok(error instanceof LaggedError, String(error));
    assert.ok(peakBuffered <= 2 * capacity, `peak buffered ${peakBuffered}`);
    await talker.wait((lines) => lines.includes("* silent left"));
    assert.equal(room.statistics().subscribers, 1);
  } finally {
    talker.conn.close();
    silent.conn.close();
    await talker.reading;
    await chatServer.stop();
  }
});

Deno.test("chat.ts: a client that stops sending and never read leaves within the drain time, even with its socket full", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const errors: unknown[] = [];
  const chatServer = await startChat(room, (error) => errors.push(error), { drainTimeout: 300 });
  const talker = await Client.connect(chatServer.port, "talker", true);
  const silent = await Client.connect(chatServer.port, "silent", false);
  await talker.wait((lines) => lines.includes("* silent joined"));
  const watcher = await Client.connect(chatServer.port, "watcher", true);
  await talker.wait((lines) => lines.includes("* watcher joined"));
  try {
    // 16 KiB lines, one at a time (each seen by the watcher, so the room has taken it),
    // until the silent client's writer is stuck in a send (its socket buffers, a few MB on
    // loopback, are full): lines then wait in its subscription, a few only, far from the
    // 64 that would end it for falling behind.
    for (let sent = 0; room.statistics().buffered < 4 && sent < 10_000; sent++) {
      await talker.write(`${sent} ${"x".repeat(16 * 1024)}\n`);
      await withDeadline(
        watcher.wait((lines) => lines.some((line) => line.startsWith(`talker: ${sent} `))),
        `line ${sent} at the watcher`,
      );
      watcher.lines.length = 0;
    }
    assert.ok(room.statistics().buffered < 64);
    await silent.conn.closeWrite(); // done talking; still reads nothing
    await withDeadline(
      talker.wait((lines) => lines.includes("* silent left")),
      "the silent client's leave",
    );
    // Its name is free again.
    const again = await Client.connect(chatServer.port, "silent", true);
    await talker.wait((lines) => lines.filter((l) => l === "* silent joined").length === 2);
    again.conn.close();
    await again.reading;
  } finally {
    talker.conn.close();
    silent.conn.close();
    watcher.conn.close();
    await Promise.all([talker.reading, watcher.reading]);
    await chatServer.stop();
  }
});

Deno.test("chat.ts: many clients speaking at once, more lines than a subscription holds, are not dropped", async () => {
  // Every client that reads keeps up, given the event loop's turns: a burst of the whole
  // room must wait for them, not end them for falling behind.
  const capacity = 32;
  const room = new Broadcast<Message>({ capacity, overflow: "end" });
  const errors: unknown[] = [];
  const chatServer = await startChat(room, (error) => errors.push(error), {
    linesPerSecond: Infinity,
  });
  const clients: Client[] = [];
  const count = 20;
  const each = 5; // 100 lines in all, against a capacity of 32
  try {
    for (let i = 0; i < count; i++) {
      clients.push(await Client.connect(chatServer.port, `c${i}`, true));
      await clients[0].wait((lines) => lines.includes(`* c${i} joined`) || i === 0);
    }
    await Promise.all(
      clients.map((client, i) =>
        client.write(Array.from({ length: each }, (_, k) => `${k} from c${i}\n`).join(""))
      ),
    );
    for (const [r, client] of clients.entries()) {
      await withDeadline(
        Promise.race([
          client.wait((lines) =>
            lines.filter((line) => / from c/.test(line)).length >= (count - 1) * each
          ),
          client.reading, // dropped: it reads no more
        ]),
        `every line at c${r}`,
      );
      const heard = client.lines.filter((line) => / from c/.test(line)).length;
      assert.equal(heard, (count - 1) * each, `lines c${r} heard`);
    }
    assert.deepEqual(errors, []);
  } finally {
    for (const client of clients) client.conn.close();
    await Promise.all(clients.map((client) => client.reading));
    await chatServer.stop();
  }
});

Deno.test("chat.ts: clients pasting many lines in one write are not dropped; every line arrives, in order", async () => {
  // A paste arrives in a read or two, thousands of lines at once: far more than a
  // subscription holds (1024), and the writers of healthy clients wait on the event loop
  // for their sends. Nobody stopped reading: nobody may be dropped.
  const room = new Broadcast<Message>({ capacity: 1024, overflow: "end" });
  const errors: unknown[] = [];
  // No pace: the server reads the pastes as fast as they come (see the test below).
  const chatServer = await startChat(room, (error) => errors.push(error), {
    linesPerSecond: Infinity,
  });
  const clients: Client[] = [];
  const pasters = 4;
  const perPaste = 2000;
  try {
    for (let i = 0; i < pasters + 2; i++) {
      clients.push(await Client.connect(chatServer.port, `c${i}`, true));
      if (i > 0) await clients[0].wait((lines) => lines.includes(`* c${i} joined`));
    }
    await Promise.all(
      clients.slice(0, pasters).map((client, i) =>
        client.write(Array.from({ length: perPaste }, (_, k) => `${k} from c${i}\n`).join(""))
      ),
    );
    for (const [r, client] of clients.entries()) {
      const others = Math.min(pasters, clients.length) - (r < pasters ? 1 : 0);
      // Or until the server closes it: a client that was dropped reads no more.
      await withDeadline(
        Promise.race([
          client.wait((lines) =>
            lines.filter((line) => !line.startsWith("*")).length >= others * perPaste
          ),
          client.reading,
        ]),
        `every pasted line at c${r}`,
      );
      for (let s = 0; s < pasters; s++) {
        if (s === r) continue;
        const fromS = client.lines.filter((line) => line.startsWith(`c${s}: `));
        assert.deepEqual(
          fromS,
          Array.from({ length: perPaste }, (_, k) => `c${s}: ${k} from c${s}`),
          `what c${r} got from c${s}`,
        );
      }
    }
    assert.deepEqual(errors, []);
  } finally {
    for (const client of clients) client.conn.close();
    await Promise.all(clients.map((client) => client.reading));
    await chatServer.stop();
  }
});

Deno.test("chat.ts: control characters in names and lines do not reach other clients", async () => {
  // A carriage return or an escape sequence would let a client forge a line on another's
  // terminal ("* alice left", "alice: ..."): they are dropped.
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const chatServer = await startChat(room, () => {});
  const bob = await Client.connect(chatServer.port, "bob", true);
  const mallory = await Client.connect(chatServer.port, "\x1b[31mmal\x07lory", true);
  try {
    await withDeadline(bob.wait((lines) => lines.length >= 1), "mallory's join");
    await mallory.write("\r\x1b[2K* mallory left\r\n");
    await mallory.write("tab\there, del\x7f, next\x85line\n");
    await mallory.write("trailing \x00\n"); // no trailing space once the NUL is gone
    await withDeadline(bob.wait((lines) => lines.length >= 4), "mallory's three lines");
    assert.deepEqual(bob.lines, [
      "* [31mmallory joined",
      "[31mmallory: [2K* mallory left",
      "[31mmallory: tab\there, del, nextline",
      "[31mmallory: trailing",
    ]);
  } finally {
    bob.conn.close();
    mallory.conn.close();
    await Promise.all([bob.reading, mallory.reading]);
    await chatServer.stop();
  }
});

Deno.test("chat.ts: blank lines are neither a name nor a message", async () => {
  // A client that presses Enter before typing its name is asked again, not cut off, and an
  // empty line is not sent to everyone as "carol: ".
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const chatServer = await startChat(room, () => {});
  const bob = await Client.connect(chatServer.port, "bob", true);
  const carol = await Client.connect(chatServer.port, "\n  \ncarol", true);
  try {
    await withDeadline(bob.wait((lines) => lines.length >= 1), "carol's join");
    await carol.write("\n   \nhello\n");
    await withDeadline(bob.wait((lines) => lines.length >= 2), "carol's line");
    assert.deepEqual(bob.lines, ["* carol joined", "carol: hello"]);
    await withDeadline(carol.wait((lines) => lines.length >= 2), "carol's questions");
    assert.deepEqual(carol.lines, [QUESTION, QUESTION]);
  } finally {
    bob.conn.close();
    carol.conn.close();
    await Promise.all([bob.reading, carol.reading]);
    await chatServer.stop();
  }
});

Deno.test("chat.ts: no one can take the name of someone in the room; it is free once they leave", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const chatServer = await startChat(room, () => {});
  const bob = await Client.connect(chatServer.port, "bob", true);
  const other = await Client.connect(chatServer.port, " bob ", true);
  let third: Client | undefined;
  let bobLeft = false;
  try {
    await withDeadline(other.wait((lines) => lines.length >= 1), "the second question");
    assert.deepEqual(other.lines.splice(0), ["bob is taken. What is your name?"]);
    // Nor with characters that show nothing and make another string of it: a zero-width
    // space, a combining grapheme joiner, a variation selector, a braille blank, a private
    // character; nor with a line separator in it, or in full-width letters.
    const lookalikes = [
      "bob\u200b",
      "bob\u034f",
      "bob\ufe0f",
      "bob\u2800",
      "bob\ue000",
      "b\u2028ob",
      "\uff42\uff4f\uff42",
    ];
    for (const lookalike of lookalikes) {
      await other.write(`${lookalike}\n`);
      await withDeadline(other.wait((lines) => lines.length >= 1), JSON.stringify(lookalike));
      assert.match(other.lines.splice(0)[0], / is taken\. What is your name\?$/);
    }
    // Nor with a letter of another script that looks the same (a Cyrillic o): a name's
    // letters are of one script. A colon would make a line read as if someone else said it.
    for (
      const [refused, why] of [
        ["b\u043eb", "cannot mix scripts"],
        ["\u0392ob", "cannot mix scripts"],
        ["alice: I quit", "cannot hold a colon"],
      ]
    ) {
      await other.write(`${refused}\n`);
      await withDeadline(other.wait((lines) => lines.length >= 1), JSON.stringify(refused));
      assert.deepEqual(other.lines.splice(0), [`A name ${why}. What is your name?`]);
    }
    // A name of nothing that shows (Hangul fillers, a braille blank, a lone accent) is no name.
    for (const blank of ["\u3164\u3164", "\u2800", "\u0301"]) {
      await other.write(`${blank}\n`);
      await withDeadline(other.wait((lines) => lines.length >= 1), "a blank name's question");
      assert.deepEqual(other.lines.splice(0), ["What is your name?"]);
    }
    await other.write("robert\n");
    await withDeadline(bob.wait((lines) => lines.length >= 1), "robert's join");
    bob.conn.close();
    bobLeft = true;
    await bob.reading;
    await withDeadline(other.wait((lines) => lines.length >= 1), "bob's leave");
    third = await Client.connect(chatServer.port, "bob", true);
    await withDeadline(other.wait((lines) => lines.length >= 2), "the new bob's join");
    assert.deepEqual(bob.lines, ["* robert joined"]);
    assert.deepEqual(other.lines, ["* bob left", "* bob joined"]);
    assert.deepEqual(third.lines, []);
  } finally {
    if (!bobLeft) bob.conn.close();
    other.conn.close();
    third?.conn.close();
    await Promise.all([bob.reading, other.reading, third?.reading]);
    await chatServer.stop();
  }
});

Deno.test("chat.ts: a client that gives no name in time is told so and let go", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const stop = Promise.withResolvers<void>();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const serving = run(function* () {
    const task = yield* spawn(
      server("127.0.0.1", 0, chat(room, { nameTimeout: 50 }), {
        onListen: (addr) => resolve((addr as Deno.NetAddr).port),
      }),
    );
    yield* until(stop.promise);
    yield* kill(task);
  }());
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: await listening });
  try {
    const said = await withDeadline(new Response(conn.readable).text(), "the goodbye");
    assert.equal(said, `${QUESTION}\nNo name in time. Goodbye.\n`);
  } finally {
    stop.resolve();
    await serving;
  }
});

Deno.test("chat.ts: two clients giving the same name in the same instant: one gets it, the other is told it is taken", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const handler = chat(room, { linesPerSecond: Infinity });
  const decoder = new TextDecoder();
  const record: string[] = [];
  await run(
    function* () {
      const [[first, firstClient], [second, secondClient]] = [memoryPair(), memoryPair()];
      const handlers = [yield* spawn(handler(first)), yield* spawn(handler(second))];
      for (const client of [firstClient, secondClient]) yield* client.readline(); // the question
      yield* firstClient.sendall("bob\n");
      yield* secondClient.sendall("bob\n");
      record.push(`second heard: ${decoder.decode(yield* secondClient.readline()).trimEnd()}`);
      yield* secondClient.sendall("carol\n");
      record.push(`first heard: ${decoder.decode(yield* firstClient.readline()).trimEnd()}`);
      firstClient.close();
      secondClient.close();
      for (const task of handlers) yield* join(task);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    `second heard: bob is taken. ${QUESTION}`,
    "first heard: * carol joined",
  ]);
});

Deno.test("chat.ts: a client that reads no question is let go quietly when the name's time runs out mid-question", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const handler = chat(room, { nameTimeout: 100 });
  const clock = new VirtualClock();
  const outcome = await run(
    function* () {
      // A buffer smaller than the question: its send waits for a read that never comes.
      const [server, client] = memoryPair({ bufferSize: 10 });
      const session = yield* spawn(handler(server));
      try {
        yield* join(session);
        return `let go at ${clock.now()}`;
      } catch (error) {
        return `failed: ${error}`;
      } finally {
        client.close();
      }
    }(),
    { clock },
  );
  assert.equal(outcome, "let go at 100");
});

Deno.test("chat.ts: a name too long, whose notice the name's time limit cuts short, ends the session quietly, with no goodbye that would throw", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const handler = chat(room, { nameTimeout: 1000, maxLineLength: 8 });
  const clock = new VirtualClock();
  const outcome = await run(
    function* () {
      // Room for the question only: the notice's send waits for a read that never comes.
      const [server, client] = memoryPair({ bufferSize: 30 });
      const session = yield* spawn(handler(server));
      yield* client.readline(); // the question
      yield* sleep(500);
      yield* client.sendall("a name far too long\n");
      try {
        yield* join(session);
        return `ended at ${clock.now()}`;
      } catch (error) {
        return `${(error as Error).name} at ${clock.now()}`;
      } finally {
        client.close();
      }
    }(),
    { clock },
  );
  assert.equal(outcome, "ended at 1000"); // it threw SocketClosedError (the cut stream)
});

Deno.test("chat.ts: blank answers do not put off the name's time limit", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const handler = chat(room, { nameTimeout: 400 });
  const clock = new VirtualClock();
  const decoder = new TextDecoder();
  const record: string[] = [];
  await run(
    function* () {
      const [server, client] = memoryPair();
      const session = yield* spawn(handler(server));
      // A blank line every 100 ms for 2 s, each answered by the question again.
      const blanks = yield* spawn(function* () {
        for (let i = 0; i < 20; i++) {
          yield* sleep(100);
          yield* client.sendall("\n");
        }
      }());
      const reader = yield* spawn(function* () {
        for (let line; (line = yield* client.readline()).length > 0;) {
          if (!decoder.decode(line).startsWith(QUESTION)) {
            record.push(`${decoder.decode(line).trimEnd()} at ${clock.now()}`);
          }
        }
      }());
      yield* join(session);
      record.push(`session over at ${clock.now()}`);
      yield* kill(blanks);
      server.close(); // as the server does once its handler returns
      yield* join(reader);
      client.close();
    }(),
    { clock },
  );
  assert.deepEqual(record, ["No name in time. Goodbye. at 400", "session over at 400"]);
});

Deno.test("chat.ts takes names of one script, with the letters every script shares, and refuses mixes", () => {
  const taken = [
    "alice2",
    "Zoë",
    "José",
    "O'Brien",
    "ユーリ", // katakana with the length mark, a letter of no one script
    "ジョージ",
    "らーめん",
    "山田太郎",
    "山田たろう",
    "김민준",
    "Kaʻiulani", // the ʻokina
    "Νίκος",
    "Борис",
    "😀bob",
    "Ｂｏｂ",
  ];
  for (const name of taken) assert.equal(nameProblem(name), "", name);
  for (const name of ["b\u043eb", "\u0392ob", "\u13aalice", "Борис2b"]) {
    assert.equal(nameProblem(name), "cannot mix scripts", name);
  }
  assert.equal(nameProblem("alice: I quit"), "cannot hold a colon");
  assert.equal(nameProblem("bob\uff1a"), "cannot hold a colon"); // a full-width colon
  // Colons of other scripts and of mathematics, which look like one.
  for (
    const colon of [
      ..."\ua789\u2236\u02f8\u0589\u05c3\ufe13\ufe55\u02d0\u1365\ua6f4\ufe30\u2237\u2982\u0f14",
      ..."\u17d6\u0706\u0707\u205d\u2805\u1cf2\u{12471}",
    ]
  ) {
    assert.equal(nameProblem(`alice${colon} I quit`), "cannot hold a colon", colon);
  }
  // A visarga looks like a colon too: beside Latin letters it mixes scripts; in a name of
  // its own script it is a letter like any other.
  for (const visarga of ["\u0903", "\u0a03", "\u0a83"]) {
    assert.equal(nameProblem(`alice${visarga} I quit`), "cannot mix scripts", visarga);
  }
  assert.equal(nameProblem("\u0926\u0941\u0903\u0916"), ""); // दुःख, Devanagari alone
});

Deno.test("chat.ts: a client that pastes faster than another reads is slowed down, and the reader is not dropped", async () => {
  // A reader on a slow link (here 64 KiB every 10 ms) falls behind a paste read at the
  // server's speed, by more than its socket buffers and subscription hold, and a room that
  // ends laggards would drop it. The server reads a client's lines no faster than
  // `linesPerSecond` after a burst, so the paste waits in the paster's socket instead.
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const errors: unknown[] = [];
  const chatServer = await startChat(room, (error) => errors.push(error), {
    burstLines: 32,
    linesPerSecond: 400,
  });
  const paster = await Client.connect(chatServer.port, "paster", true);
  const slow = new Client(await Deno.connect({ hostname: "127.0.0.1", port: chatServer.port }));
  const lines = 1200;
  const text = "y".repeat(8 * 1024);
  try {
    await slow.write("slow\n");
    await paster.wait((got) => got.includes("* slow joined"));
    const pasting = paster.write(
      Array.from({ length: lines }, (_, k) => `${k} ${text}\n`).join(""),
    );
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    let rest = "";
    let pasted = 0;
    let inOrder = true;
    while (pasted < lines) {
      const n = await withDeadline(slow.conn.read(buffer), "the slow reader's next read");
      if (n === null) break;
      const parts = (rest + decoder.decode(buffer.subarray(0, n), { stream: true })).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        if (!line.startsWith("paster: ")) continue;
        inOrder &&= line === `paster: ${pasted} ${text}`;
        pasted++;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await pasting;
    assert.equal(pasted, lines);
    assert.ok(inOrder);
    assert.deepEqual(errors, []);
  } finally {
    paster.conn.close();
    slow.conn.close();
    await paster.reading;
    await chatServer.stop();
  }
});

Deno.test("chat.ts: a line longer than the limit is answered with why the client is let go", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const errors: unknown[] = [];
  const chatServer = await startChat(room, (error) => errors.push(error), { maxLineLength: 64 });
  const listener = await Client.connect(chatServer.port, "listener", true);
  const talker = await Client.connect(chatServer.port, "talker", true);
  try {
    await listener.wait((lines) => lines.includes("* talker joined"));
    await talker.write("x".repeat(100) + "\n");
    await withDeadline(talker.reading, "the talker's end");
    assert.deepEqual(talker.lines, [
      "* A line is at most 64 bytes, its newline included. Goodbye.",
    ]);
    await withDeadline(listener.wait((lines) => lines.includes("* talker left")), "the leave");
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).name, "LineTooLongError");
  } finally {
    listener.conn.close();
    talker.conn.close();
    await listener.reading;
    await chatServer.stop();
  }
});

Deno.test("chat.ts: a name all in another script's look-alike letters is the name it looks like", async () => {
  const room = new Broadcast<Message>({ capacity: 64, overflow: "end" });
  const chatServer = await startChat(room, () => {});
  const ace = await Client.connect(chatServer.port, "ace", true);
  const abe = await Client.connect(chatServer.port, "ABE", true);
  const other = await Client.connect(chatServer.port, "\u0430\u0441\u0435", true); // Cyrillic асе
  try {
    await withDeadline(other.wait((lines) => lines.length >= 1), "the second question");
    assert.deepEqual(other.lines.splice(0), ["\u0430\u0441\u0435 is taken. What is your name?"]);
    for (const lookalike of ["\u0391\u0392\u0395", "\u0440\u043e\u0440"]) { // Greek ΑΒΕ; Cyrillic рор
      if (lookalike === "\u0440\u043e\u0440") {
        await other.write("pop\n");
        await withDeadline(abe.wait((lines) => lines.includes("* pop joined")), "pop's join");
        continue;
      }
      await other.write(`${lookalike}\n`);
      await withDeadline(other.wait((lines) => lines.length >= 1), JSON.stringify(lookalike));
      assert.match(other.lines.splice(0)[0], / is taken\. What is your name\?$/);
    }
    const pop2 = await Client.connect(chatServer.port, "\u0440\u043e\u0440", true);
    try {
      await withDeadline(pop2.wait((lines) => lines.length >= 1), "the look-alike pop's question");
      assert.match(pop2.lines.splice(0)[0], / is taken\. What is your name\?$/);
    } finally {
      pop2.conn.close();
      await pop2.reading;
    }
    // Names of those scripts that look like no Latin name are theirs.
    assert.equal(nameProblem("\u0411\u043e\u0440\u0438\u0441"), "");
  } finally {
    ace.conn.close();
    abe.conn.close();
    other.conn.close();
    await Promise.all([ace.reading, abe.reading, other.reading]);
    await chatServer.stop();
  }
});

Deno.test("chat.ts tells a name from its Greek and Cyrillic look-alikes, accents and capitals included", () => {
  const pairs = [
    ["ace", "\u0430\u0441\u0435"],
    ["ABE", "\u0391\u0392\u0395"],
    ["José", "\u0408\u043e\u0455\u0435\u0301"], // Cyrillic, then a combining acute
    ["AI", "\u0410\u04c0"], // a capital palochka
    ["cop", "\u03f2\u03bf\u03c1"], // a lunate sigma
    ["jo", "\u03f3\u03bf"], // a Greek yot
  ];
  for (const [latin, lookalike] of pairs) {
    assert.equal(nameKey(lookalike), nameKey(latin), JSON.stringify(lookalike));
  }
  // Names of those scripts stay theirs to take.
  for (const name of ["Борис", "Ева", "Νίκος", "Δημήτρης", "Ольга"]) {
    assert.equal(nameProblem(name), "", name);
  }
});
