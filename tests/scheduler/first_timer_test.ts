import assert from "node:assert/strict";

/**
 * Runs a scenario of _first_timer_probe.ts with `deno test`, alone in its process, so that
 * the kernel makes the process's first timer call; gives what it printed.
 */
async function probe(scenario: string): Promise<string> {
  const path = new URL("./_first_timer_probe.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--no-check", path, "--", scenario],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, stdout + new TextDecoder().decode(output.stderr));
  return stdout.split("\n").find((line) => line.startsWith("RESULT "))?.slice(7) ?? stdout;
}

Deno.test("in a `deno test` process, what happens inside the kernel's first timer call is seen as under `deno run`", async (t) => {
  // Each is what the same scenario gives under `deno run`, where the quirk does not happen.
  const expected: Record<string, string> = {
    real: "run() returned | root resumed | outside timer",
    virtual: "run() returned | root resumed at 0 | outside timer",
    jump: "root got 1 at 0 | outside answers at 0 | root got 2 at 0 | sleeper wakes at 1000",
    held: "got 7",
    abort: "aborted | outside timer",
    "abort-virtual": "sleeper's finally at 0 | aborted | outside timer",
  };
  for (const [scenario, result] of Object.entries(expected)) {
    await t.step(scenario, async () => assert.equal(await probe(scenario), result));
  }
});
