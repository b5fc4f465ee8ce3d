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
