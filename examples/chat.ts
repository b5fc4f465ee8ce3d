// deno run --allow-net examples/chat.ts --port 4916 [--host 127.0.0.1]
//
// A line chat server on a `Broadcast`: it asks each client its name, until it gives one that
// is not blank and no one in the room has (within a minute, or it is let go: a silent client
// holds a connection no one else can have); each line after that goes to every other client
// as "name: line" (blank ones go nowhere); joins and leaves are announced. Try it with a few
// `nc 127.0.0.1 4916`.
//
// Each connection has two threads in a task group: a reader that publishes the client's
// lines, and a writer that sends the client what its subscription receives. The room's
// overflow policy is "end": a client that stops reading cannot stall the others or grow
// the server's memory. Once its socket buffers are full, its subscription buffers
// `capacity` lines, and at the next line it is ended with a LaggedError and disconnected.
// One that stops sending (or sends a line too long) has `drainTimeout` to take the lines
// on their way to it; then it is let go, read or not.
// A healthy client's writer sends while its subscription fills, and its sends complete
// only when the event loop turns: so every quarter of a subscription's capacity the room
// takes (a paste is thousands of lines in one read; the whole room may speak at once), the
// readers wait while a writer that is moving holds half a subscription or more, for up to
// `MAX_PAUSE_MS`: a burst never fills the subscription of a client that reads, and one
// stuck in a send for `STUCK_MS` (it does not read) holds no one up. Nor does a paste outrun
// a client that reads on a slow link: past `burstLines`, a client's lines are read at
// `linesPerSecond`, and the rest of a paste waits in its sender's socket.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import {
  Broadcast,
  type Connection,
  type Coroutine,
  join,
  kill,
  LaggedError,
  LineTooLongError,
  moveOnAfter,
  run,
  server,
  sleep,
  type Subscription,
  taskGroup,
  yieldNow,
} from "../mod.ts";
import { portArg, printListening, runCommand, textArg, UsageError } from "./_command.ts";

/** A line in the room, with the connection that sent it (so it is not echoed back). */
export interface Message {
  from: number;
  text: string;
}

/** Options for {@linkcode chat}. */
export interface ChatOptions {
  /** The longest line accepted, in bytes. */
  maxLineLength?: number;
  /**
   * How long a client has to give its name, in milliseconds (default 60 s): one that
   * connects and says nothing holds a connection no one else can have.
   */
  nameTimeout?: number;
  /**
   * How many lines a client may send at once (default 256) before the server reads its
   * lines no faster than `linesPerSecond` (default 20): a paste read at the server's speed
   * would drop every client that reads slower than it comes, on a slow link, say. The
   * rest of a paste waits in the client's socket, and a flood slows down its sender only
   * (per connection: many pasting at once can still outrun a slow reader).
   */
  burstLines?: number;
  /** See `burstLines`; `Infinity` for no limit. */
  linesPerSecond?: number;
  /**
   * How long a client that stopped sending (it shut down its side, or sent a line too
   * long) has to take the lines still on their way to it, in milliseconds (default 5 s):
   * one that does not read holds its connection, and its name, no longer.
   */
  drainTimeout?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long the room waits, at most, for its writers to catch up (see `publish`). */
const MAX_PAUSE_MS = 200;

/** A writer whose last send began this long ago and has not ended is stuck: not waited for. */
const STUCK_MS = 1000;

/** Where a client's naming stands (see `askName`). */
interface Asking {
  /** The name it took (by `nameKey`), once it has one. */
  key: string | null;
  /** Whether a question (or why a line is refused) is being sent: cut short, nothing more can be. */
  sending: boolean;
}

/** A member's writer, as the room's pace sees it. */
interface Writer {
  readonly subscription: Subscription<Message>;
  /** When its send in progress began; null while it is not sending. */
  sendingSince: number | null;
}

/**
 * `text` without control characters: a carriage return or an escape sequence would let a
 * client draw over another's terminal lines (forge "* alice left", say). Tabs stay. Nor
 * invisible format characters (a zero-width space, a soft hyphen, a bidi override): with
 * them "bob\u200b" would be a name of its own that reads "bob".
 */
function printable(text: string): string {
  // A line or paragraph separator would break a line as a newline does.
  // deno-lint-ignore no-control-regex -- control characters are what it removes
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]|[\p{Cf}\p{Zl}\p{Zp}]/gu, "");
}

/**
 * Characters a name can hold that show nothing, or may show as nothing: those Unicode
 * says to ignore (a combining grapheme joiner, a variation selector, a Hangul filler),
 * unassigned and private ones, white space, and the braille blank.
 */
const UNSEEN = /[\p{Default_Ignorable_Code_Point}\p{Cn}\p{Co}\p{Cs}\s\u2800]/gu;

/** The name a client's answer gives: printable; "" if nothing in it shows. */
function nameOf(answer: string): string {
  const name = printable(answer).trim();
  return /[\p{L}\p{N}\p{P}\p{S}]/u.test(name.replace(UNSEEN, "")) ? name : "";
}

/**
 * The scripts a name's letters may come from, those of one writing system together (a
 * Japanese name mixes kanji and kana). A letter of none of them is of its own.
 */
const SCRIPTS = [
  /\p{sc=Latin}/u,
  /\p{sc=Greek}/u,
  /\p{sc=Cyrillic}/u,
  /\p{sc=Armenian}/u,
  /\p{sc=Georgian}/u,
  /\p{sc=Hebrew}/u,
  /\p{sc=Arabic}/u,
  /\p{sc=Syriac}/u,
  /\p{sc=Thaana}/u,
  /\p{sc=Devanagari}/u,
  /\p{sc=Bengali}/u,
  /\p{sc=Gurmukhi}/u,
  /\p{sc=Gujarati}/u,
  /\p{sc=Tamil}/u,
  /\p{sc=Telugu}/u,
  /\p{sc=Kannada}/u,
  /\p{sc=Malayalam}/u,
  /\p{sc=Sinhala}/u,
  /\p{sc=Thai}/u,
  /\p{sc=Lao}/u,
  /\p{sc=Tibetan}/u,
  /\p{sc=Myanmar}/u,
  /\p{sc=Khmer}/u,
  /\p{sc=Ethiopic}/u,
  /\p{sc=Cherokee}/u,
  /\p{sc=Canadian_Aboriginal}/u,
  /\p{sc=Coptic}/u,
  /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}\p{sc=Bopomofo}]/u,
];

/**
 * A colon, or a character that looks like one: modifier letters (ː, ˸), the ratio and
 * proportion signs, the tricolon, Z notation's type colon, braille's ⠅, colons and word
 * spaces of other scripts (Armenian, Hebrew, Syriac, Tibetan, runic, Ethiopic, Khmer,
 * Mongolian, Lisu, Bamum, cuneiform, Latin's letter colon), Vedic's visarga of every
 * script, small, full-width and vertical forms. (Another script's visarga, a mark that
 * looks like one, is of its letters: beside a Latin name, it mixes scripts.) A list trails
 * Unicode: Unicode's confusables data (TR39) would be the sounder base, and is not shipped
 * with Deno.
 */
const COLONS =
  /[:\u02d0\u02f8\u0589\u05c3\u0703\u0704\u0706\u0707\u0f14\u16ec\u1361\u1365\u1366\u17d6\u1804\u1cf2\u205a\u205d\u2236\u2237\u2805\u2982\ua4fd\ua6f4\ua789\ufe13\ufe30\ufe55\uff1a\u{12471}]/u;

/** Letters of every script (Common, Inherited): the kana length mark, the ʻokina. */
const ANY_SCRIPT = /[\p{sc=Common}\p{sc=Inherited}]/u;

/**
 * Why a name is refused, or "" if it is not: a colon would make a line read as if another
 * said it ("alice: I quit" saying hello), and letters of two scripts let one look like
 * another's name (a Cyrillic "о" in "bob").
 *
 * @param name The name, as given.
 * @returns What is wrong with it, as in "cannot mix scripts", or "".
 */
export function nameProblem(name: string): string {
  if (COLONS.test(name) || COLONS.test(name.normalize("NFKC"))) return "cannot hold a colon";
  const scripts = new Set<number>();
  // Letters, and marks that stand on their own (a visarga), each of its script.
  for (const letter of name.normalize("NFKC").match(/[\p{L}\p{M}]/gu) ?? []) {
    if (!ANY_SCRIPT.test(letter)) scripts.add(SCRIPTS.findIndex((script) => script.test(letter)));
  }
  return scripts.size > 1 ? "cannot mix scripts" : "";
}

/**
 * What tells names apart: what shows of them, in one form (NFKC), so that "bob" followed
 * by a character that shows nothing, or "ｂｏｂ", is bob's name, and taken while bob is in.
 */
export function nameKey(name: string): string {
  // NFKC again after the look-alikes: a Cyrillic "е" and a combining accent make "é".
  return name.normalize("NFKC").replace(UNSEEN, "").replace(LOOKS_LATIN, (c) => AS_LATIN[c])
    .normalize("NFKC");
}

/**
 * Greek and Cyrillic letters that look like Latin ones: a name of that script made only
 * of them ("асе", "ΑΒΕ") reads as a Latin name, so it is told apart as that name.
 */
const AS_LATIN: Record<string, string> = {};
// Each look-alike, then the Latin letter it looks like: Cyrillic, then Greek.
const LOOK_ALIKES = "аaеeоoрpсcуyхxіiјjѕsԁdһhӏlԛqԝwАAВBЕEКKМMНHОOРPСCТTХXІIЈJЅSУYԚQԜWӀI" +
  "ΑAΒBΕEΖZΗHΙIΚKΜMΝNΟOΡPΤTΥYΧXοoνvρpυuχxιiκkαaςcϳj"; // ς: what NFKC makes of a lunate ϲ
for (let i = 0; i < LOOK_ALIKES.length; i += 2) AS_LATIN[LOOK_ALIKES[i]] = LOOK_ALIKES[i + 1];
const LOOKS_LATIN = new RegExp(`[${Object.keys(AS_LATIN).join("")}]`, "gu");

/**
 * Makes the handler that serves one chat connection in `room`.
 *
 * @param room The broadcast that carries the room's lines.
 * @param options Line length limit.
 * @returns A `server` handler.
 */
export function chat(
  room: Broadcast<Message>,
  options: ChatOptions = {},
): (conn: Connection) => Coroutine<void> {
  const maxLength = options.maxLineLength ?? 4096;
  const nameTimeout = options.nameTimeout ?? 60_000;
  const burstLines = options.burstLines ?? 256;
  const linesPerSecond = options.linesPerSecond ?? 20;
  const drainTimeout = options.drainTimeout ?? 5000;
  const tooLong = encoder.encode(
    `* A line is at most ${maxLength} bytes, its newline included. Goodbye.\n`,
  );
  let nextId = 0;
  const { capacity } = room.statistics();
  const paceEvery = Math.max(1, capacity / 4);
  const writers = new Set<Writer>();
  // Lines taken since the readers last looked whether writers fall behind; the pause's
  // turns (1 ms sleeps), counted by whoever woke first, and when it began.
  let taken = 0;
  let turns = 0;
  let pauseStarted = 0;
  function* publish(message: Message): Coroutine<void> {
    while (taken >= paceEvery) {
      if (pauseStarted === 0) pauseStarted = performance.now();
      const turn = turns;
      yield* sleep(1); // a real wait: the event loop turns, and the writers' sends complete
      if (turns === turn) {
        turns++;
        if (!behind() || performance.now() - pauseStarted >= MAX_PAUSE_MS) {
          taken = 0;
          pauseStarted = 0;
        }
      }
    }
    taken++;
    yield* room.publish(message);
  }

  /** Whether a writer that is moving holds half a subscription or more. */
  function behind(): boolean {
    const now = performance.now();
    for (const writer of writers) {
      const since = writer.sendingSince;
      if (since !== null && now - since >= STUCK_MS) continue; // it does not read
      if (writer.subscription.statistics().buffered >= capacity / 2) return true;
    }
    return false;
  }
  // The names of those in the room, by nameKey: no one can speak as another.
  const names = new Set<string>();

  /**
   * Reads a line of the client's; one too long is answered with why the client is let go
   * (the line stays unread, so nothing more can be read), then thrown, for `onError`.
   */
  function* readLine(conn: Connection, asking: Asking): Coroutine<Uint8Array> {
    try {
      return yield* conn.readline("\n", { maxLength });
    } catch (error) {
      if (error instanceof LineTooLongError) {
        asking.sending = true;
        yield* moveOnAfter(1000, conn.sendall(tooLong));
        asking.sending = false;
      }
      throw error;
    }
  }

  /**
   * Waits until the client may send another line (see `burstLines`): a bucket of
   * `burstLines` lines that refills at `linesPerSecond`.
   */
  function pacer(): () => Coroutine<void> {
    let lines = burstLines;
    let lastLook = performance.now();
    return function* pace(): Coroutine<void> {
      for (;;) {
        const now = performance.now();
        lines = Math.min(burstLines, lines + (now - lastLook) * linesPerSecond / 1000);
        lastLook = now;
        if (lines >= 1) break;
        yield* sleep((1 - lines) * 1000 / linesPerSecond);
      }
      lines--;
    };
  }

  /**
   * Asks until the client gives a name no one has, within `nameTimeout` in all (blank
   * answers, or a client that does not read the questions, put it off no further); null if
   * it leaves or runs out of time first.
   */
  function* askName(conn: Connection, asking: Asking): Coroutine<string | null> {
    const named = yield* moveOnAfter(nameTimeout, ask(conn, asking));
    if (!named.timedOut) return named.value;
    // Not after a question cut short (the client does not read): nothing can follow it.
    if (!asking.sending) {
      yield* moveOnAfter(1000, conn.sendall(encoder.encode("No name in time. Goodbye.\n")));
    }
    return null;
  }

  /**
   * Asks `askName`'s questions. A name found free is taken at once, in `asking.key`: the
   * time limit runs this in a thread of its own, and another client's answer could come
   * between this thread's end and its caller's next step.
   */
  function* ask(conn: Connection, asking: Asking): Coroutine<string | null> {
    let question = "What is your name?";
    for (;;) {
      asking.sending = true;
      yield* conn.sendall(encoder.encode(question + "\n"));
      asking.sending = false;
      const line = yield* readLine(conn, asking);
      if (line.length === 0) return null; // gone before saying who it is
      const name = nameOf(decoder.decode(line));
      const problem = name === "" ? "" : nameProblem(name);
      const key = nameKey(name);
      if (name !== "" && problem === "" && !names.has(key)) {
        names.add(key);
        asking.key = key;
        return name;
      }
      // A blank line is no name: ask again.
      question = name === ""
        ? "What is your name?"
        : problem !== ""
        ? `A name ${problem}. What is your name?`
        : `${name} is taken. What is your name?`;
    }
  }

  return function* session(conn: Connection): Coroutine<void> {
    const asking: Asking = { key: null, sending: false };
    try {
      const name = yield* askName(conn, asking);
      if (name !== null) yield* member(conn, nextId++, name);
    } finally {
      if (asking.key !== null) names.delete(asking.key);
    }
  };

  /** Sends the client every line of the room but its own, several at a time when it can. */
  function* write(
    conn: Connection,
    subscription: Subscription<Message>,
    id: number,
  ): Coroutine<void> {
    const writer: Writer = { subscription, sendingSince: null };
    writers.add(writer);
    try {
      for (let item; !(item = yield* subscription.receive()).done;) {
        let text = item.value.from === id ? "" : item.value.text + "\n";
        for (let more; (more = subscription.tryReceive()) !== undefined && !more.done;) {
          if (more.value.from !== id) text += more.value.text + "\n";
        }
        if (text === "") continue;
        writer.sendingSince = performance.now();
        yield* conn.sendall(encoder.encode(text));
        writer.sendingSince = null;
      }
    } finally {
      writers.delete(writer);
    }
  }

  /** Serves a client who has given its name: reads its lines, writes it the room's. */
  function* member(conn: Connection, id: number, name: string): Coroutine<void> {
    const subscription = yield* room.subscribe();
    // Fallen behind: its writer is stuck in a write that never drains. Closing the
    // connection ends that write, and with it this handler.
    const { signal } = subscription;
    const onEnd = () => {
      if (signal.reason instanceof LaggedError) conn.close();
    };
    signal.addEventListener("abort", onEnd);
    yield* publish({ from: id, text: `* ${name} joined` });
    const pace = pacer();
    let lineTooLong: LineTooLongError | null = null;
    let cut = false; // the writer was stopped for not draining in time
    try {
      yield* taskGroup(function* (group) {
        const sending = yield* group.spawn(write(conn, subscription, id));
        try {
          for (;;) {
            if (linesPerSecond !== Infinity) yield* pace();
            let line: Uint8Array;
            try {
              line = yield* conn.readline("\n", { maxLength });
            } catch (error) {
              if (!(error instanceof LineTooLongError)) throw error;
              lineTooLong = error; // told once the writer is done with the connection
              break;
            }
            if (line.length === 0) break;
            // Trimmed once what does not print is out: "hi \0" is "hi".
            const text = printable(decoder.decode(line)).trimEnd();
            if (text.trim() === "") continue; // nothing to say to everyone
            yield* publish({ from: id, text: `${name}: ${text}` });
            // Let the writers take it before reading on.
            yield* yieldNow();
          }
        } finally {
          // The writer sends what is left, then ends; one stuck in a send to a client that
          // does not read is stopped, or the client would stay, and its name with it.
          subscription.close();
          cut = (yield* moveOnAfter(drainTimeout, join(sending))).timedOut;
          if (cut) yield* kill(sending); // a send cut part way: nothing more can follow it
        }
      });
      if (lineTooLong !== null) {
        if (!cut) yield* moveOnAfter(1000, conn.sendall(tooLong));
        throw lineTooLong;
      }
    } catch (error) {
      // Report why the connection was closed, not how its reads and writes noticed.
      throw signal.reason instanceof LaggedError ? signal.reason : error;
    } finally {
      signal.removeEventListener("abort", onEnd);
      if (!room.closed) room.tryPublish({ from: id, text: `* ${name} left` });
    }
  }
}

/**
 * Runs the chat server until SIGINT or SIGTERM.
 *
 * @param args `--port N` (default 4916) and `--host H` (default 127.0.0.1).
 */
export async function main(args: readonly string[]): Promise<void> {
  let port = 4916;
  let host = "127.0.0.1";
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--port") port = portArg(args[i], args[++i]);
    else if (args[i] === "--host") host = textArg(args[i], args[++i]);
    else throw new UsageError(`Unknown argument: ${args[i]}`);
  }
  const room = new Broadcast<Message>({ capacity: 1024, overflow: "end" });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await run(
      server(host, port, chat(room), {
        maxConnections: 800, // a socket each: below the usual `ulimit -n` of 1024
        onListen: printListening,
        onError: (error) => console.log(`dropped a client: ${(error as Error).message}`),
      }),
      { signal: stop.signal },
    );
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  // Only once it served: a server that could not start says why, and nothing else.
  console.log("Exiting.");
}

if (import.meta.main) await runCommand(main, "deno task chat [--port N] [--host H]");
