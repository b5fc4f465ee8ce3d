import assert from "node:assert/strict";
import * as bluelet from "../../mod.ts";
import { sleepy } from "../../examples/sleepy.ts";
import { runExample } from "./_process.ts";

const EXPECTED = [
  "Going to sleep for 0 seconds...",
  "Going to sleep for 1 seconds...",
  "Going to sleep for 3 seconds...",
  "Going to sleep for 5 seconds...",
  "...woke up after 0 seconds.",
  "...woke up after 1 seconds.",
  "...woke up after 3 seconds.",
  "...woke up after 5 seconds.",
];

Deno.test("sleepy.ts prints Bluelet's lines, wake-ups in time order", async () => {
  const { code, stdout, stderr } = await runExample("sleepy.ts", [], [
    "--scale",
    "20",
  ]);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  assert.deepEqual(stdout.trimEnd().split("\n"), EXPECTED);
});

Deno.test("sleepy() wakes sleepers in time order under a virtual clock", async () => {
  const lines: string[] = [];
  const clock = new bluelet.VirtualClock();
  await bluelet.run(sleepy(1000, (line) => lines.push(line)), { clock });
  assert.deepEqual(lines, EXPECTED);
});

Deno.test("sleepy.ts rejects an unknown flag with its usage, not a stack trace", async () => {
  const { code, stderr } = await runExample("sleepy.ts", [], ["--fast"]);
  assert.equal(code, 2);
  assert.equal(stderr, "error: Unknown argument: --fast\nusage: deno task sleepy [--scale MS]\n");
});

Deno.test("sleepy.ts rejects a --scale that is not a number from 0 to a day, a blank one too", async () => {
  const range = "Cannot run sleepy: --scale must be a number from 0 to 86400000";
  const cases = [
    ["", '--scale must be a number, got ""'],
    [" ", '--scale must be a number, got " "'],
    ["abc", '--scale must be a number, got "abc"'],
    ["-1", `${range}, got -1`],
    ["1e308", `${range}, got 1e+308`], // three demo seconds of it would be Infinity
  ];
  for (const [scale, message] of cases) {
    const { code, stdout, stderr } = await runExample("sleepy.ts", [], ["--scale", scale], 20_000);
    assert.equal(code, 2, JSON.stringify(scale));
    assert.equal(stdout, "", JSON.stringify(scale));
    assert.equal(stderr.split("\n")[0], `error: ${message}`);
  }
});
