// The RESP2 parser of examples/kv.ts: however a stream of requests is split into reads, it
// gives the same requests, and it never writes to the chunks it was given.
import assert from "node:assert/strict";
import { ProtocolError, RequestParser, splitArgs } from "../../examples/_kv_resp.ts";
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
    ["*", "", true],
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
