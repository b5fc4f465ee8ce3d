// examples/kv.ts as a subprocess, driven by a RESP client written for the tests. The
// expected replies are the bytes Redis 7.0 sends: run this file with KV_TEST_REDIS_PORT=N
// (a `redis-server --port N --save "" --appendonly no`) and the same expectations are
// checked against Redis itself. Nothing here needs Redis otherwise.
import assert from "node:assert/strict";
import { ExampleProcess } from "./_process.ts";
import { bytesOf, encode, RespClient } from "./_resp_client.ts";

const REDIS_PORT = Deno.env.get("KV_TEST_REDIS_PORT");

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
