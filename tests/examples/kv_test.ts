// examples/kv.ts as a subprocess, driven by a RESP client written for the tests. The
// expected replies are the bytes Redis 7.0 sends: run this file with KV_TEST_REDIS_PORT=N
// (a `redis-server --port N --save "" --appendonly no`) and the same expectations are
// checked against Redis itself. Nothing here needs Redis otherwise.
import assert from "node:assert/strict";
import { ExampleProcess, runExample } from "./_process.ts";
import { encode, RespClient } from "./_resp_client.ts";

const REDIS_PORT = Deno.env.get("KV_TEST_REDIS_PORT");
/** For what differs from Redis on purpose, or needs kv.ts's own options. */
const KV_ONLY = { ignore: REDIS_PORT !== undefined };

/** The server under test: kv.ts on a free port, or a real Redis when asked. */
async function startServer(extra: string[] = []): Promise<AsyncDisposable & { port: number }> {
  if (REDIS_PORT !== undefined) {
    return { port: Number(REDIS_PORT), [Symbol.asyncDispose]: async () => {} };
  }
  const process = new ExampleProcess("kv.ts", ["--allow-net=127.0.0.1"], ["--port", "0", ...extra]);
  const { port } = await process.listening();
  return {
    port,
    [Symbol.asyncDispose]: async () => {
      const { code, stdout, stderr } = await process.stop();
      assert.equal(code, 0, stderr);
      assert.equal(stderr, "");
      assert.match(stdout, /Exiting\.$/);
    },
  };
}

const I64_MAX = "9223372036854775807";
const I64_MIN = "-9223372036854775808";
const WRONGTYPE = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
const NOT_INT = "-ERR value is not an integer or out of range\r\n";
const INT_RANGE = "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n";
const args = (name: string) => `-ERR wrong number of arguments for '${name}' command\r\n`;

/** Commands and Redis 7.0's exact replies, run in order on one connection. */
const SCRIPT: [string[], string | RegExp][] = [
  [["FLUSHALL"], "+OK\r\n"],
  [["PING"], "+PONG\r\n"],
  [["ping", "a"], "$1\r\na\r\n"],
  [["PING", "a", "b"], args("ping")],
  [["ECHO", "x"], "$1\r\nx\r\n"],
  [["ECHO"], args("echo")],
  [["SELECT", "0"], "+OK\r\n"],
  [["SELECT", "x"], NOT_INT],
  [["SELECT", "16"], "-ERR DB index is out of range\r\n"],
  [["SELECT", "-1"], "-ERR DB index is out of range\r\n"],
  // SELECT reads a C int, as Redis's getIntFromObjectOrReply does.
  [["SELECT", "2147483647"], "-ERR DB index is out of range\r\n"],
  [["SELECT", "-2147483648"], "-ERR DB index is out of range\r\n"],
  [["SELECT", "2147483648"], INT_RANGE],
  [["SELECT", "-2147483649"], INT_RANGE],
  [["SELECT", I64_MAX], INT_RANGE],
  [["SELECT", "9223372036854775808"], NOT_INT],
  [["SELECT", "0", "1"], args("select")],
  [["DBSIZE"], ":0\r\n"],
  [["DBSIZE", "x"], args("dbsize")],
  [["FOO", "a", "b"], "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"],
  [["FOO"], "-ERR unknown command 'FOO', with args beginning with: \r\n"],
  [["F\rO", "a\nb"], "-ERR unknown command 'F O', with args beginning with: 'a b' \r\n"],
  [
    ["FOO", "a".repeat(150), "b"],
    `-ERR unknown command 'FOO', with args beginning with: '${"a".repeat(128)}' \r\n`,
  ],
  [["GeT"], args("get")],
  // Strings, and SET's options.
  [["SET", "k", "v"], "+OK\r\n"],
  [["GET", "k"], "$1\r\nv\r\n"],
  [["GET", "nokey"], "$-1\r\n"],
  [["SET", "k", "v2", "GET"], "$1\r\nv\r\n"],
  [["SET", "k", "v3", "NX"], "$-1\r\n"],
  [["SET", "k", "v3", "NX", "GET"], "$2\r\nv2\r\n"],
  [["SET", "n", "v3", "XX"], "$-1\r\n"],
  [["SET", "k", "v4", "XX"], "+OK\r\n"],
  [["SET", "k", "v", "EX", "10"], "+OK\r\n"],
  [["TTL", "k"], ":10\r\n"],
  [["PTTL", "k"], /^:(9\d{3}|10000)\r\n$/],
  [["SET", "k", "v", "PX", "10400"], "+OK\r\n"],
  [["TTL", "k"], ":10\r\n"],
  [["SET", "k", "v", "KEEPTTL"], "+OK\r\n"],
  [["TTL", "k"], ":10\r\n"],
  [["SET", "k", "v"], "+OK\r\n"],
  [["TTL", "k"], ":-1\r\n"],
  [["SET", "k", "v", "EX", "0"], "-ERR invalid expire time in 'set' command\r\n"],
  [["SET", "k", "v", "EX", "-1"], "-ERR invalid expire time in 'set' command\r\n"],
  [["SET", "k", "v", "EX", "x"], NOT_INT],
  [["SET", "k", "v", "EX"], "-ERR syntax error\r\n"],
  [["SET", "k", "v", "NX", "XX"], "-ERR syntax error\r\n"],
  [["SET", "k", "v", "EX", "1", "PX", "1"], "-ERR syntax error\r\n"],
  [["SET", "k", "v", "FOO"], "-ERR syntax error\r\n"],
  // A repeated option is no conflict: Redis takes it, and the last time to live given.
  [["DEL", "k"], ":1\r\n"],
  [["SET", "k", "v", "NX", "NX"], "+OK\r\n"],
  [["SET", "k", "w", "XX", "XX"], "+OK\r\n"],
  [["SET", "k", "v", "PX", "100000", "PX", "200000"], "+OK\r\n"],
  [["PTTL", "k"], /^:(199\d{3}|200000)\r\n$/],
  [["SET", "k", "v", "EX", "x", "EX", "10"], "+OK\r\n"],
  [["TTL", "k"], ":10\r\n"],
  [["SET", "k", "v", "EX", "10", "EX", "x"], NOT_INT],
  [["SET", "k", "v", "KEEPTTL", "KEEPTTL"], "+OK\r\n"],
  [["TTL", "k"], ":10\r\n"],
  [["SET", "k", "v", "KEEPTTL", "EX", "10"], "-ERR syntax error\r\n"],
  [["SET", "k", "v", "PX", "10", "KEEPTTL"], "-ERR syntax error\r\n"],
  [["SET", "k", "v", "XX", "GET", "NX"], "-ERR syntax error\r\n"],
  [["SET", "k", "v"], "+OK\r\n"],
  [["SET", "k", "v", "ex", "10", "nx"], "$-1\r\n"],
  [["SET", "k", "v", "EX", I64_MAX], "-ERR invalid expire time in 'set' command\r\n"],
  [["SET", "k", "v", "PX", I64_MAX], "-ERR invalid expire time in 'set' command\r\n"],
  [["SET", "k"], args("set")],
  [["TTL", "nokey"], ":-2\r\n"],
  [["PTTL", "nokey"], ":-2\r\n"],
  [["PTTL", "k"], ":-1\r\n"],
  [["MSET", "a", "1", "b", "2"], "+OK\r\n"],
  [["MSET", "a"], args("mset")],
  [["MSET", "a", "1", "b"], args("mset")],
  [["MGET", "a", "b", "nokey"], "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"],
  [["MGET"], args("mget")],
  [["SET", "bin", "\x00\xff\r\n"], "+OK\r\n"],
  [["GET", "bin"], "$4\r\n\x00\xff\r\n\r\n"],
  // Integers: Redis's strict parsing, and 64-bit overflow.
  [["SET", "i", "10"], "+OK\r\n"],
  [["INCR", "i"], ":11\r\n"],
  [["DECR", "i"], ":10\r\n"],
  [["INCRBY", "i", "5"], ":15\r\n"],
  [["INCRBY", "i", "x"], NOT_INT],
  [["INCRBY", "i", "-20"], ":-5\r\n"],
  [["INCR", "k"], NOT_INT],
  [["SET", "i", I64_MAX], "+OK\r\n"],
  [["INCR", "i"], "-ERR increment or decrement would overflow\r\n"],
  [["INCRBY", "i", "0"], `:${I64_MAX}\r\n`],
  [["SET", "i", "-9223372036854775807"], "+OK\r\n"],
  [["DECR", "i"], `:${I64_MIN}\r\n`],
  [["DECR", "i"], "-ERR increment or decrement would overflow\r\n"],
  [["INCRBY", "i", "-1"], "-ERR increment or decrement would overflow\r\n"],
  [["INCRBY", "nn", "9223372036854775808"], NOT_INT],
  [["SET", "i", "01"], "+OK\r\n"],
  [["INCR", "i"], NOT_INT],
  [["SET", "i", " 1"], "+OK\r\n"],
  [["INCR", "i"], NOT_INT],
  [["SET", "i", "+1"], "+OK\r\n"],
  [["INCR", "i"], NOT_INT],
  [["SET", "i", "-0"], "+OK\r\n"],
  [["INCR", "i"], NOT_INT],
  [["SET", "i", "1.5"], "+OK\r\n"],
  [["INCR", "i"], NOT_INT],
  [["INCR", "newint"], ":1\r\n"],
  [["DECR", "newint2"], ":-1\r\n"],
  [["INCRBY", "newint3", "-7"], ":-7\r\n"],
  [["APPEND", "ap", "hello"], ":5\r\n"],
  [["APPEND", "ap", " world"], ":11\r\n"],
  [["GET", "ap"], "$11\r\nhello world\r\n"],
  [["STRLEN", "ap"], ":11\r\n"],
  [["STRLEN", "nokey"], ":0\r\n"],
  [["APPEND", "ap"], args("append")],
  // Keys.
  [["EXISTS", "a", "b", "nokey", "a"], ":3\r\n"],
  [["EXISTS"], args("exists")],
  [["DEL", "a", "nokey", "b"], ":2\r\n"],
  [["DEL"], args("del")],
  [["TYPE", "k"], "+string\r\n"],
  [["TYPE", "nokey"], "+none\r\n"],
  [["TYPE"], args("type")],
  // Expiry.
  [["EXPIRE", "k", "100"], ":1\r\n"],
  [["TTL", "k"], ":100\r\n"],
  [["EXPIRE", "nokey", "100"], ":0\r\n"],
  [["EXPIRE", "k", "x"], NOT_INT],
  [["EXPIRE", "k"], args("expire")],
  [["PEXPIRE", "k", "5000"], ":1\r\n"],
  [["PTTL", "k"], /^:(4\d{3}|5000)\r\n$/],
  [["PERSIST", "k"], ":1\r\n"],
  [["PERSIST", "k"], ":0\r\n"],
  [["PERSIST", "nokey"], ":0\r\n"],
  [["TTL", "k"], ":-1\r\n"],
  [["EXPIRE", "k", "100", "NX"], ":1\r\n"],
  [["EXPIRE", "k", "50", "NX"], ":0\r\n"],
  [["EXPIRE", "k", "50", "GT"], ":0\r\n"],
  [["EXPIRE", "k", "500", "GT"], ":1\r\n"],
  [["EXPIRE", "k", "500", "LT"], ":0\r\n"],
  [["EXPIRE", "k", "5", "LT"], ":1\r\n"],
  [["EXPIRE", "k", "5", "XX"], ":1\r\n"],
  [["EXPIRE", "k", "5", "FOO"], "-ERR Unsupported option FOO\r\n"],
  // An argument an error quotes is written whole, however long, its line breaks spaces.
  [
    ["EXPIRE", "k", "5", `a\r\nb${"c".repeat(1024 * 1024)}`],
    `-ERR Unsupported option a  b${"c".repeat(1024 * 1024)}\r\n`,
  ],
  [
    ["CONFIG", "SET", `x${"y".repeat(1024 * 1024)}`, "1"],
    `-ERR Unknown option or number of arguments for CONFIG SET - 'x${"y".repeat(1024 * 1024)}'\r\n`,
  ],
  [
    ["EXPIRE", "k", "5", "NX", "XX"],
    "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
  ],
  [
    ["EXPIRE", "k", "5", "GT", "LT"],
    "-ERR GT and LT options at the same time are not compatible\r\n",
  ],
  [["EXPIRE", "k", I64_MAX], "-ERR invalid expire time in 'expire' command\r\n"],
  [["PEXPIRE", "k", I64_MAX], "-ERR invalid expire time in 'pexpire' command\r\n"],
  [["EXPIRE", "k", "-1"], ":1\r\n"],
  [["EXISTS", "k"], ":0\r\n"],
  [["SET", "k", "v"], "+OK\r\n"],
  [["PEXPIRE", "k", "0"], ":1\r\n"],
  [["GET", "k"], "$-1\r\n"],
  // KEYS and its glob patterns (one match each: Redis gives several in hash order).
  [["MSET", "hello", "1", "hallo", "2", "hxllo", "3", "a*b", "4", "x\\y", "5"], "+OK\r\n"],
  [
    ["KEYS", "h[^e]l?o"],
    /^\*2\r\n(\$5\r\nhallo\r\n\$5\r\nhxllo\r\n|\$5\r\nhxllo\r\n\$5\r\nhallo\r\n)$/,
  ],
  [["KEYS", "h[a-b]llo"], "*1\r\n$5\r\nhallo\r\n"],
  [["KEYS", "h[!e]llo"], "*1\r\n$5\r\nhello\r\n"],
  [["KEYS", "a\\*b"], "*1\r\n$3\r\na*b\r\n"],
  [["KEYS", "x\\\\y"], "*1\r\n$3\r\nx\\y\r\n"],
  [["KEYS", "[b-a]\\**"], "*1\r\n$3\r\na*b\r\n"],
  [["KEYS", "h*z*"], "*0\r\n"],
  [["KEYS", "h*x*"], "*1\r\n$5\r\nhxllo\r\n"],
  [["KEYS", "H*"], "*0\r\n"],
  [["KEYS"], args("keys")],
  [["FLUSHDB"], "+OK\r\n"],
  [["DBSIZE"], ":0\r\n"],
  [["FLUSHDB", "x"], "-ERR syntax error\r\n"],
  [["FLUSHALL", "SYNC"], "+OK\r\n"],
  // What redis-benchmark asks first.
  [["CONFIG", "GET", "save"], "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"],
  [["CONFIG", "GET", "appendonly"], "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"],
  [["config", "get", "SAVE"], "*2\r\n$4\r\nSAVE\r\n$0\r\n\r\n"],
  [["CONFIG", "GET", "nothing"], "*0\r\n"],
  [["CONFIG", "GET"], args("config|get")],
  [["CONFIG"], args("config")],
  [["CONFIG", "FOO"], "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n"],
  // Lists.
  [["LPUSH", "L", "a", "b", "c"], ":3\r\n"],
  [["TYPE", "L"], "+list\r\n"],
  [["GET", "L"], WRONGTYPE],
  [["INCR", "L"], WRONGTYPE],
  [["APPEND", "L", "x"], WRONGTYPE],
  [["STRLEN", "L"], WRONGTYPE],
  [["SET", "L", "x", "GET"], WRONGTYPE],
  [["MGET", "L"], "*1\r\n$-1\r\n"],
  [["SET", "L2", "x"], "+OK\r\n"],
  [["LPUSH", "L2", "x"], WRONGTYPE],
  [["LLEN", "L2"], WRONGTYPE],
  [["LRANGE", "L2", "0", "-1"], WRONGTYPE],
  [["LPOP", "L2"], WRONGTYPE],
  [["RPUSH", "L", "d", "e"], ":5\r\n"],
  [["LLEN", "L"], ":5\r\n"],
  [["LLEN", "nokey"], ":0\r\n"],
  [["LRANGE", "L", "0", "-1"], "*5\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\ne\r\n"],
  [["LRANGE", "L", "1", "2"], "*2\r\n$1\r\nb\r\n$1\r\na\r\n"],
  [["LRANGE", "L", "-2", "-1"], "*2\r\n$1\r\nd\r\n$1\r\ne\r\n"],
  [["LRANGE", "L", "-100", "100"], "*5\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\ne\r\n"],
  [["LRANGE", "L", "3", "1"], "*0\r\n"],
  [["LRANGE", "L", "x", "1"], NOT_INT],
  [["LRANGE", "nokey", "0", "-1"], "*0\r\n"],
  [["LRANGE", "L", "0"], args("lrange")],
  [["LPOP", "L"], "$1\r\nc\r\n"],
  [["RPOP", "L"], "$1\r\ne\r\n"],
  [["LPOP", "L", "2"], "*2\r\n$1\r\nb\r\n$1\r\na\r\n"],
  [["RPOP", "L", "5"], "*1\r\n$1\r\nd\r\n"],
  [["LPOP", "L"], "$-1\r\n"],
  [["LPOP", "L", "2"], "*-1\r\n"],
  [["EXISTS", "L"], ":0\r\n"],
  [["LPOP", "L", "-1"], "-ERR value is out of range, must be positive\r\n"],
  [["RPUSH", "L", "x"], ":1\r\n"],
  [["LPOP", "L", "0"], "*0\r\n"],
  [["LPOP", "L", "x"], "-ERR value is out of range, must be positive\r\n"],
  [["LPOP", "L", "1", "2"], args("lpop")],
  [["LPUSH", "L"], args("lpush")],
  // Blocking pops that need not block, and their argument errors.
  [["BLPOP", "k"], args("blpop")],
  [["BLPOP", "k", "x"], "-ERR timeout is not a float or out of range\r\n"],
  [["BLPOP", "k", "nan"], "-ERR timeout is not a float or out of range\r\n"],
  [["BLPOP", "k", " 1"], "-ERR timeout is not a float or out of range\r\n"],
  [["BLPOP", "k", "-1"], "-ERR timeout is negative\r\n"],
  [["BLPOP", "k", "inf"], "-ERR timeout is negative\r\n"],
  [["BLPOP", "k", "1e400"], "-ERR timeout is negative\r\n"],
  // Past a long double's range, as Redis's `strtold` says (ERANGE).
  [["BLPOP", "k", "1e5000"], "-ERR timeout is not a float or out of range\r\n"],
  [["BLPOP", "k", "1e-5000"], "-ERR timeout is not a float or out of range\r\n"],
  [["BLPOP", "k", "0x"], "-ERR timeout is not a float or out of range\r\n"],
  // The longest timeout Redis takes, in ms, is 2^63 - 1: one more is "negative".
  [["BLPOP", "k", "9223372036854775.808"], "-ERR timeout is negative\r\n"],
  [["BLPOP", "k", "-0.0015"], "-ERR timeout is negative\r\n"],
  // Any timeout above 0, however small (a double holds it as 0), is at least 1 ms.
  [["BLPOP", "k", "1e-400"], "*-1\r\n"],
  [["BLPOP", "k", "0x1p-1080"], "*-1\r\n"],
  [["BLPOP", "k", "0x0.0001p0"], "*-1\r\n"],
  [["BRPOP", "k", "+0X1P-3"], "*-1\r\n"],
  [["BRPOP", "k", ".0001"], "*-1\r\n"],
  [["BLPOP", "L2", "0"], WRONGTYPE],
  [["RPUSH", "bl", "a", "b"], ":2\r\n"],
  [["BLPOP", "nokey", "bl", "0"], "*2\r\n$2\r\nbl\r\n$1\r\na\r\n"],
  [["BRPOP", "nokey", "bl", "0"], "*2\r\n$2\r\nbl\r\n$1\r\nb\r\n"],
  [["BRPOP", "nokey", "bl", "0.01"], "*-1\r\n"],
  // Publish/subscribe, from a client that is not subscribed.
  [["PUBLISH", "ch", "msg"], ":0\r\n"],
  [["PUBLISH", "ch"], args("publish")],
  [["SUBSCRIBE"], args("subscribe")],
  [["PSUBSCRIBE"], args("psubscribe")],
  [["UNSUBSCRIBE"], "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"],
  [["PUNSUBSCRIBE", "x"], "*3\r\n$12\r\npunsubscribe\r\n$1\r\nx\r\n:0\r\n"],
];

Deno.test("kv.ts answers every command with Redis's bytes", async () => {
  await using server = await startServer();
  using client = await RespClient.open(server.port);
  for (const [command, expected] of SCRIPT) {
    const reply = await client.command(...command);
    const what = JSON.stringify(command);
    if (typeof expected === "string") assert.equal(reply, expected, what);
    else assert.match(reply, expected, what);
  }
  assert.equal(await client.command("QUIT"), "+OK\r\n");
  assert.ok(await client.closedByServer());
});

Deno.test("kv.ts answers 1,000 pipelined commands sent in one write, in order", async () => {
  await using server = await startServer();
  using client = await RespClient.open(server.port);
  assert.equal(await client.command("DEL", "counter"), await client.command("DEL", "counter"));
  let pipeline = "";
  let expected = "";
  for (let i = 1; i <= 1000; i++) {
    pipeline += i % 2 === 0 ? encode("INCR", "counter") : "INCR counter\r\n";
    expected += `:${i}\r\n`;
  }
  await client.send(pipeline);
  assert.equal(await client.replies(1000), expected);
  assert.equal(await client.command("GET", "counter"), "$4\r\n1000\r\n");
});

Deno.test("kv.ts takes inline commands as a person types them", async () => {
  await using server = await startServer();
  using client = await RespClient.open(server.port);
  await client.send("SET greeting hello\r\nGET greeting\nPING\r\n\r\n   \r\n");
  assert.equal(await client.replies(3), "+OK\r\n$5\r\nhello\r\n+PONG\r\n");
  await client.send(`SET  q  "a\\x41\\n b"  \r\nGET q\r\nECHO 'it\\'s'\r\n`);
  assert.equal(await client.replies(3), "+OK\r\n$5\r\naA\n b\r\n$4\r\nit's\r\n");
  await client.send("FOO a\rb c\r\n");
  assert.equal(
    await client.reply(),
    "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' 'c' \r\n",
  );
  // A request split in the middle of every part still parses.
  for (const piece of ["*2\r", "\n$3\r\nGE", "T\r\n$", "1\r\nq", "\r", "\n"]) {
    await client.send(piece);
  }
  assert.equal(await client.reply(), "$5\r\naA\n b\r\n");
});

/** Malformed requests and Redis's reply to each; every one closes its connection. */
const MALFORMED: [string, string][] = [
  ["*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*+1\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*01\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*-0\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*1 \r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*1\n$4\nping\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*3000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*9223372036854775807\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*-9223372036854775809\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*-99999999999999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["*1\r\nx\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"],
  ["*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n"],
  ["*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
  ["*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
  ["*1\r\n$04\r\nping\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
  ["*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
  ["PING\r\n*1\r\n$x\r\n", "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"],
  ['SET a "unbalanced\r\n', "-ERR Protocol error: unbalanced quotes in request\r\n"],
  ['PING "a"b\r\n', "-ERR Protocol error: unbalanced quotes in request\r\n"],
  ["x".repeat(70_000), "-ERR Protocol error: too big inline request\r\n"],
  ["*" + "1".repeat(70_000), "-ERR Protocol error: too big mbulk count string\r\n"],
  ["*1\r\n$" + "1".repeat(70_000), "-ERR Protocol error: too big bulk count string\r\n"],
  // An unterminated array: what came is answered when the malformed part arrives.
  ["*3\r\n$3\r\nSET\r\n$1\r\nk\r\n*1\r\n", "-ERR Protocol error: expected '$', got '*'\r\n"],
];

Deno.test("kv.ts answers a malformed request with Redis's protocol error and closes only that connection", async () => {
  await using server = await startServer();
  using bystander = await RespClient.open(server.port);
  assert.equal(await bystander.command("SET", "safe", "yes"), "+OK\r\n");
  for (const [request, expected] of MALFORMED) {
    using client = await RespClient.open(server.port);
    await client.send(request);
    assert.equal(await client.rest(), expected, JSON.stringify(request.slice(0, 40)));
    assert.equal(await bystander.command("GET", "safe"), "$3\r\nyes\r\n");
  }
  // Like Redis, the two bytes after a bulk string's data are skipped unchecked.
  using lenient = await RespClient.open(server.port);
  await lenient.send("*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n");
  assert.equal(await lenient.replies(2), "+PONG\r\n+PONG\r\n");
});

Deno.test({
  name:
    "kv.ts refuses a bulk string longer than V8's longest string, after answering what came before it",
  ...KV_ONLY,
  async fn() {
    await using server = await startServer();
    using client = await RespClient.open(server.port);
    assert.equal(
      await client.command("CONFIG", "GET", "proto-max-bulk-len"),
      "*2\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870888\r\n",
    );
    // Redis takes up to 536870912 bytes; a JavaScript string stops 24 bytes short of that.
    await client.send(encode("SET", "k", "v") + "PING\r\n*1\r\n$536870889\r\n");
    assert.equal(
      await client.rest(),
      "+OK\r\n+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
    );
  },
});

Deno.test("kv.ts skips an array whose count is negative, down to the least 64-bit integer", async () => {
  await using server = await startServer();
  using client = await RespClient.open(server.port);
  await client.send("*-1\r\n*-1000000000000000\r\n*-9223372036854775808\r\nPING\r\n");
  assert.equal(await client.reply(), "+PONG\r\n");
});

Deno.test("kv.ts reserves no memory for lengths a client merely claims", async () => {
  await using server = await startServer();
  // 64 clients claiming the longest bulk string each (32 GB) and one claiming a million
  // arguments.
  const liars: RespClient[] = [];
  try {
    for (let i = 0; i < 64; i++) {
      const liar = await RespClient.open(server.port);
      liars.push(liar);
      await liar.send("*1\r\n$536870888\r\nabc");
    }
    const many = await RespClient.open(server.port);
    liars.push(many);
    await many.send("*1048576\r\n$4\r\nPING\r\n");
    using honest = await RespClient.open(server.port);
    assert.equal(await honest.command("PING"), "+PONG\r\n");
    assert.equal(
      await honest.command("ECHO", "x".repeat(100_000)),
      `$100000\r\n${"x".repeat(100_000)}\r\n`,
    );
  } finally {
    for (const liar of liars) liar.close();
  }
});

/** Waits until the server counts `n` blocked clients (a bounded poll of INFO). */
async function blockedClients(client: RespClient, n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const info = await client.command("INFO", "clients");
    if (info.includes(`\r\nblocked_clients:${n}\r\n`)) return;
    await new Promise((wake) => setTimeout(wake, 10));
  }
  throw new Error(`The server never had ${n} blocked clients`);
}

Deno.test("kv.ts BLPOP: woken by another client's push, first come first served, or timing out", async (t) => {
  await using server = await startServer();
  using control = await RespClient.open(server.port);
  await control.command("DEL", "jobs", "other");

  await t.step("a push wakes the blocked client", async () => {
    using waiter = await RespClient.open(server.port);
    await waiter.send(encode("BLPOP", "other", "jobs", "0"));
    await blockedClients(control, 1);
    assert.equal(await control.command("RPUSH", "jobs", "first"), ":1\r\n");
    assert.equal(await waiter.reply(), "*2\r\n$4\r\njobs\r\n$5\r\nfirst\r\n");
    assert.equal(await control.command("LLEN", "jobs"), ":0\r\n");
  });

  await t.step("blocked clients are served in the order they came", async () => {
    const record: string[] = [];
    const waiters = [];
    for (const name of ["A", "B", "C"]) {
      const waiter = await RespClient.open(server.port);
      waiters.push({ name, waiter });
      await waiter.send(encode(name === "B" ? "BRPOP" : "BLPOP", "jobs", "0"));
      await blockedClients(control, waiters.length);
    }
    // One push of three values: the push's reply counts them all, then A, B, C are served.
    assert.equal(await control.command("RPUSH", "jobs", "x", "y", "z"), ":3\r\n");
    for (const { name, waiter } of waiters) {
      record.push(`${name} ${JSON.stringify(await waiter.reply())}`);
      waiter.close();
    }
    assert.deepEqual(record, [
      'A "*2\\r\\n$4\\r\\njobs\\r\\n$1\\r\\nx\\r\\n"',
      'B "*2\\r\\n$4\\r\\njobs\\r\\n$1\\r\\nz\\r\\n"',
      'C "*2\\r\\n$4\\r\\njobs\\r\\n$1\\r\\ny\\r\\n"',
    ]);
  });

  await t.step(
    "a blocked client times out with a null array, then serves its pipeline",
    async () => {
      using waiter = await RespClient.open(server.port);
      await waiter.send(encode("BLPOP", "jobs", "0.05") + encode("PING"));
      assert.equal(await waiter.replies(2), "*-1\r\n+PONG\r\n");
    },
  );

  await t.step("a client that hangs up while blocked loses nothing", async () => {
    // It pipelines a push after its BLPOP: once it hangs up, that must not run either.
    const gone = await RespClient.open(server.port);
    await gone.send(encode("BLPOP", "jobs", "0") + encode("RPUSH", "jobs", "ghost"));
    using next = await RespClient.open(server.port);
    await next.send(encode("BLPOP", "jobs", "0"));
    await blockedClients(control, 2);
    gone.close();
    await blockedClients(control, 1);
    assert.equal(await control.command("LPUSH", "jobs", "precious"), ":1\r\n");
    assert.equal(await next.reply(), "*2\r\n$4\r\njobs\r\n$8\r\nprecious\r\n");
    assert.equal(await control.command("LLEN", "jobs"), ":0\r\n");
  });
});

Deno.test("kv.ts publish/subscribe: messages, patterns, and the subscribed mode", async () => {
  await using server = await startServer();
  using subscriber = await RespClient.open(server.port);
  using publisher = await RespClient.open(server.port);
  await subscriber.send(encode("SUBSCRIBE", "news", "sport", "news"));
  assert.equal(
    await subscriber.replies(3),
    "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n" +
      "*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n" +
      "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:2\r\n",
  );
  assert.equal(
    await subscriber.command("PSUBSCRIBE", "n*"),
    "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n",
  );
  assert.equal(await subscriber.command("PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
  assert.equal(await subscriber.command("PING", "x"), "*2\r\n$4\r\npong\r\n$1\r\nx\r\n");
  assert.equal(
    await subscriber.command("GET", "k"),
    "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET" +
      " are allowed in this context\r\n",
  );
  assert.equal(await publisher.command("PUBLISH", "news", "hi"), ":2\r\n");
  assert.equal(await publisher.command("PUBLISH", "sport", "goal"), ":1\r\n");
  assert.equal(await publisher.command("PUBLISH", "nothing", "x"), ":1\r\n");
  assert.equal(await publisher.command("PUBLISH", "weather", "x"), ":0\r\n");
  assert.equal(
    await subscriber.replies(4),
    "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n" +
      "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n" +
      "*3\r\n$7\r\nmessage\r\n$5\r\nsport\r\n$4\r\ngoal\r\n" +
      "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$7\r\nnothing\r\n$1\r\nx\r\n",
  );
  // (With several channels left, Redis unsubscribes them in hash order: one at a time here.)
  await subscriber.send(
    encode("UNSUBSCRIBE", "news") + encode("UNSUBSCRIBE") + encode("PUNSUBSCRIBE") + encode("PING"),
  );
  assert.equal(
    await subscriber.replies(4),
    "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n" +
      "*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:1\r\n" +
      "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n" +
      "+PONG\r\n",
  );
  assert.equal(await publisher.command("PUBLISH", "news", "hi"), ":0\r\n");
  assert.equal(await subscriber.command("SET", "k", "v"), "+OK\r\n");
});

Deno.test({
  name: "kv.ts drops a subscriber that never reads, and nobody else waits for it",
  ...KV_ONLY,
  async fn() {
    await using server = await startServer(["--pubsub-limit", "16"]);
    using sleeper = await RespClient.open(server.port);
    using reader = await RespClient.open(server.port);
    using publisher = await RespClient.open(server.port);
    assert.equal(
      await sleeper.command("SUBSCRIBE", "feed"),
      "*3\r\n$9\r\nsubscribe\r\n$4\r\nfeed\r\n:1\r\n",
    );
    assert.equal(
      await reader.command("SUBSCRIBE", "feed"),
      "*3\r\n$9\r\nsubscribe\r\n$4\r\nfeed\r\n:1\r\n",
    );
    const message = "m".repeat(64 * 1024);
    const delivered: string[] = [];
    let receivers = "";
    // 400 messages of 64 KiB (25 MiB): far more than the sleeper's socket buffers hold.
    for (let i = 0; i < 400; i++) {
      receivers += (await publisher.command("PUBLISH", "feed", message)).trim();
      const got = await reader.reply();
      assert.equal(got, `*3\r\n$7\r\nmessage\r\n$4\r\nfeed\r\n$65536\r\n${message}\r\n`);
      delivered.push(String(i));
    }
    assert.equal(delivered.length, 400);
    // Every publish answered; the count falls from 2 to 1 once the sleeper was dropped.
    assert.match(receivers, /^(:2)+(:1)+$/);
    // The sleeper gets what its socket buffers held, then the end of the stream.
    const rest = await sleeper.rest(32 * 1024 * 1024);
    assert.ok(rest.length < 400 * message.length);
    assert.ok(await sleeper.closedByServer());
    assert.equal(await publisher.command("PUBLISH", "feed", "x"), ":1\r\n");
  },
});

Deno.test({
  name: "kv.ts drops a subscriber that never reads once it is --pubsub-buffer-limit bytes behind",
  ...KV_ONLY,
  async fn() {
    // 10,000 messages of 64 KiB would be 640 MB: the bytes limit comes first.
    await using server = await startServer(["--pubsub-buffer-limit", String(1024 * 1024)]);
    using sleeper = await RespClient.open(server.port);
    using publisher = await RespClient.open(server.port);
    assert.equal(
      await sleeper.command("SUBSCRIBE", "feed"),
      "*3\r\n$9\r\nsubscribe\r\n$4\r\nfeed\r\n:1\r\n",
    );
    const message = "m".repeat(64 * 1024);
    let receivers = "";
    // 200 messages (12.5 MiB): more than the socket buffers and 1 MiB together hold.
    for (let i = 0; i < 200; i++) {
      receivers += (await publisher.command("PUBLISH", "feed", message)).trim();
    }
    assert.match(receivers, /^(:1)+(:0)+$/);
    const rest = await sleeper.rest(32 * 1024 * 1024);
    assert.ok(rest.length < 200 * message.length);
    assert.ok(await sleeper.closedByServer());
  },
});

Deno.test({
  name: "kv.ts refuses writes with Redis's OOM error past --maxmemory, and serves reads",
  ...KV_ONLY,
  async fn() {
    await using server = await startServer(["--maxmemory", "1"]);
    using client = await RespClient.open(server.port);
    const oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    // The first key fits the empty data set; then it is past a byte.
    assert.equal(await client.command("SET", "k", "v"), "+OK\r\n");
    assert.equal(await client.command("SET", "k2", "v"), oom);
    assert.equal(await client.command("RPUSH", "l", "v"), oom);
    assert.equal(await client.command("GET", "k"), "$1\r\nv\r\n");
    assert.equal(await client.command("DEL", "k"), ":1\r\n");
    assert.equal(await client.command("SET", "k", "w"), "+OK\r\n");
  },
});

Deno.test({
  name:
    "kv.ts takes --maxmemory as CONFIG SET does, in bytes or with a unit, and refuses a bad one",
  ...KV_ONLY,
  async fn() {
    {
      await using server = await startServer(["--maxmemory", "2kb"]);
      using client = await RespClient.open(server.port);
      assert.equal(
        await client.command("CONFIG", "GET", "maxmemory"),
        "*2\r\n$9\r\nmaxmemory\r\n$4\r\n2048\r\n",
      );
    }
    const { code, stdout, stderr } = await runExample("kv.ts", ["--allow-net"], [
      "--port",
      "0",
      "--maxmemory",
      "2xb",
    ]);
    assert.equal(code, 2);
    assert.equal(stdout, "");
    assert.match(
      stderr,
      /^error: --maxmemory must be bytes, or a number with a unit \(100mb\), got "2xb"\n/,
    );
  },
});

Deno.test({
  name: "kv.ts closes clients idle for longer than --idle-timeout, but not blocked ones",
  ...KV_ONLY,
  async fn() {
    await using server = await startServer(["--idle-timeout", "0.2"]);
    using idle = await RespClient.open(server.port);
    using blocked = await RespClient.open(server.port);
    assert.equal(await idle.command("PING"), "+PONG\r\n");
    await blocked.send(encode("BLPOP", "never", "0.6"));
    assert.ok(await idle.closedByServer()); // waits for the server to close it
    assert.equal(await blocked.reply(), "*-1\r\n");
  },
});

Deno.test({
  name: "kv.ts closes a client that never sends anything once --idle-timeout passes",
  ...KV_ONLY,
  async fn() {
    await using server = await startServer(["--idle-timeout", "0.5"]);
    using silent = await RespClient.open(server.port);
    const start = Date.now();
    assert.ok(await silent.closedWithin(5000), "still open after 5 s");
    assert.ok(Date.now() - start >= 400, `closed after ${Date.now() - start} ms`);
  },
});

Deno.test({
  name: "kv.ts keeps a client past --idle-timeout while its reply is still flowing",
  ...KV_ONLY,
  async fn() {
    await using server = await startServer(["--idle-timeout", "2"]);
    using client = await RespClient.open(server.port);
    const value = "x".repeat(24 * 1024 * 1024);
    assert.equal(await client.command("SET", "big", value), "+OK\r\n");
    await client.send(encode("GET", "big"));
    // At most 64 KiB per 5 ms: the reply takes about 2.5 s to read, more than the socket
    // buffers hold, so the server's writes go on past the limit, each well within it.
    // (Once they are done, the client may be closed as idle while it reads the rest.) A
    // server that counted only reads as activity cuts the reply after 2 s; the limit is 2
    // s, not less, so that a test process stalled by a loaded machine is not idle.
    assert.equal(await client.reply(5), `$${value.length}\r\n${value}\r\n`);
  },
});

Deno.test("kv.ts sweeps expired keys after the client that set them has gone", async () => {
  await using server = await startServer();
  const setter = await RespClient.open(server.port);
  let pipeline = encode("FLUSHALL");
  for (let i = 0; i < 100; i++) pipeline += encode("SET", `key${i}`, "v", "PX", "100");
  await setter.send(pipeline);
  assert.equal(await setter.replies(101), "+OK\r\n".repeat(101));
  setter.close();
  // DBSIZE counts keys held, expired or not: only the sweep lowers it. Each probe is its
  // own short connection, so nothing a probe's command starts can do the sweeping.
  let size = "";
  for (let i = 0; i < 30 && size !== ":0\r\n"; i++) {
    await new Promise((wake) => setTimeout(wake, 100));
    using probe = await RespClient.open(server.port);
    size = await probe.command("DBSIZE");
  }
  assert.equal(size, ":0\r\n");
});

Deno.test({
  name: "kv.ts shuts down on SIGTERM with clients blocked and subscribed",
  ...KV_ONLY,
  async fn() {
    const process = new ExampleProcess("kv.ts", ["--allow-net=127.0.0.1"], ["--port", "0"]);
    const { port } = await process.listening();
    using blocked = await RespClient.open(port);
    using subscriber = await RespClient.open(port);
    using control = await RespClient.open(port);
    await blocked.send(encode("BLPOP", "q", "0"));
    assert.equal(
      await subscriber.command("SUBSCRIBE", "c"),
      "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    );
    await blockedClients(control, 1);
    const { code, stdout, stderr } = await process.stop();
    assert.equal(code, 0);
    assert.equal(stderr, "");
    assert.match(stdout, /Exiting\.$/);
    assert.ok(await blocked.closedByServer());
    assert.ok(await subscriber.closedByServer());
  },
});

async function hasRedisCli(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("redis-cli", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success;
  } catch {
    return false;
  }
}

const REDIS_CLI = await hasRedisCli();
if (!REDIS_CLI) console.log("redis-cli is not installed: the redis-cli test is skipped");

Deno.test({
  name: "kv.ts works with redis-cli, unmodified",
  ignore: !REDIS_CLI,
  async fn() {
    await using server = await startServer();
    const cli = async (...args: string[]) => {
      const { stdout, stderr } = await new Deno.Command("redis-cli", {
        args: ["-p", String(server.port), ...args],
        stdin: "null",
      }).output();
      return new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    };
    assert.equal(await cli("FLUSHALL"), "OK\n");
    assert.equal(await cli("PING"), "PONG\n");
    assert.equal(await cli("SET", "greeting", "hello world", "EX", "100"), "OK\n");
    assert.equal(await cli("GET", "greeting"), "hello world\n");
    assert.equal(await cli("TTL", "greeting"), "100\n");
    assert.equal(await cli("INCR", "greeting"), "ERR value is not an integer or out of range\n\n");
    assert.equal(await cli("RPUSH", "list", "a", "b", "c"), "3\n");
    assert.equal(await cli("LRANGE", "list", "0", "-1"), "a\nb\nc\n");
    assert.equal(await cli("BLPOP", "list", "0"), "list\na\n");
    assert.equal(await cli("BLPOP", "empty", "0.01"), "\n");
    assert.equal(await cli("KEYS", "g*"), "greeting\n");
    assert.equal(await cli("DBSIZE"), "2\n");
    assert.equal(await cli("CONFIG", "GET", "save"), "save\n\n");
    assert.equal(await cli("FOO"), "ERR unknown command 'FOO', with args beginning with: \n\n");
    // redis-cli's pipe mode sends a stream of requests and counts the replies.
    const { stdout } = await new Deno.Command("bash", {
      args: [
        "-c",
        `printf 'SET a 1\\r\\nINCR a\\r\\nGET a\\r\\n' | redis-cli -p ${server.port} --pipe`,
      ],
    }).output();
    assert.match(new TextDecoder().decode(stdout), /errors: 0, replies: 3/);
    assert.equal(await cli("GET", "a"), "2\n");
  },
});

Deno.test({
  name: "kv.ts gives no value to a blocked client that hung up just before the push",
  ...KV_ONLY,
  async fn() {
    // The client's end of the stream and the push reach the server together: the push is
    // read first, and serves the blocked client, whose hang-up the server has not read yet.
    await using server = await startServer();
    using control = await RespClient.open(server.port);
    let lost = 0;
    for (let round = 0; round < 30; round++) {
      const key = `queue${round}`;
      const blocked = await RespClient.open(server.port);
      await blocked.send(encode("BLPOP", key, "0"));
      assert.equal(await control.command("PING"), "+PONG\r\n"); // the BLPOP waits by now
      blocked.close();
      assert.equal(await control.command("RPUSH", key, "v"), ":1\r\n");
      if (await control.command("LLEN", key) !== ":1\r\n") lost++;
    }
    assert.equal(lost, 0, `${lost} of 30 values went to a client that had hung up`);
  },
});

Deno.test({
  name: "kv.ts on a small heap refuses writes with the OOM error before the heap runs out",
  ...KV_ONLY,
  async fn() {
    // V8's heap limit counts its young generation too, most of a 256 MiB heap's room.
    const process = new ExampleProcess("kv.ts", [
      "--allow-net=127.0.0.1",
      "--v8-flags=--max-old-space-size=256",
    ], ["--port", "0"]);
    const { port } = await process.listening();
    try {
      using client = await RespClient.open(port);
      const value = "v".repeat(1024 * 1024);
      let reply = "";
      let taken = 0;
      for (
        ;
        taken < 400 && (reply = await client.command("SET", `k${taken}`, value)) === "+OK\r\n";
      ) {
        taken++;
      }
      assert.equal(reply, "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
      assert.ok(taken > 100, `${taken}`);
      assert.equal(await client.command("PING"), "+PONG\r\n");
    } finally {
      const { code, stderr } = await process.stop();
      assert.equal(code, 0, stderr);
    }
  },
});
