import assert from "node:assert/strict";

/** Runs _first_timer_probe.ts with `deno test`, alone in its process; gives what it said. */
async function probe(clock: "real" | "virtual"): Promise<string> {
  const path = new URL("./_first_timer_probe.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--no-check", path, "--", clock],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, stdout + new TextDecoder().decode(output.stderr));
  return stdout.split("\n").find((line) => line.startsWith("resumed")) ?? stdout;
}

Deno.test("a promise that settles inside the kernel's first timer of a `deno test` process wakes its thread at once", async () => {
  assert.equal(await probe("real"), "resumed at once");
  assert.equal(await probe("virtual"), "resumed at once");
});
