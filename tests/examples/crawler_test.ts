import assert from "node:assert/strict";
import {
  bodyFor,
  checkSameBodies,
  crawl,
  parseArgs,
  poolMap,
  renderChart,
  runAsync,
  runBluelet,
  runProcesses,
  runSequential,
  runWorkers,
  startDelayedServer,
  type Strategy,
} from "../../examples/crawler.ts";
import { examplePath, runExample } from "./_process.ts";

const NAMES = ["sequential", "async", "workers", "processes", "bluelet"];

/** Checks that `svg` is well-formed XML as far as a bar chart needs, and gives its tags. */
export function parseXmlish(svg: string): string[] {
  const body = svg.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  const tags: string[] = [];
  let roots = 0;
  let last = 0;
  for (
    const m of body.matchAll(
      /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g,
    )
  ) {
    const text = body.slice(last, m.index);
    assert.doesNotMatch(
      text,
      /[<>]|&(?!#\d+;|[a-z]+;)/,
      `stray markup in ${text}`,
    );
    last = m.index + m[0].length;
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      assert.equal(stack.pop(), name, `unbalanced </${name}>`);
      continue;
    }
    if (stack.length === 0) roots++;
    tags.push(name);
    if (!selfClosing) stack.push(name);
  }
  assert.equal(body.slice(last).trim(), "", "content after the root element");
  assert.deepEqual(stack, [], "unclosed elements");
  assert.equal(roots, 1, "exactly one root element");
  return tags;
}

Deno.test("crawler.ts prints one line per strategy, checks the bodies and writes the chart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const chart = `${dir}/crawler.svg`;
    const { code, stdout, stderr } = await runExample("crawler.ts", [
      "--allow-net=127.0.0.1",
      `--allow-read=${examplePath("")}`,
      `--allow-run=${Deno.execPath()}`,
      `--allow-write=${chart}`,
    ], ["--count", "6", "--delay", "20", "--pool", "2", "--chart", chart]);
    assert.equal(stderr, "");
    assert.equal(code, 0);
    const lines = stdout.trimEnd().split("\n");
    assert.match(
      lines[0],
      /^Crawling 6 URLs on http:\/\/127\.0\.0\.1:\d+ \(20 ms each\)$/,
    );
    assert.deepEqual(lines.slice(1, 6).map((l) => l.split(":")[0]), NAMES);
    for (const line of lines.slice(1, 6)) {
      assert.match(line, /^\w+: \d+\.\d\d seconds$/);
    }
    assert.deepEqual(lines.slice(6), [
      "All 5 strategies got the same 6 bodies.",
      `Chart written to ${chart}`,
    ]);
    const svg = await Deno.readTextFile(chart);
    const tags = parseXmlish(svg);
    assert.equal(tags.filter((t) => t === "rect").length, 5);
    for (const name of NAMES) assert.ok(svg.includes(`>${name}</text>`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("crawler strategies all return the local server's bodies, in URL order", async (t) => {
  await using server = await startDelayedServer({ delayMs: 10 });
  const urls = server.urls(5);
  const expected = urls.map((url) => bodyFor(new URL(url).pathname));
  const strategies: Record<string, Strategy> = {
    sequential: runSequential,
    async: runAsync,
    workers: runWorkers,
    processes: runProcesses,
    bluelet: runBluelet,
  };
  for (const [name, strategy] of Object.entries(strategies)) {
    await t.step(name, async () => {
      assert.deepEqual(await strategy(urls, { pool: 2 }), expected);
    });
  }
});

Deno.test("crawler strategies fail on an error status", async (t) => {
  await using server = await startDelayedServer({ delayMs: 0 });
  const urls = [`${server.origin}/missing`];
  for (
    const [name, strategy] of Object.entries({
      runSequential,
      runBluelet,
      runProcesses,
    })
  ) {
    await t.step(name, async () => {
      await assert.rejects(strategy(urls, { pool: 1 }), /HTTP status 404/);
    });
  }
});

Deno.test("bodyFor() is deterministic and distinct per path", () => {
  assert.equal(bodyFor("/items/3"), bodyFor("/items/3"));
  assert.notEqual(bodyFor("/items/3"), bodyFor("/items/4"));
  assert.deepEqual(JSON.parse(bodyFor("/items/3")).id, 3);
});

Deno.test("poolMap() keeps input order and never runs more than size at once", async () => {
  let running = 0;
  let peak = 0;
  const result = await poolMap([5, 1, 4, 2, 3, 0], 2, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((wake) => setTimeout(wake, n));
    running--;
    return n * 10;
  });
  assert.deepEqual(result, [50, 10, 40, 20, 30, 0]);
  assert.equal(peak, 2);
});

Deno.test("renderChart() draws one labelled bar per strategy as well-formed SVG", () => {
  const svg = renderChart([
    { name: "sequential", seconds: 4.62 },
    { name: "a<b&c", seconds: 0.25 },
    { name: "bluelet", seconds: 0.21 },
  ], "Fetching 20 URLs");
  const tags = parseXmlish(svg);
  assert.equal(tags[0], "svg");
  assert.equal(tags.filter((t) => t === "rect").length, 3);
  assert.ok(svg.includes(">sequential</text>"));
  assert.ok(svg.includes(">a&#60;b&#38;c</text>"));
  assert.ok(svg.includes(">4.62 s</text>"));
  assert.ok(svg.includes(">0.21 s</text>"));
  assert.ok(svg.includes("<title>Fetching 20 URLs</title>"));
});

Deno.test("checkSameBodies() names the strategy and URL that differ", () => {
  const urls = ["http://a/0", "http://a/1"];
  checkSameBodies(urls, [
    { name: "sequential", seconds: 1, bodies: ["x", "y"] },
    { name: "bluelet", seconds: 1, bodies: ["x", "y"] },
  ]);
  assert.throws(
    () =>
      checkSameBodies(urls, [
        { name: "sequential", seconds: 1, bodies: ["x", "y"] },
        { name: "bluelet", seconds: 1, bodies: ["x", "z"] },
      ]),
    /bluelet got a different body than sequential for http:\/\/a\/1/,
  );
});

Deno.test("parseArgs() reads flags and URLs and rejects bad ones", () => {
  const parsed = parseArgs([
    "--count",
    "3",
    "--pool",
    "1",
    "--strategies",
    "async,bluelet",
    "http://x/",
  ]);
  assert.equal(parsed.count, 3);
  assert.equal(parsed.pool, 1);
  assert.deepEqual(parsed.strategies, ["async", "bluelet"]);
  assert.deepEqual(parsed.urls, ["http://x/"]);
  assert.throws(() => parseArgs(["--count", "0"]), TypeError);
  assert.throws(
    () => parseArgs(["--strategies", "threads"]),
    /Unknown strategy: threads/,
  );
  assert.throws(() => parseArgs(["--strategies", "toString"]), /Unknown strategy: toString/);
  assert.throws(() => parseArgs(["--verbose"]), /Unknown flag/);
  assert.throws(() => parseArgs(["--chart"]), /--chart needs a file name/);
  assert.equal(parseArgs(["--timeout", "250"]).timeoutMs, 250);
  // Past 2^31 - 1 ms, setTimeout fires at once: refused rather than made 1 ms.
  for (const flag of ["--timeout", "--delay"]) {
    assert.throws(
      () => parseArgs([flag, "3000000000"]),
      new RegExp(`^UsageError: ${flag} needs an integer from \\d+ to 2147483647, got 3000000000$`),
    );
  }
});

Deno.test("crawler.ts rejects an empty --strategies list", async () => {
  for (const list of ["", ","]) {
    const { code, stdout, stderr } = await runExample(
      "crawler.ts",
      [
        "--allow-net=127.0.0.1",
      ],
      ["--strategies", list, "--count", "1", "--delay", "0"],
      20_000,
    );
    assert.notEqual(code, 0, JSON.stringify(list));
    assert.equal(stdout, "", JSON.stringify(list));
    assert.match(stderr, /--strategies needs at least one strategy/, JSON.stringify(list));
  }
  assert.throws(() => parseArgs(["--strategies"]), /--strategies needs at least one strategy/);
});

/**
 * A server on loopback that answers every request with a body shorter than its
 * Content-Length (`cut`), or with no status line (`garbage`), then closes.
 */
function misbehavingServer(
  kind: "cut" | "garbage" | "silent",
): { url: string; close(): Promise<void> } {
  const held: Deno.Conn[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      if (kind === "silent") {
        held.push(conn); // never answers
        continue;
      }
      (async () => {
        try {
          await conn.read(new Uint8Array(4096)); // the request
          const reply = kind === "cut"
            ? "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(1000)
            : "hello, not HTTP\r\n\r\n";
          await conn.write(new TextEncoder().encode(reply));
        } catch {
          // The client went away.
        } finally {
          conn.close();
        }
      })();
    }
  })();
  return {
    url: `http://127.0.0.1:${listener.addr.port}/page`,
    async close() {
      listener.close();
      for (const conn of held) conn.close();
      await serving;
    },
  };
}

Deno.test("crawler.ts says in one line, with no stack trace, that a server's answer was cut short or was no HTTP", async (t) => {
  for (const kind of ["cut", "garbage"] as const) {
    const server = misbehavingServer(kind);
    try {
      for (const strategy of NAMES) {
        await t.step(`${kind}, ${strategy}`, async () => {
          const { code, stderr } = await runExample(
            "crawler.ts",
            ["--allow-net", "--allow-read", "--allow-run"],
            ["--strategies", strategy, server.url],
          );
          assert.equal(code, 1, stderr);
          const lines = stderr.trim().split("\n");
          assert.equal(lines.length, 1, stderr);
          assert.match(lines[0], new RegExp(`^error: Cannot crawl with ${strategy}: `), stderr);
          assert.match(lines[0], /127\.0\.0\.1:\d+\/page/, stderr);
        });
      }
    } finally {
      await server.close();
    }
  }
});

Deno.test("crawler.ts gives up on a server that never answers after --timeout, in every strategy, in one line", async (t) => {
  const server = misbehavingServer("silent");
  try {
    for (const strategy of NAMES) {
      await t.step(strategy, async () => {
        const { code, stderr } = await runExample(
          "crawler.ts",
          ["--allow-net", "--allow-read", "--allow-run"],
          ["--timeout", "300", "--strategies", strategy, server.url],
          20_000,
        );
        assert.equal(code, 1, stderr);
        assert.match(
          stderr,
          new RegExp(
            `^error: Cannot crawl with ${strategy}: Cannot fetch ${server.url}: no answer within 300 ms( \\(in a subprocess, which exited with code 1\\))?\n$`,
          ),
        );
      });
    }
  } finally {
    await server.close();
  }
});

Deno.test("a strategy that fails on one URL stops the others: no fetch, timer or subprocess is left", async (t) => {
  // The op and resource sanitizers (on in `deno task test`) see what is left.
  const silent = misbehavingServer("silent");
  const refused = `http://127.0.0.1:${closedPort()}/x`;
  try {
    for (const [name, strategy] of Object.entries({ runAsync, runProcesses })) {
      await t.step(name, async () => {
        await assert.rejects(
          strategy([silent.url, refused, silent.url], { pool: 3, timeoutMs: 20_000 }),
          /Cannot fetch http:\/\/127\.0\.0\.1:\d+\/x/,
        );
      });
    }
  } finally {
    await silent.close();
  }
});

/** A port nothing listens on (it was free a moment ago). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

Deno.test("crawl() refuses a timeout setTimeout cannot keep", async () => {
  for (const timeoutMs of [0, -1, 1.5, Number.NaN, 3e9]) {
    await assert.rejects(crawl(["http://127.0.0.1:1/"], ["async"], { timeoutMs }), {
      name: "RangeError",
      message: `Cannot crawl: timeoutMs must be an integer from 1 to 2147483647, got ${timeoutMs}`,
    });
  }
});
