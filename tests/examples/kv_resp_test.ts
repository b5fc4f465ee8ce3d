// The RESP2 parser of examples/kv.ts: however a stream of requests is split into reads, it
// gives the same requests, and it never writes to the chunks it was given.
import assert from "node:assert/strict";
import {
  ProtocolError,
  QueryBudget,
  ReplyBuffer,
  RequestParser,
  splitArgs,
} from "../../examples/_kv_resp.ts";
import { globMatch } from "../../examples/_kv_glob.ts";

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

const STREAM = "*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$4\r\n\x00\xff\r\n\r\n" +
  "PING\r\n" + "*0\r\n" + "\r\n" + 'ECHO "a b"\n' + "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n" +
  "*1\r\n$" + "1000\r\n" + "x".repeat(1000) + "\r\n";
const REQUESTS = [
  ["SET", "k\r\n", "\x00\xff\r\n"],
  ["PING"],
  ["ECHO", "a b"],
  ["ECHO", ""],
  ["x".repeat(1000)],
];

function parseAll(chunks: Uint8Array[], copy: boolean): string[][] {
  const parser = new RequestParser();
  const requests: string[][] = [];
  for (const chunk of chunks) {
    const before = chunk.slice();
    parser.feed(chunk, copy);
    for (let request; (request = parser.next()) !== null;) requests.push(request);
    assert.deepEqual(chunk, before, "a chunk was written to");
  }
  assert.equal(parser.buffered, 0);
  return requests;
}

Deno.test("RequestParser gives the same requests however the stream is split", () => {
  const whole = bytes(STREAM);
  assert.deepEqual(parseAll([whole], false), REQUESTS);
  for (let cut = 1; cut < whole.length; cut++) {
    for (const copy of [false, true]) {
      const parts = [whole.slice(0, cut), whole.slice(cut)];
      assert.deepEqual(parseAll(parts, copy), REQUESTS, `cut at ${cut}`);
    }
  }
  // One byte at a time.
  const single = Array.from(whole, (byte) => Uint8Array.of(byte));
  assert.deepEqual(parseAll(single, false), REQUESTS);
});

Deno.test("RequestParser reports a malformed request once it is complete enough to tell", () => {
  const parser = new RequestParser();
  parser.feed(bytes("*1\r\n$4\r\nPING\r\n*1\r"));
  assert.deepEqual(parser.next(), ["PING"]);
  assert.equal(parser.next(), null); // "*1\r" may yet become "*1\r\n"
  parser.feed(bytes("\nx\r"));
  assert.equal(parser.next(), null);
  parser.feed(bytes("\n"));
  assert.throws(() => parser.next(), new ProtocolError("Protocol error: expected '$', got 'x'"));
});

Deno.test("RequestParser skips arrays with a negative 64-bit count, and refuses counts past INT_MAX or 64 bits", () => {
  const parser = new RequestParser();
  parser.feed(bytes("*-1\r\n*-1000000000000000\r\n*-9223372036854775808\r\nPING\r\n"));
  assert.deepEqual(parser.next(), ["PING"]);
  assert.equal(parser.next(), null);
  const invalid = new ProtocolError("Protocol error: invalid multibulk length");
  for (const count of ["-9223372036854775809", "9223372036854775807", "2147483648", "-0"]) {
    const refusing = new RequestParser();
    refusing.feed(bytes(`*${count}\r\n`));
    assert.throws(() => refusing.next(), invalid, count);
  }
});

Deno.test("splitArgs splits inline commands as Redis does", () => {
  assert.deepEqual(splitArgs("  set  k   v  "), ["set", "k", "v"]);
  assert.deepEqual(splitArgs(`echo "\\x41\\n\\t\\"" 'it\\'s'`), ["echo", 'A\n\t"', "it's"]);
  assert.deepEqual(splitArgs(`echo "\\x4g"`), ["echo", "x4g"]);
  assert.deepEqual(splitArgs(`a"b c"d`), null);
  assert.deepEqual(splitArgs(`a"b c" d`), ["ab c", "d"]);
  assert.equal(splitArgs(`"unterminated`), null);
  assert.equal(splitArgs(`'x'y`), null);
  assert.deepEqual(splitArgs(""), []);
});

Deno.test("globMatch follows Redis's stringmatch, and stays linear on hostile patterns", () => {
  const cases: [string, string, boolean][] = [
    // Redis's stringmatch matches an empty string with an empty pattern only (KEYS takes
    // the exact pattern `*` for every key apart from this).
    ["*", "", false],
    ["**", "", false],
    ["", "", true],
    ["a*", "a", true],
    ["a**", "a", true],
    ["h?llo", "hello", true],
    ["h*llo", "hllo", true],
    ["h[ae]llo", "hallo", true],
    ["h[^e]llo", "hello", false],
    ["h[a-b]llo", "hbllo", true],
    ["h[b-a]llo", "hbllo", true],
    ["h[!e]llo", "hello", true],
    ["a\\*b", "a*b", true],
    ["a\\*b", "axb", false],
    ["h[a", "ha", true],
    ["h[", "h[", false],
    ["[\\]]", "]", true],
    ["*a*b*c", "xxaxxbxxc", true],
    ["*a*b*c", "xxaxxbxx", false],
  ];
  for (const [pattern, subject, expected] of cases) {
    assert.equal(globMatch(pattern, subject), expected, `${pattern} ~ ${subject}`);
  }
  // Exponential for a naive matcher; quick here.
  assert.equal(globMatch("a*".repeat(30) + "b", "a".repeat(5000)), false);
});

Deno.test("splitArgs splits an 8 MiB line of long words, quoted and not", () => {
  // How its time grows with the line is measured by bench/split_args_bench.ts.
  const word = "w".repeat(2 * 1024 * 1024);
  const line = `SET ${word} "${word}\\n${word}" '${word}'`;
  const args = splitArgs(line);
  assert.deepEqual(args?.map((arg) => arg.length), [
    3,
    word.length,
    2 * word.length + 1,
    word.length,
  ]);
  assert.equal(args![2], `${word}\n${word}`);
});

Deno.test("RequestParser.parseAhead holds a blocked client's requests in order, to the same limits", () => {
  const parser = new RequestParser({ queryBufferLimit: 2300 });
  parser.feed(bytes("PING\r\n*2\r\n$4\r\nECHO\r\n$1\r\na\r\n*1\r\n$4\r\nPI"));
  parser.parseAhead();
  assert.equal(parser.buffered, 2); // the "PI" of a request still coming
  parser.feed(bytes("NG\r\n"));
  assert.deepEqual(parser.next(), ["PING"]);
  assert.deepEqual(parser.next(), ["ECHO", "a"]);
  assert.deepEqual(parser.next(), ["PING"]);
  assert.equal(parser.next(), null);

  // Requests parsed ahead count against the query buffer limit until they are taken: 228
  // bytes for each PING held (4, and 32 for its string, see the next test, and 192 for
  // the request), 2,280 for ten, and 42 more pass 2,300.
  parser.feed(bytes("PING\r\n".repeat(10)));
  parser.parseAhead();
  assert.equal(parser.buffered, 0);
  assert.throws(() => parser.feed(bytes("PING\r\n".repeat(7))), RangeError);
  for (let i = 0; i < 10; i++) assert.deepEqual(parser.next(), ["PING"]);
  parser.feed(bytes("PING\r\n".repeat(16)));

  // A line past the inline limit is refused as it comes; what follows it is dropped.
  const blocked = new RequestParser();
  blocked.feed(bytes("PING\r\n" + "x".repeat(70_000)));
  blocked.parseAhead();
  assert.equal(blocked.buffered, 0);
  blocked.feed(bytes("y".repeat(70_000) + "\r\nPING\r\n"));
  blocked.parseAhead();
  assert.equal(blocked.buffered, 0);
  assert.deepEqual(blocked.next(), ["PING"]);
  assert.throws(() => blocked.next(), new ProtocolError("Protocol error: too big inline request"));
});

Deno.test("RequestParser counts the arguments of a request still arriving against the query buffer limit", () => {
  const parser = new RequestParser({ queryBufferLimit: 182 });
  parser.feed(bytes(`*3\r\n$3\r\nSET\r\n$48\r\n${"k".repeat(48)}\r\n$48\r\n`));
  assert.equal(parser.next(), null);
  assert.equal(parser.buffered, 0);
  // SET and the key are held as strings: their 51 bytes, and 32 each for what a string
  // and its place in the array cost. With 48 bytes of the value, 163 bytes are held, and
  // 20 more would pass the limit of 182.
  parser.feed(bytes("v".repeat(48)));
  assert.throws(() => parser.feed(bytes("v".repeat(20))), RangeError);
  parser.feed(bytes("v".repeat(19)));
});

Deno.test("RequestParser counts empty arguments too: a flood of them cannot pass the query buffer limit", () => {
  const parser = new RequestParser({ queryBufferLimit: 1000 });
  parser.feed(bytes("*1000000\r\n"));
  let fed = 0;
  assert.throws(() => {
    for (; fed < 1000; fed++) {
      parser.feed(bytes("$0\r\n\r\n".repeat(10)));
      assert.equal(parser.next(), null);
    }
  }, new RangeError("Cannot buffer request: query buffer limit reached"));
  // 32 bytes held per argument: the 4th batch of ten passes 1,000 bytes.
  assert.equal(fed, 3);
});

Deno.test("RequestParser counts requests parsed ahead for a blocked client as it counts any: each argument's overhead too", () => {
  // Inline lines of one-byte words, and RESP requests of empty arguments, parsed ahead
  // (the client waits in BLPOP): 500 arguments a line, far more held than the bytes sent.
  for (
    const [name, line] of [
      ["inline", "a ".repeat(499) + "a\r\n"],
      ["RESP", "*500\r\n" + "$0\r\n\r\n".repeat(500)],
    ]
  ) {
    const budget = new QueryBudget(1_000_000);
    const parser = new RequestParser({ queryBufferLimit: 100_000, budget });
    let fed = 0;
    assert.throws(
      () => {
        for (; fed < 1000; fed++) {
          parser.feed(bytes(line));
          parser.parseAhead();
        }
      },
      new RangeError("Cannot buffer request: query buffer limit reached"),
      name,
    );
    // 500 arguments of 32 bytes and more each: past 100,000 bytes within 7 lines.
    assert.ok(fed <= 7, `${name}: ${fed} lines held`);
    assert.ok(budget.held >= 500 * 32 * fed, `${name}: ${budget.held} counted for ${fed} lines`);
    let taken = 0;
    while (parser.next() !== null) taken++;
    assert.equal(taken, fed, name);
    assert.equal(budget.held, 0, name);
  }
});

Deno.test("RequestParser counts a request parsed ahead at what it holds: its array too, not only its arguments", () => {
  // Measured: a one-byte request parsed ahead holds about 205 bytes of V8's heap.
  const budget = new QueryBudget(10_000_000);
  const parser = new RequestParser({ budget });
  parser.feed(bytes("a\n".repeat(1000)));
  parser.parseAhead();
  assert.equal(budget.held, 1000 * (1 + 32 + 192));
});

Deno.test("RequestParser shares a QueryBudget with other parsers, and gives its share back", () => {
  const budget = new QueryBudget(1000);
  const one = new RequestParser({ budget });
  const two = new RequestParser({ budget });
  one.feed(bytes(`*1\r\n$2000\r\n${"a".repeat(389)}`)); // 400 bytes buffered
  assert.equal(budget.held, 400);
  // Holding more than `one` would, `two` is refused (a test below has the other case).
  assert.throws(
    () => two.feed(bytes("b".repeat(601))),
    new RangeError("Cannot buffer request: the query memory all clients share is used up"),
  );
  two.feed(bytes("b".repeat(600)));
  assert.equal(budget.held, 1000);
  one.release();
  one.release(); // twice gives back nothing more
  assert.equal(budget.held, 600);
  two.feed(bytes("b".repeat(400)));
  assert.equal(budget.held, 1000);
});

Deno.test("RequestParser counts a big buffer at what it takes, grown to fit the bulk string it waits for, not past it", () => {
  // A bulk string arriving in pieces is gathered in one buffer, grown as it comes: what a
  // budget counts is that buffer's size, not only the bytes received.
  const budget = new QueryBudget(1_000_000);
  const fits = new RequestParser({ budget });
  fits.feed(bytes(`*1\r\n$700000\r\n${"a".repeat(400_000)}`));
  assert.equal(fits.next(), null);
  // Doubled, the buffer would take 1,400,000 bytes; the bulk needs 700,002.
  fits.feed(bytes("a".repeat(300_000)));
  assert.equal(budget.held, 700_002);
  fits.feed(bytes("\r\n"));
  assert.deepEqual(fits.next()?.map((arg) => arg.length), [700_000]);
  assert.equal(budget.held, 0);

  const grows = new RequestParser({ budget });
  grows.feed(bytes(`*1\r\n$3000000\r\n${"a".repeat(300_000)}`));
  assert.equal(grows.next(), null);
  // 600,000 bytes received, in a buffer grown to 1,200,000: past the budget.
  assert.throws(
    () => grows.feed(bytes("a".repeat(300_000))),
    new RangeError("Cannot buffer request: the query memory all clients share is used up"),
  );
});

Deno.test("RequestParser refuses a bulk string longer than a JavaScript string can be, at its length line", () => {
  // V8's strings stop at 2^29 - 24 characters, below Redis's 512 MB: a longer bulk string
  // could never be held, so its length is refused before any of its bytes are awaited.
  const longest = 2 ** 29 - 24;
  const parser = new RequestParser();
  parser.feed(bytes(`*1\r\n$${longest}\r\n`));
  assert.equal(parser.next(), null); // waits for the data
  for (const length of [longest + 1, 2 ** 29]) {
    const refusing = new RequestParser();
    refusing.feed(bytes(`PING\r\n*1\r\n$${length}\r\n`));
    assert.deepEqual(refusing.next(), ["PING"]);
    assert.throws(() => refusing.next(), new ProtocolError("Protocol error: invalid bulk length"));
  }
});

Deno.test("ReplyBuffer drains a long reply in short writes moving each byte a bounded number of times", () => {
  const out = new ReplyBuffer();
  // Just short of what is held as it is: this one is copied into the buffer.
  const value = "v".repeat(64 * 1024 - 1);
  out.bulk(value);
  let expected = `$${value.length}\r\n${value}\r\n`;
  // Counts the bytes the buffer copies, whichever way it copies them.
  let moved = 0;
  const { copyWithin, set } = Uint8Array.prototype;
  const proto = Uint8Array.prototype as unknown as Record<string, unknown>;
  proto.copyWithin = function (this: Uint8Array, target: number, start: number, end?: number) {
    moved += (end ?? this.length) - start;
    return copyWithin.call(this, target, start, end);
  };
  proto.set = function (this: Uint8Array, array: ArrayLike<number>, offset?: number) {
    moved += array.length;
    return set.call(this, array, offset);
  };
  let drained = "";
  try {
    // A slow reader takes 1,000 bytes a write; replies appended meanwhile stay, in order.
    for (let writes = 1; out.length > 0; writes++) {
      const view = out.bytes();
      const n = Math.min(1000, view.length);
      drained += String.fromCharCode(...view.subarray(0, n));
      out.consume(n);
      if (writes % 64 === 0) {
        out.integer(writes);
        expected += `:${writes}\r\n`;
      }
    }
  } finally {
    proto.copyWithin = copyWithin;
    proto.set = set;
  }
  assert.equal(drained, expected);
  // Moving the rest to the front after every write copies 500 MB here.
  assert.ok(moved <= 2 * expected.length, `${moved} bytes moved to drain ${expected.length}`);
});

Deno.test("RequestParser: past a QueryBudget, the parser holding the most is dropped, unless that is the one feeding", () => {
  const budget = new QueryBudget(1000);
  const record: string[] = [];
  const hog = new RequestParser({ budget });
  hog.onEvicted = () => record.push("hog dropped");
  const honest = new RequestParser({ budget });
  honest.onEvicted = () => record.push("honest dropped");
  hog.feed(bytes(`*1\r\n$5000\r\n${"h".repeat(889)}`)); // 900 held
  honest.feed(bytes("*1\r\n$4\r\nPI")); // 10 held
  // 205 more would pass 1,000: the hog, holding more than the honest one would, goes.
  honest.feed(bytes("NG\r\n" + "*2\r\n$4\r\nECHO\r\n$300\r\n" + "e".repeat(181)));
  assert.deepEqual(honest.next(), ["PING"]);
  record.push(`held: ${budget.held}`);
  assert.throws(
    () => hog.feed(bytes("h")),
    new RangeError("Cannot buffer request: dropped to free the query memory all clients share"),
  );
  hog.release(); // its client is gone: nothing more to give back
  record.push(`held: ${budget.held}`);
  // Now the honest one holds the most: it is the one refused, and nobody is dropped.
  const other = new RequestParser({ budget });
  other.onEvicted = () => record.push("other dropped");
  other.feed(bytes("*1\r\n$400\r\n" + "o".repeat(300)));
  assert.throws(
    () => honest.feed(bytes("e".repeat(500))),
    new RangeError("Cannot buffer request: the query memory all clients share is used up"),
  );
  // 215 fed, less the 14 bytes of the PING taken.
  assert.deepEqual(record, ["hog dropped", "held: 201", "held: 201"]);
});

Deno.test("RequestParser gives back its share of a QueryBudget once its requests are taken", () => {
  const budget = new QueryBudget(1000);
  const one = new RequestParser({ budget });
  const two = new RequestParser({ budget });
  one.feed(bytes(`*2\r\n$4\r\nECHO\r\n$578\r\n${"a".repeat(578)}\r\n`)); // 600 bytes
  assert.equal(budget.held, 600);
  assert.deepEqual(one.next(), ["ECHO", "a".repeat(578)]);
  assert.equal(one.next(), null); // all taken: nothing held
  assert.equal(budget.held, 0);
  two.feed(bytes("b".repeat(1000)));
  assert.equal(budget.held, 1000);
  // Parsed ahead (a blocked client's requests), they are held until taken.
  const shared = new QueryBudget(3000);
  const three = new RequestParser({ budget: shared });
  three.feed(bytes("PING\r\n".repeat(10)));
  three.parseAhead();
  assert.equal(shared.held, 2280); // 4 bytes, and 32 + 192 of overhead, each
  assert.throws(() => three.feed(bytes("x".repeat(721))), RangeError);
  three.feed(bytes("x".repeat(720)));
});

Deno.test("ReplyBuffer writes a long bulk string a chunk at a time, never copying it whole, in order with what follows", () => {
  // A value of 8 MiB: encoding it whole would stall every client for as long as it takes
  // (seconds, at 500 MB), and hold a second copy of it for each client reading it.
  const value = Array.from({ length: 8 * 1024 * 1024 }, (_, i) => String.fromCharCode(i % 251))
    .join("");
  const out = new ReplyBuffer();
  out.ok();
  out.bulk(value);
  out.integer(1);
  out.bulk(value.slice(0, 3 * 1024 * 1024));
  let expected = `+OK\r\n$${value.length}\r\n${value}\r\n:1\r\n$${3 * 1024 * 1024}\r\n${
    value.slice(0, 3 * 1024 * 1024)
  }\r\n`;
  assert.equal(out.length, expected.length);
  const drained: string[] = [];
  let largest = 0;
  // A reader whose writes take odd amounts; replies come in meanwhile and keep their place.
  for (let writes = 1; out.length > 0 && writes < 1_000_000; writes++) {
    const view = out.bytes();
    largest = Math.max(largest, view.length);
    const n = Math.min(view.length, 1 + (writes * 7919) % 300_000);
    let text = "";
    for (let i = 0; i < n; i += 8192) {
      text += String.fromCharCode(...view.subarray(i, Math.min(n, i + 8192)));
    }
    drained.push(text);
    out.consume(n);
    if (writes % 10 === 0) {
      out.integer(writes);
      expected += `:${writes}\r\n`;
    }
  }
  assert.ok(drained.join("") === expected, "the bytes written are the replies, in order");
  assert.ok(largest <= 1024 * 1024, `a write of ${largest} bytes at once`);
});

Deno.test("RequestParser keeps every byte of a long bulk string, whatever its value", () => {
  // Long ones are decoded another way than short ones: both must give one char per byte.
  for (const length of [4095, 4096, 100_003]) {
    const value = Uint8Array.from({ length }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
    const parser = new RequestParser();
    const head = bytes(`*2\r\n$4\r\nECHO\r\n$${length}\r\n`);
    const request = new Uint8Array(head.length + length + 2);
    request.set(head);
    request.set(value, head.length);
    request.set(bytes("\r\n"), head.length + length);
    // Offset in a larger buffer, as a read into a reused one is.
    const read = new Uint8Array(request.length + 5);
    read.set(request, 5);
    parser.feed(read.subarray(5));
    const [, text] = parser.next()!;
    assert.equal(text.length, length);
    assert.ok(Uint8Array.from(text, (c) => c.charCodeAt(0)).every((b, i) => b === value[i]));
  }
});

Deno.test("ReplyBuffer holds a bulk string of 64 KiB or more as it is: a reply of thousands is not copied in one step", () => {
  const out = new ReplyBuffer();
  const value = "v".repeat(100_000);
  out.array(2_000);
  for (let i = 0; i < 2_000; i++) out.bulk(value);
  // Only what comes before the first value is in the buffer; each value is copied as the
  // one before it has been written.
  assert.equal(new TextDecoder().decode(out.bytes()), "*2000\r\n$100000\r\n");
  assert.equal(out.length, 2_000 * ("$100000\r\n".length + 100_000 + 2) + "*2000\r\n".length);
});

Deno.test("ReplyBuffer writes each of two long bulk strings in one reply as itself, whatever their lengths", () => {
  // The chunk made for the first must not pass for the second's: both start at offset 0.
  for (const length of [1024 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024]) {
    const a = "A".repeat(length);
    const b = "B".repeat(length);
    const out = new ReplyBuffer();
    out.array(2);
    out.bulk(a);
    out.bulk(b);
    const expected = `*2\r\n$${length}\r\n${a}\r\n$${length}\r\n${b}\r\n`;
    let drained = "";
    for (let writes = 0; out.length > 0 && writes < 100; writes++) {
      const view = out.bytes();
      for (let i = 0; i < view.length; i += 8192) {
        drained += String.fromCharCode(...view.subarray(i, Math.min(view.length, i + 8192)));
      }
      out.consume(view.length);
    }
    assert.ok(drained === expected, `two values of ${length} bytes`);
  }
});

Deno.test("RequestParser gives its share of the budget back request by request, not only once it waits for bytes", () => {
  // A client that sends a big SET and a BLPOP in one write, then blocks, holds nothing:
  // another client's big request must not find it holding the SET's bytes and drop it.
  const budget = new QueryBudget(10_000);
  const blocked = new RequestParser({ budget });
  let evicted = false;
  blocked.onEvicted = () => evicted = true;
  const big = "v".repeat(6000);
  blocked.feed(
    bytes(
      `*3\r\n$3\r\nSET\r\n$2\r\nka\r\n$${big.length}\r\n${big}\r\n*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n`,
    ),
  );
  assert.deepEqual(blocked.next(), ["SET", "ka", big]);
  assert.deepEqual(blocked.next(), ["BLPOP", "q", "0"]);
  // It now waits (a blocked client asks for no next request): it holds nothing.
  assert.equal(budget.held, 0);
  const other = new RequestParser({ budget });
  other.feed(bytes(`*3\r\n$3\r\nSET\r\n$2\r\nkb\r\n$${big.length}\r\n${big}\r\n`));
  assert.equal(evicted, false);
});
