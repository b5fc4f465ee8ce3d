import assert from "node:assert/strict";
import * as bluelet from "../../mod.ts";
import { inOneScheduler } from "../../examples/ipc.ts";
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
