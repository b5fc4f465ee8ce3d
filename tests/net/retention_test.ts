import assert from "node:assert/strict";
import { runProbe } from "../_probe.ts";

/** Runs a probe of this folder with `--expose-gc` and loopback network. */
function probe(name: string): Promise<string[]> {
  return runProbe(new URL(name, import.meta.url), ["--allow-net=127.0.0.1"]);
}

Deno.test("reads of a quiet peer that time out, over and over, are not kept until the peer sends", async () => {
  // The first leaves its OS read running, for whatever it brings, and every later read
  // waits on that one: none may stay attached to it once its time limit has passed.
  assert.deepEqual(await probe("./_quiet_read_retention_probe.ts"), [
    "timed-out reads of a quiet peer kept: at most two",
  ]);
});

Deno.test("accepts on a quiet listener that are killed, over and over, are not kept until a client comes", async () => {
  // The listener's accept in flight belongs to it, and every accepting thread waits on it:
  // none may stay attached to it once killed.
  assert.deepEqual(await probe("./_quiet_accept_retention_probe.ts"), [
    "killed accepts on a quiet listener kept: at most two",
  ]);
});
