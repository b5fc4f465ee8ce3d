import assert from "node:assert/strict";

const SIZES: Record<string, number> = { BIG: 32 * 1024 * 1024, SLO: 14 * 64 * 1024 };

Deno.test("a handler writing all it can to a client that keeps reading does not keep other clients waiting until it is done", async (t) => {
  // Each write to a client that keeps reading completes at once, so the kernel is driven
  // from promise reactions alone, and Deno polls the sockets only when its event loop
  // idles: unless the kernel makes it, the other client's request is not even seen.
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL("./_busy_writer_server.ts", import.meta.url).pathname,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const port = Number(/listening on port (\d+)/.exec((await lines.read()).value ?? "")?.[1]);
    lines.releaseLock();
    using pinger = await Deno.connect({ hostname: "127.0.0.1", port });
    const reply = new Uint8Array(4);
    await pinger.write(new TextEncoder().encode("PNG\n"));
    assert.equal(await pinger.read(reply), 4);
    // Fast steps (0.2 ms of work per 64 KiB), and slow ones (20 ms each: 280 ms in all).
    for (const [ask, total] of Object.entries(SIZES)) {
      await t.step(ask === "BIG" ? "fast steps" : "slow steps", async () => {
        using big = await Deno.connect({ hostname: "127.0.0.1", port });
        await big.write(new TextEncoder().encode(`${ask}\n`));
        const record: string[] = [];
        let pinging: Promise<void> | undefined;
        const buffer = new Uint8Array(1024 * 1024);
        for (let got = 0; got < total;) {
          const n = await big.read(buffer);
          if (n === null) throw new Error(`The transfer ended after ${got} bytes`);
          got += n;
          if (got === n) {
            // The transfer is under way: now the other client asks.
            record.push("transfer began");
            pinging = (async () => {
              await pinger.write(new TextEncoder().encode("PNG\n"));
              assert.equal(await pinger.read(reply), 4);
              record.push("other client answered");
            })();
          }
        }
        record.push("transfer done");
        await pinging;
        assert.deepEqual(record, ["transfer began", "other client answered", "transfer done"]);
      });
    }
  } finally {
    server.kill();
    await server.status;
    await server.stdout.cancel().catch(() => {});
  }
});
