// Runs a retention probe: a script that makes objects, lets them go, collects garbage and
// prints which are still there. Shared by the retention tests of tests/scheduler and tests/net.
import assert from "node:assert/strict";

/**
 * Runs the probe at `url` with `--expose-gc` and `permissions`; gives the lines it printed.
 */
export async function runProbe(url: URL, permissions: string[] = []): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...permissions, "--v8-flags=--expose-gc", url.pathname],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout).trim().split("\n");
}
