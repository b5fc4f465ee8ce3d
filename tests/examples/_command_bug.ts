// A command whose main has a bug, for command_test.ts: `runCommand` must keep its stack
// trace. Exits 0 with "fine" when given `--fine` (its usage path is tested on the examples).
import { runCommand } from "../../examples/_command.ts";

function broken(args: readonly string[]): Promise<void> {
  if (args[0] === "--fine") {
    console.log("fine");
    return Promise.resolve();
  }
  return Promise.reject(new TypeError("Cannot read properties of undefined (reading 'x')"));
}

await runCommand(broken, "_command_bug.ts [--fine]");
