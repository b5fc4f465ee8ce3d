import assert from "node:assert/strict";
import { ExampleProcess, withDeadline } from "./_process.ts";

/** Writes all of `data`, then reads until as many bytes came back (bounded by size). */
async function roundTrip(
  conn: Deno.Conn,
  data: Uint8Array,
): Promise<Uint8Array> {
  for (let written = 0; written < data.length;) {
    written += await conn.write(data.subarray(written));
  }
  const back = new Uint8Array(data.length);
  let received = 0;
  const buffer = new Uint8Array(4096);
  while (received < data.length) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`Echo closed after ${received} bytes`);
    back.set(buffer.subarray(0, n), received);
    received += n;
  }
  return back;
}

Deno.test("echo.ts sends every byte back unchanged, to several clients at once, and logs them", async () => {
  await using server = new ExampleProcess(
    "echo.ts",
    ["--allow-net=127.0.0.1"],
    [
      "--port",
      "0",
    ],
  );
  const { hostname, port } = await server.listening();
  assert.equal(hostname, "127.0.0.1");

  const a = await Deno.connect({ hostname, port });
  const b = await Deno.connect({ hostname, port });
  const peerA = `127.0.0.1:${a.localAddr.port}`;
  const peerB = `127.0.0.1:${b.localAddr.port}`;
  try {
    const hello = new TextEncoder().encode("hello\n");
    const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
    const big = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7) % 251);
    assert.deepEqual(await roundTrip(a, hello), hello);
    assert.deepEqual(await roundTrip(b, binary), binary);
    assert.deepEqual(await roundTrip(a, big), big);
    assert.deepEqual(await roundTrip(b, hello), hello);
  } finally {
    a.close();
    b.close();
  }
  for (const peer of [peerA, peerB]) {
    await server.waitForLine(new RegExp(`^Disconnected: ${peer}$`));
  }
  const { code, stdout } = await server.stop();
  assert.equal(code, 0);
  const lines = stdout.split("\n");
  for (const peer of [peerA, peerB]) {
    const mine = lines.filter((line) => line.includes(peer));
    assert.equal(mine[0], `Connected: ${peer}`);
    assert.ok(mine.includes(`Read from ${peer}: "hello\\n"`), stdout);
    assert.equal(mine.at(-1), `Disconnected: ${peer}`);
  }
  assert.ok(
    lines.some((l) => l.startsWith(`Read from ${peerA}: "`) && l.endsWith("... (1024 bytes)")),
  );
  assert.equal(lines.at(-1), "Exiting.");
});

Deno.test("echo.ts closes its clients' connections when stopped", async () => {
  const server = new ExampleProcess("echo.ts", ["--allow-net=127.0.0.1"], [
    "--port",
    "0",
  ]);
  try {
    const { hostname, port } = await server.listening();
    const conn = await Deno.connect({ hostname, port });
    try {
      assert.deepEqual(
        await roundTrip(conn, new Uint8Array([1, 2, 3])),
        new Uint8Array([1, 2, 3]),
      );
      await server.waitForLine(/^Read from /);
      const { code, stdout } = await server.stop();
      assert.equal(code, 0);
      assert.match(stdout, /Disconnected: 127\.0\.0\.1:\d+\nExiting\.$/);
      assert.equal(await conn.read(new Uint8Array(8)), null);
    } finally {
      conn.close();
    }
  } finally {
    await server.stop();
  }
});

Deno.test("echo.ts on SIGTERM still serves connected clients, and exits once they leave", async () => {
  await using server = new ExampleProcess("echo.ts", ["--allow-net=127.0.0.1"], ["--port", "0"]);
  const { hostname, port } = await server.listening();
  const conn = await Deno.connect({ hostname, port });
  let stopping;
  try {
    assert.deepEqual(await roundTrip(conn, new Uint8Array([1, 2])), new Uint8Array([1, 2]));
    stopping = server.stop(); // sends SIGTERM at once, then waits for the exit
    // The grace period: the connected client is still echoed.
    assert.deepEqual(await roundTrip(conn, new Uint8Array([3, 4])), new Uint8Array([3, 4]));
  } finally {
    conn.close();
  }
  const { code, stdout } = await stopping;
  assert.equal(code, 0);
  assert.match(stdout, /Read from 127\.0\.0\.1:\d+: "\\u0003\\u0004"\nDisconnected: /);
  assert.match(stdout, /Disconnected: 127\.0\.0\.1:\d+\nExiting\.$/);
});

Deno.test("echo.ts lets an idle client go after --idle-timeout, and keeps a busy one", async () => {
  await using server = new ExampleProcess("echo.ts", ["--allow-net=127.0.0.1"], [
    "--port",
    "0",
    "--idle-timeout",
    "300",
  ]);
  const { hostname, port } = await server.listening();
  const idle = await Deno.connect({ hostname, port });
  const busy = await Deno.connect({ hostname, port });
  try {
    // The busy client sends every 100 ms, for 1.2 s: four idle periods.
    for (let i = 0; i < 12; i++) {
      assert.deepEqual(await roundTrip(busy, new Uint8Array([i])), new Uint8Array([i]));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The idle one was closed meanwhile: it reads the end of the stream.
    assert.equal(await withDeadline(idle.read(new Uint8Array(1)), "the idle client's end"), null);
    assert.deepEqual(await roundTrip(busy, new Uint8Array([99])), new Uint8Array([99]));
  } finally {
    idle.close();
    busy.close();
  }
});

Deno.test("echo.ts logs what a client sends with every control and format character escaped", async () => {
  await using server = new ExampleProcess("echo.ts", ["--allow-net=127.0.0.1"], ["--port", "0"]);
  const { hostname, port } = await server.listening();
  const conn = await Deno.connect({ hostname, port });
  try {
    // A right-to-left override, a C1 control sequence introducer, a line separator.
    const sent = new TextEncoder().encode("a\u202eb\u009b2Jc\u2028d\u007f\n");
    assert.deepEqual(await roundTrip(conn, sent), sent);
  } finally {
    conn.close();
  }
  const [line] = await server.waitForLine(/^Read from .*$/);
  assert.ok(line.endsWith(': "a\\u202eb\\u009b2Jc\\u2028d\\u007f\\n"'), line);
  assert.ok(!/[\u007f-\u009f\p{Cf}\u2028\u2029]/u.test(line), line);
});
