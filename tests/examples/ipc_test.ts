import assert from "node:assert/strict";
import net from "node:net";
import * as bluelet from "../../mod.ts";
import { acceptPeer, Endpoint, inOneScheduler } from "../../examples/ipc.ts";
import { runExample } from "./_process.ts";

const EXCHANGE = [
  'thread2 got "hello!"',
  "thread2 got 123",
  'thread2 got { foo: "bar" }',
  'thread1 got [ "test", 1234, "foo" ]',
];

Deno.test("ipc.ts exchanges the same messages in one scheduler, then in two workers", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const { code, stdout, stderr } = await runExample("ipc.ts", [
    "--allow-net=127.0.0.1",
    `--allow-read=${root}`,
  ]);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  assert.deepEqual(stdout.trimEnd().split("\n"), [
    "In one scheduler:",
    ...EXCHANGE,
    "In two workers:",
    ...EXCHANGE,
  ]);
});

Deno.test("ipc inOneScheduler() prints the exchange in order and closes both ends", async () => {
  const lines: string[] = [];
  await bluelet.run(inOneScheduler((line) => lines.push(line)));
  assert.deepEqual(lines, EXCHANGE);
});

Deno.test("ipc acceptPeer() talks only to the connection that sends the secret, whoever connects first", async () => {
  const record: string[] = [];
  await bluelet.run(function* () {
    using listener = new bluelet.Listener("127.0.0.1", 0);
    const port = (listener.addr as Deno.NetAddr).port;
    const accepting = yield* bluelet.spawn(acceptPeer(listener, "s3cret", 50));
    // Other local processes, first: a wrong secret, bytes that are no frame, silence.
    const strangers = [];
    for (const send of [frame("guess"), new TextEncoder().encode("\0\0\0\x03{{{"), null]) {
      const stranger = yield* bluelet.connect("127.0.0.1", port);
      if (send !== null) yield* stranger.sendall(send);
      strangers.push(stranger);
      yield* bluelet.sleep(10);
    }
    using peer = yield* bluelet.connect("127.0.0.1", port);
    yield* new Endpoint(peer).put("s3cret");
    using conn = yield* accepting;
    yield* new Endpoint(conn).put("welcome");
    // Within a time limit: given to a stranger, the welcome would never come.
    record.push(`peer got ${yield* bluelet.withTimeout(2000, new Endpoint(peer).get())}`);
    for (const stranger of strangers) {
      record.push(`a stranger read ${(yield* stranger.recv(10)).length} bytes, then the end`);
      stranger.close();
    }
  }());
  assert.deepEqual(record, [
    "peer got welcome",
    ...Array(3).fill("a stranger read 0 bytes, then the end"),
  ]);
});

Deno.test("ipc acceptPeer() closes a stranger that announces a frame longer than any secret, without reading it", async () => {
  // Read, half a gigabyte would be held (or fail the run), and the peer kept waiting.
  await bluelet.run(function* () {
    using listener = new bluelet.Listener("127.0.0.1", 0);
    const port = (listener.addr as Deno.NetAddr).port;
    const accepting = yield* bluelet.spawn(acceptPeer(listener, "s3cret", 5000));
    using stranger = yield* bluelet.connect("127.0.0.1", port);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, 2 ** 29);
    yield* stranger.sendall(header);
    yield* bluelet.sleep(10);
    using peer = yield* bluelet.connect("127.0.0.1", port);
    yield* new Endpoint(peer).put("s3cret");
    using _conn = yield* bluelet.withTimeout(1000, bluelet.join(accepting));
    assert.equal((yield* stranger.recv(10)).length, 0);
  }());
});

Deno.test("ipc acceptPeer() is not held up by strangers that stay silent: each proves itself on its own", async () => {
  // One after another, five silent strangers held the peer up for five patiences: five
  // minutes here, where a limit of ten seconds tells the two apart.
  const record: string[] = [];
  await bluelet.run(function* () {
    using listener = new bluelet.Listener("127.0.0.1", 0);
    const port = (listener.addr as Deno.NetAddr).port;
    const accepting = yield* bluelet.spawn(acceptPeer(listener, "s3cret", 60_000));
    const strangers = [];
    for (let i = 0; i < 5; i++) strangers.push(yield* bluelet.connect("127.0.0.1", port));
    yield* bluelet.sleep(10);
    using peer = yield* bluelet.connect("127.0.0.1", port);
    yield* new Endpoint(peer).put("s3cret");
    using _conn = yield* bluelet.withTimeout(10_000, bluelet.join(accepting));
    record.push("the peer is accepted");
    // Once it is, the silent ones are closed.
    for (const stranger of strangers) {
      record.push(`a stranger read ${(yield* stranger.recv(10)).length} bytes, then the end`);
      stranger.close();
    }
  }());
  assert.deepEqual(record, [
    "the peer is accepted",
    ...Array(5).fill("a stranger read 0 bytes, then the end"),
  ]);
});

Deno.test("ipc acceptPeer() skips a stranger that reset before it was accepted", async () => {
  // With every place taken by silent strangers, it waits in the backlog, and its accept
  // fails about it alone: that ended the pairing.
  await bluelet.run(function* () {
    using listener = new bluelet.Listener("127.0.0.1", 0);
    const port = (listener.addr as Deno.NetAddr).port;
    const accepting = yield* bluelet.spawn(acceptPeer(listener, "s3cret", 300));
    const strangers = [];
    for (let i = 0; i < 64; i++) strangers.push(yield* bluelet.connect("127.0.0.1", port));
    yield* bluelet.sleep(30);
    yield* bluelet.until(
      new Promise<void>((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.resetAndDestroy();
          resolve();
        });
        socket.on("error", reject);
      }),
    );
    using peer = yield* bluelet.connect("127.0.0.1", port);
    yield* new Endpoint(peer).put("s3cret");
    using _conn = yield* bluelet.withTimeout(3000, bluelet.join(accepting));
    for (const stranger of strangers) stranger.close();
  }());
});

function frame(value: unknown): Uint8Array {
  const payload = new TextEncoder().encode(JSON.stringify(value));
  const bytes = new Uint8Array(4 + payload.length);
  new DataView(bytes.buffer).setUint32(0, payload.length);
  bytes.set(payload, 4);
  return bytes;
}
