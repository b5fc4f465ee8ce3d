import assert from "node:assert/strict";
import { runExample } from "./_process.ts";

const NET = ["--allow-net=127.0.0.1"];

Deno.test("an example started with an unknown flag prints it and its usage, and exits 2", async () => {
  const echo = await runExample("echo.ts", NET, ["--port", "0", "--verbose"]);
  assert.deepEqual([echo.code, echo.stdout, echo.stderr], [
    2,
    "",
    "error: Unknown argument: --verbose\nusage: deno task echo [--port N] [--host H] [--idle-timeout MS]\n",
  ]);
  const crawler = await runExample("crawler.ts", NET, ["--count", "many"]);
  assert.equal(crawler.code, 2);
  assert.equal(crawler.stderr.split("\n")[0], "error: --count needs an integer >= 1, got many");
  assert.match(crawler.stderr.split("\n")[1], /^usage: deno task crawler \[--count N\]/);
});

Deno.test("an example given a port that is no port says so before it listens", async () => {
  for (const [name, port] of [["echo.ts", "80x"], ["chat.ts", "-1"], ["proxy.ts", "65536"]]) {
    const { code, stdout, stderr } = await runExample(name, NET, ["--port", port]);
    assert.equal(code, 2, name);
    assert.equal(stdout, "", name);
    assert.equal(
      stderr.split("\n")[0],
      `error: --port must be a port from 0 to 65535, got "${port}"`,
      name,
    );
  }
  const kv = await runExample("kv.ts", NET, ["--port"]);
  assert.equal(
    kv.stderr.split("\n")[0],
    "error: --port must be a port from 0 to 65535, got nothing",
  );
});

Deno.test("an example given an idle limit that is no positive number of ms says so", async () => {
  for (const [name, value] of [["echo.ts", "-5"], ["proxy.ts", "abc"], ["echo.ts", "0"]]) {
    const { code, stdout, stderr } = await runExample(name, NET, [
      "--port",
      "0",
      "--idle-timeout",
      value,
    ]);
    assert.equal(code, 2, name);
    assert.equal(stdout, "", name);
    assert.match(
      stderr.split("\n")[0],
      /^error: --idle-timeout must be (a number|a positive number of milliseconds), got /,
      name,
    );
  }
});

Deno.test("an example whose port is taken says so in one line, and exits 1", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(taken.addr.port);
  for (const name of ["echo.ts", "kv.ts", "httpd.ts", "chat.ts", "proxy.ts"]) {
    const { code, stdout, stderr } = await runExample(name, [...NET, "--allow-read"], [
      "--port",
      port,
    ]);
    assert.deepEqual(
      [code, stdout, stderr],
      [1, "", `error: Cannot listen on 127.0.0.1:${port}: address already in use\n`],
      name,
    );
  }
});

Deno.test("httpd.ts given a ROOT that is a file, not a directory, says so and exits 2", async () => {
  const file = await Deno.makeTempFile();
  try {
    const { code, stdout, stderr } = await runExample("httpd.ts", [...NET, "--allow-read"], [
      file,
      "--port",
      "0",
    ]);
    assert.deepEqual([code, stdout], [2, ""]);
    assert.equal(stderr.split("\n")[0], `error: Cannot serve files: not a directory: ${file}`);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("an example run without the permission it needs names it, and exits 1", async () => {
  const { code, stderr } = await runExample("echo.ts", [], ["--port", "0"]);
  assert.equal(code, 1);
  assert.match(
    stderr,
    /^error: Requires net access to "127\.0\.0\.1:0", run again with the --allow-net flag\n$/,
  );
});

Deno.test("a bug in an example's main keeps its stack trace", async () => {
  const script = new URL("./_command_bug.ts", import.meta.url).pathname;
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", script, ...args],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  const fine = await run(["--fine"]);
  assert.equal(fine.code, 0);
  assert.equal(new TextDecoder().decode(fine.stdout), "fine\n");
  const broken = await run([]);
  const stderr = new TextDecoder().decode(broken.stderr);
  assert.equal(broken.code, 1);
  assert.match(stderr, /Uncaught \(in promise\) TypeError: Cannot read properties of undefined/);
  assert.match(stderr, /at broken \(.*_command_bug\.ts/);
});

Deno.test("every example prints its usage for --help and -h, and exits 0", async () => {
  const usages: [string, string][] = [
    ["echo.ts", "deno task echo"],
    ["chat.ts", "deno task chat"],
    ["proxy.ts", "deno task proxy"],
    ["kv.ts", "deno task kv"],
    ["httpd.ts", "deno task httpd"],
    ["crawler.ts", "deno task crawler"],
    ["sleepy.ts", "deno task sleepy"],
    ["delegation.ts", "deno task delegation"],
    ["ipc.ts", "deno task ipc"],
  ];
  for (const [name, usage] of usages) {
    for (const flag of ["--help", "-h"]) {
      const { code, stdout, stderr } = await runExample(name, [], [flag]);
      assert.deepEqual([code, stderr], [0, ""], `${name} ${flag}`);
      assert.ok(stdout.startsWith(`usage: ${usage}`), `${name} ${flag}: ${stdout}`);
    }
  }
});

Deno.test("--help after a flag that takes a value is that value, not a request for help", async () => {
  const { code, stdout, stderr } = await runExample("echo.ts", NET, ["--port", "--help"]);
  assert.deepEqual([code, stdout], [2, ""]);
  assert.equal(stderr.split("\n")[0], 'error: --port must be a port from 0 to 65535, got "--help"');
  // After a flag's value, it is one again.
  const help = await runExample("echo.ts", NET, ["--port", "0", "--help"]);
  assert.deepEqual([help.code, help.stderr], [0, ""]);
  assert.ok(help.stdout.startsWith("usage: deno task echo"));
});

Deno.test("an example that takes no arguments refuses one", async () => {
  for (const name of ["delegation.ts", "ipc.ts"]) {
    const { code, stdout, stderr } = await runExample(name, NET, ["--bogus"]);
    assert.deepEqual([code, stdout], [2, ""], name);
    assert.equal(stderr.split("\n")[0], "error: Unknown argument: --bogus", name);
  }
});

Deno.test("a port written other than in decimal digits is refused", async () => {
  for (const port of ["1e3", "0x10", "1.0", "+80"]) {
    const { code, stderr } = await runExample("echo.ts", NET, ["--port", port]);
    assert.equal(code, 2, port);
    assert.equal(
      stderr.split("\n")[0],
      `error: --port must be a port from 0 to 65535, got "${port}"`,
      port,
    );
  }
});

Deno.test("crawler.ts refuses what is no http: URL before it starts, and names a fetch that fails", async () => {
  for (
    const [url, message] of [
      ["notaurl", "error: Not a URL: notaurl"],
      [
        "https://127.0.0.1:1/",
        "error: Cannot crawl https://127.0.0.1:1/: only http: URLs are supported",
      ],
    ]
  ) {
    const { code, stdout, stderr } = await runExample("crawler.ts", NET, [url]);
    assert.deepEqual([code, stdout], [2, ""], url);
    assert.equal(stderr.split("\n")[0], message, url);
  }
  // A port nothing listens on: each strategy fails to connect, and says so in one line.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${closed.addr.port}/`;
  closed.close();
  for (const strategy of ["bluelet", "async", "workers", "processes"]) {
    const { code, stderr } = await runExample(
      "crawler.ts",
      [...NET, "--allow-read", "--allow-run"],
      [
        "--strategies",
        strategy,
        url,
      ],
    );
    assert.equal(code, 1, strategy);
    assert.match(
      stderr,
      new RegExp(`^error: Cannot crawl with ${strategy}: .*refused.*\\n$`, "i"),
      strategy,
    );
  }
});

Deno.test("crawler.ts says it may not write its chart before it crawls", async () => {
  const { code, stdout, stderr } = await runExample("crawler.ts", NET, [
    "--chart",
    "/tmp/bluelet-no-write.svg",
    "--count",
    "1",
  ]);
  assert.deepEqual([code, stdout], [1, ""]);
  assert.equal(
    stderr.split("\n")[0],
    "error: Cannot write the chart to /tmp/bluelet-no-write.svg: no write permission (run with --allow-write=/tmp/bluelet-no-write.svg)",
  );
});
