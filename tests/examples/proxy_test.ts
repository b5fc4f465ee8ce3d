// The proxy example, run as a user runs it, with plain Deno sockets on both sides: the
// client connects to the proxy, the upstream is a `Deno.listen` server in this process.
import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import net from "node:net";
import { ExampleProcess, runExample, withDeadline } from "./_process.ts";

const PERMISSIONS = ["--allow-net=127.0.0.1"];

/** `n` bytes of a repeating pattern, so that a lost or repeated byte shows. */
function pattern(n: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return bytes;
}

async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  for (;;) {
    const buffer = new Uint8Array(64 * 1024);
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.subarray(0, n));
  }
  return await new Blob(chunks).bytes();
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let sent = 0; sent < bytes.length;) sent += await conn.write(bytes.subarray(sent));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const all = new Uint8Array(a.length + b.length);
  all.set(a), all.set(b, a.length);
  return all;
}

Deno.test("proxy example carries megabytes both ways intact and passes half-closes on", async () => {
  const up = pattern(4 * 1024 * 1024 + 3, 1);
  const down = pattern(3 * 1024 * 1024 + 7, 2);
  const record: string[] = [];
  // The upstream sends its payload while it reads the client's; once it sees the end of
  // the client's stream (the half-close, passed on), it answers with what it got.
  using upstream = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    using conn = await upstream.accept();
    const [received] = await Promise.all([
      readToEnd(conn),
      writeAll(conn, down),
    ]);
    record.push("upstream saw the end of the client's stream");
    deepEqual(received, up);
    await writeAll(conn, new TextEncoder().encode(`got ${received.length}`));
    await conn.closeWrite();
  })();

  await using proxy = new ExampleProcess("proxy.ts", PERMISSIONS, [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${upstream.addr.port}`,
  ]);
  const { port } = await proxy.listening();
  using client = await Deno.connect({ hostname: "127.0.0.1", port });
  const [received] = await Promise.all([
    readToEnd(client),
    (async () => {
      await writeAll(client, up);
      await client.closeWrite();
      record.push("client half-closed");
    })(),
  ]);
  await serving;
  record.push("client saw the end of the stream");
  deepEqual(received, concat(down, new TextEncoder().encode(`got ${up.length}`)));
  deepEqual(record, [
    "client half-closed",
    "upstream saw the end of the client's stream",
    "client saw the end of the stream",
  ]);
  await proxy.waitForLine(new RegExp(`^${up.length} bytes up, ${received.length} bytes down$`));
  equal((await proxy.stop()).code, 0);
});

Deno.test("proxy example closes the client's connection when the upstream refuses", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const refusing = closed.addr.port;
  closed.close(); // nothing listens there now
  await using proxy = new ExampleProcess("proxy.ts", PERMISSIONS, [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${refusing}`,
  ]);
  const { port } = await proxy.listening();
  using client = await Deno.connect({ hostname: "127.0.0.1", port });
  equal((await readToEnd(client)).length, 0);
  const [line] = await proxy.waitForLine(/^Cannot connect to .*$/);
  equal(line, `Cannot connect to 127.0.0.1:${refusing}: connection refused`);
  const { code, stderr } = await proxy.stop();
  equal(code, 0);
  match(stderr, /^$/);
});

Deno.test("proxy example refuses an --upstream that is not HOST:PORT", async () => {
  for (
    const upstream of ["127.0.0.1", "127.0.0.1:", ":4915", "127.0.0.1:http", "127.0.0.1:70000"]
  ) {
    const { code, stdout, stderr } = await runExample("proxy.ts", PERMISSIONS, [
      "--port",
      "0",
      "--upstream",
      upstream,
    ], 20_000);
    notEqual(code, 0, upstream);
    equal(stdout, "", upstream);
    match(stderr, /Cannot start the proxy: --upstream must be HOST:PORT/, upstream);
  }
});

Deno.test("proxy example without permission to reach the upstream says so in one line before it listens", async () => {
  // Found at the first client, it was a stack trace per client instead.
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (free.addr as Deno.NetAddr).port;
  free.close();
  const { code, stdout, stderr } = await runExample("proxy.ts", [`--allow-net=127.0.0.1:${port}`], [
    "--port",
    `${port}`,
    "--upstream",
    `127.0.0.1:${port === 65535 ? port - 1 : port + 1}`,
  ], 20_000);
  equal(code, 1);
  equal(stdout, "");
  match(
    stderr,
    /^error: Cannot start the proxy: no permission to connect to 127\.0\.0\.1:\d+ \(run it with --allow-net\)\n$/,
  );
});

/**
 * A node:net server (node:net can reset a connection, Deno.Conn cannot) that sends `payload`
 * to its one client and resets the connection when told to.
 */
async function resettingUpstream(
  payload: Uint8Array,
): Promise<{ port: number; reset: () => Promise<void> }> {
  const accepted = Promise.withResolvers<net.Socket>();
  const server = net.createServer((socket) => {
    socket.write(payload);
    accepted.resolve(socket);
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const reset = async () => {
    (await accepted.promise).resetAndDestroy();
    await new Promise((closed) => server.close(closed));
  };
  return { port: (server.address() as net.AddressInfo).port, reset };
}

Deno.test("proxy example logs an upstream that resets; the client sees the stream end", async () => {
  const upstream = await resettingUpstream(pattern(1024 * 1024, 3));
  await using proxy = new ExampleProcess("proxy.ts", PERMISSIONS, [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${upstream.port}`,
  ]);
  const { port } = await proxy.listening();
  using client = await Deno.connect({ hostname: "127.0.0.1", port });
  const first = await client.read(new Uint8Array(1024)); // the relay is under way
  ok(first !== null && first > 0);
  await upstream.reset();
  // Deno cannot reset a connection it accepted (no SO_LINGER), so the cut reaches the
  // client as a plain end of stream; the proxy's log is where it shows.
  await readToEnd(client);
  const [line] = await proxy.waitForLine(/^.*reset.*$/);
  equal(line, `Cannot recv from 127.0.0.1:${upstream.port}: connection reset by peer`);
  const { code, stderr } = await proxy.stop();
  equal(code, 0);
  equal(stderr, "");
});

Deno.test("proxy example lets an idle client go after --idle-timeout; bytes either way count", async () => {
  using upstream = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using proxy = new ExampleProcess("proxy.ts", PERMISSIONS, [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${upstream.addr.port}`,
    "--idle-timeout",
    "300",
  ]);
  const { port } = await proxy.listening();
  // The first client only reads: its upstream sends a byte every 100 ms, for 1.2 s.
  const reader = await Deno.connect({ hostname: "127.0.0.1", port });
  using readerUp = await upstream.accept();
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  using idleUp = await upstream.accept();
  try {
    const got = new Uint8Array(1);
    for (let i = 0; i < 12; i++) {
      await writeAll(readerUp, new Uint8Array([i]));
      equal(await reader.read(got), 1);
      equal(got[0], i);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The idle pair was let go meanwhile, on both sides.
    equal(await withDeadline(idle.read(got), "the idle client's end"), null);
    equal(await withDeadline(idleUp.read(got), "the idle upstream's end"), null);
    await writeAll(readerUp, new Uint8Array([42]));
    equal(await reader.read(got), 1);
    equal(got[0], 42);
  } finally {
    reader.close();
    idle.close();
  }
  const { code, stderr } = await proxy.stop();
  equal(code, 0);
  match(stderr, /^$/);
});

Deno.test("proxy example takes --max-connections: past it, a client waits until one leaves", async () => {
  // Each pair holds two descriptors: an operator keeps this under half of `ulimit -n`.
  using upstream = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using proxy = new ExampleProcess("proxy.ts", PERMISSIONS, [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${upstream.addr.port}`,
    "--max-connections",
    "1",
  ]);
  const { port } = await proxy.listening();
  const first = await Deno.connect({ hostname: "127.0.0.1", port });
  const firstUp = await upstream.accept();
  const second = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    // The second waits in the backlog: no upstream connection is made for it yet.
    const accepting = upstream.accept();
    const early = await Promise.race([
      accepting,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 300)),
    ]);
    equal(early, null, "the proxy connected a second client past --max-connections 1");
    first.close();
    firstUp.close();
    using secondUp = await withDeadline(accepting, "the second client's upstream");
    await writeAll(second, new TextEncoder().encode("hi"));
    const got = new Uint8Array(2);
    equal(await secondUp.read(got), 2);
  } finally {
    second.close();
  }
  const { code } = await proxy.stop();
  equal(code, 0);
});

Deno.test("proxy example refuses a --max-connections that is not a positive integer", async () => {
  const { code, stdout, stderr } = await runExample("proxy.ts", PERMISSIONS, [
    "--port",
    "0",
    "--max-connections",
    "0",
  ], 20_000);
  notEqual(code, 0);
  equal(stdout, "");
  match(stderr, /Cannot start the proxy: --max-connections must be a positive integer, got 0/);
});
