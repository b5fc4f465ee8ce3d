import assert from "node:assert/strict";

Deno.test("a task held after its thread ended does not keep the thread's generator alive", async () => {
  // A task may be kept long after its thread ended (a list of results, a registry): it
  // should hold the result, not the generator and whatever its locals hold.
  const probe = new URL("./_retention_probe.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--v8-flags=--expose-gc", probe],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.deepEqual(new TextDecoder().decode(output.stdout).trim().split("\n"), [
    "task: done",
    "generator: collected",
    "its locals: collected",
  ]);
});

Deno.test("what a killed thread's long finally started, and has ended, is not kept until that finally ends", async () => {
  // Such threads are kept to be killed when the thread ends (they live no longer than it);
  // those that ended on their own meanwhile are let go, with their results.
  const probe = new URL("./_teardown_retention_probe.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--v8-flags=--expose-gc", probe],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.equal(new TextDecoder().decode(output.stdout).trim(), "first helper's result: collected");
});
