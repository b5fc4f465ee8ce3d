import assert from "node:assert/strict";
import { main } from "../../examples/delegation.ts";
import { runExample } from "./_process.ts";

const EXPECTED = [
  "Parent started.",
  "Parent resumed.",
  "Child started.",
  "Child resumed.",
  "Child ending.",
  "Child returned: 42",
  "Parent ending.",
  "Parent caught: Error: child failed",
];

Deno.test("delegation.ts prints calls, return values and the caught error in order", async () => {
  const { code, stdout, stderr } = await runExample("delegation.ts", []);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  assert.deepEqual(stdout.trimEnd().split("\n"), EXPECTED);
});

Deno.test("delegation main() gives the same lines in-process", async () => {
  const lines: string[] = [];
  await main((line) => lines.push(line));
  assert.deepEqual(lines, EXPECTED);
});
