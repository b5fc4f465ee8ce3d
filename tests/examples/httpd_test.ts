import assert from "node:assert/strict";
import { join, run, sleep, spawn, VirtualClock } from "../../mod.ts";
import { type MemoryConnection, memoryPair } from "../../testing/mod.ts";
import { handler, main } from "../../examples/httpd.ts";
import { UsageError } from "../../examples/_command.ts";
import { ExampleProcess, withDeadline } from "./_process.ts";

const SECRET = "TOP SECRET, outside the root";

interface RawResponse {
  status: number;
  head: string;
  body: string;
}

/** A raw HTTP client over one TCP connection: requests are sent byte for byte. */
class RawClient implements Disposable {
  readonly #conn: Deno.Conn;
  #buffered = new Uint8Array(0);

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async open(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(text: string): Promise<void> {
    const data = new TextEncoder().encode(text);
    for (let n = 0; n < data.length;) {
      n += await this.#conn.write(data.subarray(n));
    }
  }

  /** Reads more bytes; false at EOF. */
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16384);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    const merged = new Uint8Array(this.#buffered.length + n);
    merged.set(this.#buffered);
    merged.set(chunk.subarray(0, n), this.#buffered.length);
    this.#buffered = merged;
    return true;
  }

  /** Reads one response (by its Content-Length; none for HEAD). */
  async response(head = false): Promise<RawResponse> {
    let end = -1;
    for (let i = 0; i < 1000 && end < 0; i++) {
      end = new TextDecoder().decode(this.#buffered).indexOf("\r\n\r\n");
      if (end < 0 && !(await this.#fill())) {
        throw new Error("Connection closed before a response head");
      }
    }
    const headText = new TextDecoder().decode(this.#buffered.subarray(0, end));
    const length = head ? 0 : Number(/\r\ncontent-length: (\d+)/i.exec(headText)?.[1]);
    for (let i = 0; i < 1000 && this.#buffered.length < end + 4 + length; i++) {
      if (!(await this.#fill())) throw new Error("Connection closed in a body");
    }
    const body = new TextDecoder().decode(
      this.#buffered.subarray(end + 4, end + 4 + length),
    );
    this.#buffered = this.#buffered.slice(end + 4 + length);
    return { status: Number(headText.split(" ")[1]), head: headText, body };
  }

  /** Reads and drops up to `n` bytes, fewer if the server closes first; gives how many. */
  async skip(n: number): Promise<number> {
    let skipped = 0;
    for (let i = 0; i < 1_000_000 && skipped < n; i++) {
      if (this.#buffered.length === 0 && !(await this.#fill())) break;
      const taken = Math.min(this.#buffered.length, n - skipped);
      this.#buffered = this.#buffered.slice(taken);
      skipped += taken;
    }
    return skipped;
  }

  /** Every byte until the server closes the connection. */
  async rawUntilClosed(): Promise<Uint8Array> {
    for (let i = 0; i < 100_000 && await this.#fill(); i++);
    return this.#buffered;
  }

  /** True if the server closed the connection (after what was read). */
  async closedByServer(): Promise<boolean> {
    return this.#buffered.length === 0 && !(await this.#fill());
  }

  [Symbol.dispose](): void {
    this.#conn.close();
  }
}

/** Sends one raw request on a fresh connection and reads the response. */
async function request(port: number, raw: string): Promise<RawResponse> {
  using client = await RawClient.open(port);
  await client.send(raw);
  return await client.response(raw.startsWith("HEAD"));
}

const get = (port: number, target: string) =>
  request(
    port,
    `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  );

Deno.test("httpd.ts serves files, listings and errors, refuses traversal, and serves others while a client stalls", async (t) => {
  const tmp = await Deno.realPath(await Deno.makeTempDir());
  const www = `${tmp}/www`;
  try {
    await Deno.mkdir(`${www}/sub/deeper dir`, { recursive: true });
    await Deno.mkdir(`${www}/site`);
    await Deno.mkdir(`${tmp}/www2`);
    await Deno.writeTextFile(`${www}/hello.txt`, "Hello, world!\n");
    await Deno.writeTextFile(`${www}/sub/data.json`, '{"a":1}');
    await Deno.writeTextFile(`${www}/site/index.html`, "<h1>Site</h1>");
    await Deno.writeTextFile(`${tmp}/secret.txt`, SECRET);
    await Deno.writeTextFile(`${tmp}/www2/secret.txt`, SECRET);
    await Deno.symlink("../secret.txt", `${www}/escape.txt`);
    await Deno.symlink("..", `${www}/up`);
    await Deno.symlink(`${tmp}/www2`, `${www}/sibling`);
    await Deno.symlink("hello.txt", `${www}/alias.txt`);
    await Deno.mkdir(`${www}/odd`);
    await Deno.writeTextFile(`${www}/odd/a<b>&"c.txt`, "odd");
    const big = Uint8Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, i) => (i * 7) & 0xff);
    await Deno.writeFile(`${www}/big.bin`, big);
    await Deno.writeTextFile(`${www}/a.constructor`, "a");
    await Deno.writeTextFile(`${www}/b.toString`, "b");
    await Deno.writeTextFile(`${www}/c.unknown`, "c");
    await Deno.mkdir(`${www}/trap/index.html`, { recursive: true });
    await Deno.mkdir(`${www}/special`);
    await Deno.writeTextFile(`${www}/.env`, SECRET);
    await Deno.mkdir(`${www}/.git`);
    await Deno.writeTextFile(`${www}/.git/config`, SECRET);
    await Deno.symlink(".env", `${www}/envlink`);
    await Deno.symlink(".git", `${www}/gitlink`);
    await Deno.mkdir(`${www}/latin1`);
    const touch = await new Deno.Command("bash", {
      args: ["-c", 'touch "$1/caf$(printf "\\351").txt" "$1/plain.txt"', "-", `${www}/latin1`],
    }).output();
    assert.ok(touch.success, "touch a file whose name is not UTF-8");
    const mkfifo = await new Deno.Command("mkfifo", { args: [`${www}/special/pipe.txt`] }).output();
    assert.ok(mkfifo.success, "mkfifo");

    await using server = new ExampleProcess("httpd.ts", [
      "--allow-net=127.0.0.1",
      `--allow-read=${tmp}`,
    ], [www, "--port", "0", "--timeout", "1000"]);
    const { port } = await server.listening();

    await t.step("GET a file", async () => {
      const r = await get(port, "/hello.txt");
      assert.equal(r.status, 200);
      assert.equal(r.body, "Hello, world!\n");
      assert.match(r.head, /\r\nContent-Type: text\/plain;charset=utf-8\r\n/);
      assert.match(r.head, /\r\nContent-Length: 14\r\n/);
      assert.match(r.head, /\r\nConnection: close(\r\n|$)/);
    });

    await t.step("HEAD a file: headers only", async () => {
      using client = await RawClient.open(port);
      await client.send(
        "HEAD /sub/data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      const r = await client.response(true);
      assert.equal(r.status, 200);
      assert.match(r.head, /\r\nContent-Type: application\/json\r\n/);
      assert.match(r.head, /\r\nContent-Length: 7\r\n/);
      assert.ok(await client.closedByServer(), "no body after a HEAD response");
    });

    await t.step("a directory listing, with links that work", async () => {
      const r = await get(port, "/sub/");
      assert.equal(r.status, 200);
      assert.match(r.head, /Content-Type: text\/html/);
      assert.ok(
        r.body.includes('<a href="/sub/data.json">data.json</a>'),
        r.body,
      );
      assert.ok(
        r.body.includes('<a href="/sub/deeper%20dir/">deeper dir/</a>'),
        r.body,
      );
      const root = await get(port, "/");
      assert.ok(
        root.body.includes('<a href="/hello.txt">hello.txt</a>'),
        root.body,
      );
      const noSlash = await get(port, "/sub");
      assert.ok(
        noSlash.body.includes('<a href="/sub/data.json">'),
        noSlash.body,
      );
      assert.equal((await get(port, "/sub/deeper%20dir/")).status, 200);
    });

    await t.step("a directory with an index.html serves it", async () => {
      for (const target of ["/site/", "/site"]) {
        const r = await get(port, target);
        assert.equal(r.status, 200);
        assert.equal(r.body, "<h1>Site</h1>");
      }
    });

    await t.step(
      "an unknown extension is application/octet-stream, even a built-in name",
      async () => {
        for (const target of ["/a.constructor", "/b.toString", "/c.unknown"]) {
          const r = await get(port, target);
          assert.equal(r.status, 200, target);
          assert.match(r.head, /\r\nContent-Type: application\/octet-stream\r\n/, target);
        }
      },
    );

    await t.step(
      "an index.html that is a directory, or a FIFO, is a 404 as a missing file is, on a live connection",
      async () => {
        using client = await RawClient.open(port);
        for (const target of ["/nope.txt", "/trap/", "/trap", "/special/pipe.txt"]) {
          await client.send(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
          const r = await withDeadline(client.response(), target);
          assert.equal(r.status, 404, target);
          assert.match(r.head, /\r\nConnection: keep-alive(\r\n|$)/, target);
        }
        await client.send("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert.equal(
          (await withDeadline(client.response(), "the next request")).body,
          "Hello, world!\n",
        );
      },
    );

    await t.step("a file asked for as a directory (a trailing slash) is a 404", async () => {
      for (const target of ["/hello.txt/", "/sub/data.json/", "/alias.txt/", "/hello.txt//"]) {
        assert.equal((await get(port, target)).status, 404, target);
      }
    });

    await t.step(
      "dot segments are taken out before the path is looked up, whatever the permissions",
      async () => {
        // Without every permission, Deno takes them out of a path itself, so "/a.txt/." was
        // the file, and with them it was not found.
        for (
          const target of [
            "/hello.txt/.",
            "/hello.txt/%2e",
            "/sub/data.json/.",
            "/sub/./data.json/.",
          ]
        ) {
          assert.equal((await get(port, target)).status, 404, target);
        }
        const up = await get(port, "/sub/../hello.txt");
        assert.equal(up.body, "Hello, world!\n");
        const root = await get(port, "/hello.txt/..");
        assert.equal(root.status, 200);
        assert.ok(root.body.includes("<title>/</title>"), root.body);
      },
    );

    await t.step("names that start with a dot are neither served nor listed", async () => {
      for (
        const target of [
          "/.env",
          "/.git/config",
          "/.git/",
          "/sub/../.env",
          "/%2eenv",
          "/envlink", // a link with a plain name to one
          "/gitlink/config",
        ]
      ) {
        assert.equal((await get(port, target)).status, 404, target);
      }
      const root = await get(port, "/");
      for (const name of [".env", ".git", "envlink", "gitlink", "escape.txt", "up"]) {
        assert.ok(!root.body.includes(`>${name}`), `${name} listed: ${root.body}`);
      }
      assert.ok(root.body.includes(">alias.txt<"), root.body); // a link that stays in
    });

    await t.step(
      "an absolute-form target is served as its path; another scheme is a 400",
      async () => {
        const file = await get(port, "http://x/hello.txt");
        assert.equal(file.status, 200);
        assert.equal(file.body, "Hello, world!\n");
        const root = await get(port, "HTTP://Example.COM:8000");
        assert.equal(root.status, 200);
        assert.ok(root.body.includes('<a href="/hello.txt">hello.txt</a>'), root.body);
        const query = await get(port, "https://x?a=1");
        assert.equal(query.status, 200);
        assert.ok(query.body.includes('<a href="/hello.txt">hello.txt</a>'), query.body);
        for (
          const target of [
            "ftp://x/hello.txt",
            "http://user@x/hello.txt",
            "http:/hello.txt",
            "http:///hello.txt", // no host
            "http://:80/hello.txt", // no host, a port
            "/hello.txt#part", // a fragment is no part of a request
          ]
        ) {
          assert.equal((await get(port, target)).status, 400, target);
        }
      },
    );

    await t.step("a name that is not UTF-8 is listed without a link that cannot work", async () => {
      const r = await get(port, "/latin1/");
      assert.equal(r.status, 200);
      assert.ok(r.body.includes('<a href="/latin1/plain.txt">plain.txt</a>'), r.body);
      assert.ok(r.body.includes("<li>caf\uFFFD.txt (not UTF-8: cannot be served)</li>"), r.body);
      assert.equal([...r.body.matchAll(/href=/g)].length, 1, r.body);
    });

    await t.step("a symlink inside the root is followed", async () => {
      assert.equal((await get(port, "/alias.txt")).body, "Hello, world!\n");
    });

    await t.step("404 for a missing file", async () => {
      assert.equal((await get(port, "/nope.txt")).status, 404);
    });

    await t.step("405 for other methods, with Allow", async () => {
      for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
        const r = await request(
          port,
          `${method} /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`,
        );
        assert.equal(r.status, 405);
        assert.match(r.head, /\r\nAllow: GET, HEAD(\r\n|$)/);
      }
    });

    await t.step(
      "a client that sends a large body before it reads gets its 405 whole",
      async () => {
        // The server reads no body: it answers, and lets the client's bytes drain before it
        // closes, since closing with bytes unread would reset the connection and could take
        // the answer with it.
        for (const size of [5 * 1024 * 1024, 200_000]) {
          using client = await RawClient.open(port);
          const body = "x".repeat(size);
          const [, r] = await Promise.all([
            client.send(
              `POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n${body}`,
            ),
            withDeadline(client.response(), "the 405"),
          ]);
          assert.equal(r.status, 405, `${size}`);
          assert.match(r.head, /\r\nConnection: close(\r\n|$)/);
          assert.ok(await withDeadline(client.closedByServer(), "the close"), `${size}`);
        }
      },
    );

    await t.step(
      "400 for malformed requests, and the server lives on",
      async () => {
        for (
          const raw of [
            "GARBAGE\r\n\r\n",
            "\r\n\r\n", // a head that is only its blank line
            "GET /hello.txt\r\n\r\n",
            "GET /hello.txt HTTP/9.9\r\n\r\n",
            "GET  /hello.txt HTTP/1.1\r\n\r\n",
            "GET /hello.txt HTTP/1.1\r\nno colon here\r\n\r\n",
            "GET /%zz HTTP/1.1\r\n\r\n",
            "GET /hello.txt%00.png HTTP/1.1\r\n\r\n",
            "GET hello.txt HTTP/1.1\r\n\r\n",
          ]
        ) {
          const r = await request(port, raw);
          assert.equal(r.status, 400, raw.slice(0, 40));
          assert.match(r.head, /\r\nConnection: close(\r\n|$)/);
        }
        assert.equal((await get(port, "/hello.txt")).status, 200);
      },
    );

    await t.step("every traversal attempt is refused", async () => {
      const vectors = [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/%252e%252e/secret.txt",
        "/..%5csecret.txt",
        `/${tmp}/secret.txt`,
        `/${tmp.slice(1)}/secret.txt`,
        `/../www2/secret.txt`,
        "/escape.txt",
        "/up/secret.txt",
        "/up/",
        "/sibling/secret.txt",
        "/sibling/",
        "//../secret.txt",
        "/./../secret.txt",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd",
        "/../../../../../../etc/passwd",
        `http://127.0.0.1/../secret.txt`,
        "*",
      ];
      for (const target of vectors) {
        const r = await request(
          port,
          `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`,
        );
        assert.ok(
          r.status === 400 || r.status === 404,
          `${target}: ${r.status}`,
        );
        assert.ok(!r.body.includes(SECRET), target);
        assert.ok(!r.body.includes("root:"), target);
      }
    });

    await t.step(
      "keep-alive: HTTP/1.1 persists until Connection: close; HTTP/1.0 closes",
      async () => {
        using client = await RawClient.open(port);
        await client.send(
          "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        const first = await client.response();
        assert.equal(first.body, "Hello, world!\n");
        assert.match(first.head, /\r\nConnection: keep-alive(\r\n|$)/);
        const second = await client.response(true);
        assert.equal(second.status, 200);
        assert.match(second.head, /\r\nContent-Length: 14\r\n/);
        await client.send(
          "GET /sub/data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert.equal((await client.response()).body, '{"a":1}');
        assert.ok(await client.closedByServer());

        using old = await RawClient.open(port);
        await old.send("GET /hello.txt HTTP/1.0\r\n\r\n");
        assert.match(
          (await old.response()).head,
          /\r\nConnection: close(\r\n|$)/,
        );
        assert.ok(await old.closedByServer());

        using oldKeep = await RawClient.open(port);
        await oldKeep.send(
          "GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        );
        assert.match(
          (await oldKeep.response()).head,
          /\r\nConnection: keep-alive(\r\n|$)/,
        );
        await oldKeep.send("GET /hello.txt HTTP/1.0\r\n\r\n");
        assert.equal((await oldKeep.response()).body, "Hello, world!\n");
        assert.ok(await oldKeep.closedByServer());
      },
    );

    await t.step("Connection is a list of tokens, in any case", async () => {
      for (const field of ["upgrade, close", "Upgrade,CLOSE", "keep-alive, close"]) {
        using client = await RawClient.open(port);
        await client.send(`GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: ${field}\r\n\r\n`);
        const r = await client.response();
        assert.match(r.head, /\r\nConnection: close(\r\n|$)/, field);
        assert.ok(await withDeadline(client.closedByServer(), field), field);
      }
      using old = await RawClient.open(port);
      await old.send("GET /hello.txt HTTP/1.0\r\nConnection: TE, Keep-Alive\r\n\r\n");
      assert.match((await old.response()).head, /\r\nConnection: keep-alive(\r\n|$)/);
    });

    await t.step(
      "a client stalled mid-request does not stall the others",
      async () => {
        using slow = await RawClient.open(port);
        await slow.send("GET /hel");
        for (let i = 0; i < 3; i++) {
          const r = await withDeadline(
            get(port, "/hello.txt"),
            "a fast client",
          );
          assert.equal(r.status, 200);
        }
        await slow.send(
          "lo.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert.equal((await slow.response()).body, "Hello, world!\n");
      },
    );

    await t.step("a GET with a body is answered with Connection: close", async () => {
      using client = await RawClient.open(port);
      await client.send(
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
      );
      const r = await client.response();
      assert.equal(r.status, 200);
      assert.match(r.head, /\r\nConnection: close(\r\n|$)/);
      assert.ok(await client.closedByServer());
    });

    await t.step("listing names are escaped, and links never start with //", async () => {
      const odd = await get(port, "/odd/");
      assert.ok(
        odd.body.includes(
          '<a href="/odd/a%3Cb%3E%26%22c.txt">a&#60;b&#62;&#38;&#34;c.txt</a>',
        ),
        odd.body,
      );
      for (const target of ["//", "//sub//", "///odd"]) {
        const r = await get(port, target);
        assert.equal(r.status, 200, target);
        const hrefs = [...r.body.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
        assert.ok(hrefs.length > 0, r.body);
        for (const href of hrefs) assert.match(href, /^\/(?!\/)/, `${target}: ${href}`);
      }
    });

    await t.step("control characters in a target are a 400 and never logged raw", async () => {
      for (const target of ["/hello\x1b[31m.txt", "/hello%1b[31m.txt", "/a%0d%0aInjected: 1"]) {
        const r = await request(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.equal(r.status, 400, JSON.stringify(target));
      }
    });

    await t.step("HTTP/1.1 without Host is a 400; HTTP/1.0 needs none", async () => {
      assert.equal((await request(port, "GET /hello.txt HTTP/1.1\r\n\r\n")).status, 400);
      assert.equal((await request(port, "GET /hello.txt HTTP/1.0\r\n\r\n")).status, 200);
    });

    await t.step("a big file arrives intact; HEAD gives its length", async () => {
      const r = await get(port, "/big.bin");
      assert.equal(r.status, 200);
      assert.match(r.head, new RegExp(`\r\nContent-Length: ${big.length}\r\n`));
      const head = await request(port, "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(head.head, new RegExp(`\r\nContent-Length: ${big.length}\r\n`));
      // The body as bytes: the text decoder would mangle it, so fetch it again raw.
      using client = await RawClient.open(port);
      await client.send("GET /big.bin HTTP/1.0\r\n\r\n");
      const bytes = await client.rawUntilClosed();
      const start = bytes.findIndex((_, i) =>
        bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10
      ) + 4;
      assert.deepEqual(bytes.subarray(start), big);
    });

    await t.step("a client trickling its request head is cut off with a 408", async () => {
      const record: string[] = [];
      using client = await RawClient.open(port);
      const request = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
      const trickle = (async () => {
        try {
          // A byte every 100 ms: the whole head would take 4 s; the limit is 1 s.
          for (const byte of request) {
            await client.send(byte);
            await new Promise((wake) => setTimeout(wake, 100));
          }
          record.push("trickle finished");
        } catch {
          record.push("trickle cut off");
        }
      })();
      const r = await withDeadline(client.response(), "the 408");
      assert.equal(r.status, 408);
      assert.ok(await client.closedByServer());
      record.push("closed by the server");
      await trickle;
      assert.deepEqual(record.slice(0, 1), ["closed by the server"]);
    });

    const { code, stdout } = await server.stop();
    assert.equal(code, 0);
    assert.ok(stdout.endsWith("stopped"), stdout);
    const raw = stdout.split("\n").filter((line) => /\p{Cc}/u.test(line));
    assert.deepEqual(raw, [], "a control character reached the log");
    const log = stdout.split("\n");
    assert.ok(log.includes("GET /hello.txt 200 OK"), stdout);
    assert.ok(log.includes("HEAD /sub/data.json 200 OK"), stdout);
    assert.ok(log.includes("GET /nope.txt 404 Not Found"), stdout);
    assert.ok(log.includes("POST /hello.txt 405 Method Not Allowed"), stdout);
    assert.ok(log.includes("(malformed request) 400 Bad Request"), stdout);
    assert.ok(!stdout.includes(SECRET));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("httpd.ts answers a bad Host or a bare LF with 400, a long target with 414, long fields with 431, and closes", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(`${tmp}/hello.txt`, "Hello, world!\n");
    // A timeout longer than `withDeadline`'s: every answer must come without it.
    await using server = new ExampleProcess("httpd.ts", [
      "--allow-net=127.0.0.1",
      `--allow-read=${tmp}`,
    ], [tmp, "--port", "0", "--timeout", "60000"]);
    const { port } = await server.listening();
    const refused: [string, string][] = [
      ["GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 Bad Request"],
      ["GET /hello.txt HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", "400 Bad Request"],
      ["GET /hello.txt HTTP/1.1\r\nHost: a b/c\r\n\r\n", "400 Bad Request"],
      ["GET /hello.txt HTTP/1.1\r\nHost: a/b\r\n\r\n", "400 Bad Request"],
      ["GET /hello.txt HTTP/1.1\r\nHost: a:80x\r\n\r\n", "400 Bad Request"],
      ["GET /hello.txt HTTP/1.1\r\nHost: a@b\r\n\r\n", "400 Bad Request"],
      // Lines that end in a bare LF: answered at once, not when a CRLF CRLF never comes.
      ["GET /hello.txt HTTP/1.1\nHost: a\n\n", "400 Bad Request"],
      ["GET /hello.txt HTTP/1.1\r\nHost: a\n\n", "400 Bad Request"],
      ["GET /hello.txt HTTP/1.1\r\nHost: a\r\n\n", "400 Bad Request"],
      // Too long: sent without more, so the server reads it all (no reset on close).
      [`GET /${"a".repeat(16_400)}`, "414 URI Too Long"],
      [
        `GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(16_400)}`,
        "431 Request Header Fields Too Large",
      ],
      // Lines that end exactly at the limit, then the blank line: one byte too long.
      [
        `GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(16_384 - 43)}\r\n\r\n`,
        "431 Request Header Fields Too Large",
      ],
    ];
    const answers = [];
    for (const [raw, status] of refused) {
      using client = await RawClient.open(port);
      await client.send(raw);
      const r = await withDeadline(client.response(), status);
      const close = /\r\nConnection: close(\r\n|$)/.test(r.head);
      const closed = close && await withDeadline(client.closedByServer(), status);
      answers.push([r.head.split("\r\n")[0], close, closed]);
    }
    // Compared whole, so that a failure shows every wrong answer.
    assert.deepEqual(answers, refused.map(([, status]) => [`HTTP/1.1 ${status}`, true, true]));
    // A uri-host [":" port]: a name, an IPv4 or a bracketed IPv6 address; empty is valid too.
    for (
      const host of ["example.com:8080", "EXAMPLE.com", "127.0.0.1", "[::1]:8000", "a%41b", ""]
    ) {
      const r = await request(port, `GET /hello.txt HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.equal(r.head.split("\r\n")[0], "HTTP/1.1 200 OK", host);
    }
    // A head of exactly the limit, its blank line included, is served.
    const padded = `GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Pad: ${
      "p".repeat(16_384 - 45)
    }\r\n\r\n`;
    assert.equal(padded.length, 16_384);
    assert.equal((await request(port, padded)).head.split("\r\n")[0], "HTTP/1.1 200 OK");
    const { code, stdout } = await server.stop();
    assert.equal(code, 0);
    assert.ok(stdout.split("\n").includes("(malformed request) 414 URI Too Long"), stdout);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("httpd.ts on SIGTERM closes idle keep-alive connections at once, and finishes requests in flight", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(`${tmp}/hello.txt`, "Hello, world!\n");
    const size = 4 * 1024 * 1024;
    await Deno.writeFile(`${tmp}/big.bin`, new Uint8Array(size).fill(120));
    await using server = new ExampleProcess("httpd.ts", [
      "--allow-net=127.0.0.1",
      `--allow-read=${tmp}`,
    ], [tmp, "--port", "0"]);
    const { port } = await server.listening();
    // A request begun: the server has its first bytes well before the exchanges below end.
    using partial = await RawClient.open(port);
    await partial.send("GET /hello.txt HTTP/1.1\r\nHo");
    // A keep-alive client that made one request and idles, as a browser tab does.
    using idle = await RawClient.open(port);
    await idle.send("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match((await idle.response()).head, /\r\nConnection: keep-alive(\r\n|$)/);
    // A response being sent: its head read, its body not yet.
    using download = await RawClient.open(port);
    await download.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(
      (await download.response(true)).head,
      new RegExp(`\r\nContent-Length: ${size}\r\n`),
    );

    const stopped = server.stop(); // one SIGTERM: a second, once it has stopped, would kill it
    // Closed first, while the request begun can still finish: an idle connection closed
    // only when the grace period ran out would go with every handler, that request's too.
    assert.ok(await withDeadline(idle.closedByServer(), "closing the idle connection"));
    await partial.send("st: x\r\n\r\n");
    const r = await withDeadline(partial.response(), "the request begun");
    assert.equal(r.head.split("\r\n")[0], "HTTP/1.1 200 OK");
    assert.equal(r.body, "Hello, world!\n");
    assert.match(r.head, /\r\nConnection: close(\r\n|$)/);
    assert.ok(await withDeadline(partial.closedByServer(), "closing after the request"));
    assert.equal(await withDeadline(download.skip(size), "the body in flight"), size);
    assert.ok(await withDeadline(download.closedByServer(), "closing after the body"));
    const { code, stdout } = await withDeadline(stopped, "the exit");
    assert.equal(code, 0);
    assert.ok(stdout.endsWith("stopped"), stdout);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/**
 * More bytes than the kernel can hold in flight on one loopback connection: the server's
 * send buffer plus the client's receive buffer, at their largest. A server answering a
 * client that reads nothing can have read no more than this of a file.
 */
async function inFlightBound(): Promise<number> {
  try {
    const max = async (name: string) =>
      Number((await Deno.readTextFile(`/proc/sys/net/ipv4/${name}`)).trim().split(/\s+/)[2]);
    return await max("tcp_wmem") + await max("tcp_rmem") + 65536;
  } catch {
    return 64 * 1024 * 1024; // not Linux: a generous guess
  }
}

Deno.test("httpd.ts sends exactly the Content-Length of a file that grows, and closes on one that shrinks", async (t) => {
  const tmp = await Deno.realPath(await Deno.makeTempDir());
  try {
    // Deterministic without timing: the client reads the head only, then the test changes
    // the file. The server, blocked on a full socket, has read at most `inFlightBound()`
    // bytes of it by then, so it meets the change on its next reads.
    const size = await inFlightBound() + 1024 * 1024;
    await Deno.writeFile(`${tmp}/grows.log`, new Uint8Array(size).fill(97));
    await Deno.writeFile(`${tmp}/shrinks.log`, new Uint8Array(size).fill(97));
    await Deno.writeTextFile(`${tmp}/next.txt`, "next\n");
    await using server = new ExampleProcess("httpd.ts", [
      "--allow-net=127.0.0.1",
      `--allow-read=${tmp}`,
    ], [tmp, "--port", "0"]);
    const { port } = await server.listening();

    await t.step("a file appended to while it is sent: the next response is intact", async () => {
      using client = await RawClient.open(port);
      await client.send(
        "GET /grows.log HTTP/1.1\r\nHost: x\r\n\r\n" +
          "GET /next.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      const first = await client.response(true); // the head; the body stays unread
      assert.match(first.head, new RegExp(`\r\nContent-Length: ${size}\r\n`));
      assert.match(first.head, /\r\nConnection: keep-alive(\r\n|$)/);
      await Deno.writeFile(`${tmp}/grows.log`, new Uint8Array(100_000).fill(98), { append: true });
      assert.equal(await withDeadline(client.skip(size), "the body"), size);
      const next = await withDeadline(client.response(), "the next response");
      assert.ok(next.head.startsWith("HTTP/1.1 200 OK\r\n"), next.head.slice(0, 40));
      assert.equal(next.body, "next\n");
    });

    await t.step("a file truncated while it is sent: the connection is closed", async () => {
      using client = await RawClient.open(port);
      await client.send("GET /shrinks.log HTTP/1.1\r\nHost: x\r\n\r\n");
      const head = await client.response(true);
      assert.match(head.head, new RegExp(`\r\nContent-Length: ${size}\r\n`));
      await Deno.truncate(`${tmp}/shrinks.log`, 0);
      const got = await withDeadline(client.skip(size), "the end of the connection");
      assert.ok(got < size, `${got} of ${size} bytes`);
      assert.ok(await client.closedByServer());
    });

    const { code, stdout } = await server.stop();
    assert.equal(code, 0);
    assert.ok(
      stdout.split("\n").includes(
        "GET /shrinks.log: the file shrank while sent, connection closed",
      ),
      stdout,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("httpd.ts streams a file in 64 KiB reads, and reads none of it for HEAD", async () => {
  const root = (await Deno.realPath(await Deno.makeTempDir())) + "/";
  const size = 200_000;
  await Deno.writeFile(`${root}big.bin`, new Uint8Array(size).fill(7));
  const record: string[] = [];
  const [realOpen, realReadFile] = [Deno.open, Deno.readFile];
  Deno.open = (async (path: string | URL, options?: Deno.OpenOptions) => {
    record.push(`open ${path}`);
    const file = await realOpen(path, options);
    const read = file.read.bind(file);
    file.read = (buffer: Uint8Array) => {
      record.push(`read ${buffer.length}`);
      return read(buffer);
    };
    return file;
  }) as typeof Deno.open;
  Deno.readFile = (() => Promise.reject(new Error("read whole"))) as typeof Deno.readFile;
  const decoder = new TextDecoder();
  try {
    await run(function* () {
      const [client, conn] = memoryPair();
      const serving = yield* spawn(handler(root, { log: () => {} })(conn));
      yield* client.sendall("HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(decoder.decode(yield* client.readline("\r\n\r\n")), /Content-Length: 200000/);
      record.push("HEAD answered");
      yield* client.sendall("GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      yield* client.readline("\r\n\r\n");
      const body = yield* client.recvExactly(size);
      assert.ok(body.every((byte) => byte === 7));
      yield* join(serving);
      client.close();
    }());
  } finally {
    [Deno.open, Deno.readFile] = [realOpen, realReadFile];
    await Deno.remove(root, { recursive: true });
  }
  // HEAD opens it (to answer as GET would: a file it may not read is a 403), reads nothing.
  assert.deepEqual(record, [
    `open ${root}big.bin`,
    "HEAD answered",
    `open ${root}big.bin`,
    "read 65536",
    "read 65536",
    "read 65536",
    "read 3392", // the rest of the Content-Length; no read to find the end of the file
  ]);
});

Deno.test("httpd.ts gives a keep-alive connection idle between requests no 408, but a new one that sends nothing gets its 408 in time", async () => {
  const root = (await Deno.realPath(await Deno.makeTempDir())) + "/";
  await Deno.writeTextFile(`${root}hello.txt`, "hi");
  const decoder = new TextDecoder();
  const record: string[] = [];
  // The handler also waits on its stop signal, a promise: the clock jumps after 1 ms of
  // real quiet.
  const clock = new VirtualClock(0, { autojumpThreshold: 1 });
  const serve = handler(root, { log: () => {}, timeout: 10_000 });
  /** Serves `conn` as `server` would, closing it at the end. */
  function* serving(conn: MemoryConnection) {
    try {
      yield* serve(conn);
    } finally {
      conn.close();
    }
  }
  /** The status line of the next response, its body skipped; "closed" at the end. */
  function* statusOf(client: MemoryConnection) {
    const head = decoder.decode(yield* client.readline("\r\n\r\n"));
    if (head === "") return "closed";
    yield* client.recvExactly(Number(/Content-Length: (\d+)/.exec(head)![1]));
    return head.split("\r\n")[0];
  }
  try {
    await run(
      function* () {
        const [client, conn] = memoryPair();
        const handling = yield* spawn(serving(conn));
        const get = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
        yield* client.sendall(get);
        record.push(yield* statusOf(client));
        yield* sleep(30_000); // idle between requests, three times the head's limit
        yield* client.sendall(get);
        record.push(yield* statusOf(client));
        // A head begun and left unfinished is cut off once its limit has passed.
        yield* client.sendall("GET /hello.txt HTTP/1.1\r\n");
        record.push(yield* statusOf(client));
        yield* join(handling);
        record.push(yield* statusOf(client));
        client.close();
        // A new connection that sends nothing holds its place no longer than the limit.
        const [silent, silentConn] = memoryPair();
        const started = clock.now();
        yield* spawn(serving(silentConn));
        record.push(`${yield* statusOf(silent)} after ${clock.now() - started} ms`);
        silent.close();
      }(),
      { clock },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  assert.deepEqual(record, [
    "HTTP/1.1 200 OK",
    "HTTP/1.1 200 OK",
    "HTTP/1.1 408 Request Timeout",
    "closed",
    "HTTP/1.1 408 Request Timeout after 10000 ms",
  ]);
});

Deno.test("httpd.ts reads what a client still sends after its answer for 5 s at most, then closes", async () => {
  const root = (await Deno.realPath(await Deno.makeTempDir())) + "/";
  const decoder = new TextDecoder();
  const record: string[] = [];
  const clock = new VirtualClock(0, { autojumpThreshold: 1 });
  try {
    await run(
      function* () {
        const [client, conn] = memoryPair();
        const handling = yield* spawn(function* () {
          try {
            yield* handler(root, { log: () => {} })(conn);
          } finally {
            conn.close();
          }
        }());
        // A body far longer than the client will ever finish, a byte a second.
        yield* client.sendall("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
        const head = decoder.decode(yield* client.readline("\r\n\r\n"));
        record.push(head.split("\r\n")[0]);
        yield* client.recvExactly(Number(/Content-Length: (\d+)/.exec(head)![1]));
        record.push(`server's side ended: ${(yield* client.recv(1)).length === 0}`);
        const started = clock.now();
        const trickle = yield* spawn(function* () {
          try {
            for (let i = 0; i < 100; i++) {
              yield* client.sendall("x");
              yield* sleep(1000);
            }
          } catch (error) {
            record.push(`the client's next byte: ${(error as Error).name}`);
          }
        }());
        yield* join(handling);
        record.push(`closed after ${clock.now() - started} ms`);
        yield* join(trickle);
        client.close();
      }(),
      { clock },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  assert.deepEqual(record, [
    "HTTP/1.1 405 Method Not Allowed",
    "server's side ended: true",
    "closed after 5000 ms",
    "the client's next byte: BrokenPipeError",
  ]);
});

Deno.test("httpd.ts refuses an unknown argument, a second root and a bad --timeout before it listens", async () => {
  const cases: [string[], Error][] = [
    [["--prot", "8081"], new UsageError("Unknown argument: --prot")],
    [[".", "/etc"], new UsageError("Unknown argument: /etc")],
    [[".", "--timeout", "abc"], new UsageError('--timeout must be a number, got "abc"')],
    [[".", "--timeout"], new UsageError("--timeout must be a number, got nothing")],
    [
      [".", "--timeout", "-5"],
      new UsageError(
        "Cannot serve files: --timeout must be a positive number of milliseconds, got -5",
      ),
    ],
    [["--port", "http"], new UsageError('--port must be a port from 0 to 65535, got "http"')],
    [
      ["--max-connections", "0"],
      new UsageError("Cannot serve files: --max-connections must be a positive integer, got 0"),
    ],
  ];
  for (const [args, error] of cases) await assert.rejects(main(args), error);
});

Deno.test({
  name:
    "httpd.ts answers a file or directory it may not read with a whole 403, not a 200 cut short",
  // Permissions hold for a user other than root only: the server runs as nobody.
  ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  async fn() {
    const tmp = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.chmod(tmp, 0o755);
      await Deno.mkdir(`${tmp}/www/closed`, { recursive: true });
      await Deno.mkdir(`${tmp}/home`);
      await Deno.chmod(`${tmp}/home`, 0o777);
      await Deno.writeTextFile(`${tmp}/www/open.txt`, "open\n");
      await Deno.writeTextFile(`${tmp}/www/secret.txt`, SECRET);
      await Deno.chmod(`${tmp}/www/secret.txt`, 0o000);
      await Deno.chmod(`${tmp}/www/closed`, 0o000);
      await using server = new ExampleProcess(
        "httpd.ts",
        ["--allow-net=127.0.0.1", "--allow-read"],
        [`${tmp}/www`, "--port", "0"],
        { uid: 65534, home: `${tmp}/home` },
      );
      const { port } = await server.listening();
      const answers = [];
      for (const target of ["/secret.txt", "/closed/", "/open.txt"]) {
        const r = await get(port, target);
        answers.push([target, r.head.split("\r\n")[0], r.body]);
      }
      // HEAD answers as GET does, and says nothing of the file's size.
      const head = await request(port, "HEAD /secret.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      answers.push(["HEAD /secret.txt", head.head.split("\r\n")[0], head.body]);
      assert.deepEqual(answers, [
        ["/secret.txt", "HTTP/1.1 403 Forbidden", "403 Forbidden\n"],
        ["/closed/", "HTTP/1.1 403 Forbidden", "403 Forbidden\n"],
        ["/open.txt", "HTTP/1.1 200 OK", "open\n"],
        ["HEAD /secret.txt", "HTTP/1.1 403 Forbidden", ""],
      ]);
      const { code, stdout, stderr } = await server.stop();
      assert.equal(code, 0);
      assert.equal(stderr, "");
      assert.ok(stdout.includes("GET /secret.txt 403 Forbidden"), stdout);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
