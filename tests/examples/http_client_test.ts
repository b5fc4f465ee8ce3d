import assert from "node:assert/strict";
import * as bluelet from "../../mod.ts";
import { HttpClientError, httpGet } from "../../examples/_http_client.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs `fn` with a `Deno.serve` server on a free loopback port, then shuts it down. */
async function withServe(
  handler: (request: Request) => Response | Promise<Response>,
  fn: (origin: string) => Promise<void>,
): Promise<void> {
  const ready = Promise.withResolvers<string>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ hostname, port }) => ready.resolve(`http://${hostname}:${port}`),
  }, handler);
  try {
    await fn(await ready.promise);
  } finally {
    await server.shutdown();
  }
}

/**
 * Runs `fn` against a raw TCP server that reads one request head, records it, answers
 * with `response` byte for byte and closes.
 */
async function withRawServer(
  response: string | Uint8Array,
  fn: (origin: string) => Promise<void>,
): Promise<string> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let request = "";
  const serving = (async () => {
    const conn = await listener.accept();
    try {
      const buffer = new Uint8Array(4096);
      while (!request.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        request += decode(buffer.subarray(0, n));
      }
      const bytes = typeof response === "string" ? new TextEncoder().encode(response) : response;
      for (let n = 0; n < bytes.length;) {
        n += await conn.write(bytes.subarray(n));
      }
    } finally {
      conn.close();
    }
  })();
  try {
    await fn(`http://127.0.0.1:${listener.addr.port}`);
  } finally {
    listener.close();
    await serving;
  }
  return request;
}

Deno.test("httpGet() reads a plain Deno.serve response with Content-Length", async () => {
  await withServe(
    (request) =>
      new Response(`you asked for ${new URL(request.url).pathname}`, {
        headers: { "x-test": "yes" },
      }),
    async (origin) => {
      const response = await bluelet.run(httpGet(`${origin}/a/b?c=d`));
      assert.equal(response.status, 200);
      assert.equal(response.statusText, "OK");
      assert.equal(response.headers.get("x-test"), "yes");
      assert.equal(response.headers.get("content-length"), "18");
      assert.equal(decode(response.body), "you asked for /a/b");
    },
  );
});

Deno.test("httpGet() reads a chunked Deno.serve response", async () => {
  const parts = ["first part, ", "second part, ", "x".repeat(100_000), "end"];
  await withServe(
    () =>
      new Response(
        new ReadableStream({
          start(controller) {
            for (const part of parts) {
              controller.enqueue(new TextEncoder().encode(part));
            }
            controller.close();
          },
        }),
        { status: 201 },
      ),
    async (origin) => {
      const response = await bluelet.run(httpGet(`${origin}/`));
      assert.equal(response.status, 201);
      assert.equal(response.headers.get("transfer-encoding"), "chunked");
      assert.equal(decode(response.body), parts.join(""));
    },
  );
});

Deno.test("httpGet() gives status and body of an error response", async () => {
  await withServe(
    () => new Response("nope", { status: 404 }),
    async (origin) => {
      const response = await bluelet.run(httpGet(`${origin}/missing`));
      assert.equal(response.status, 404);
      assert.equal(decode(response.body), "nope");
    },
  );
});

Deno.test("httpGet() sends a GET with Host and Connection: close", async () => {
  const request = await withRawServer(
    "HTTP/1.1 204 No Content\r\n\r\n",
    async (origin) => {
      const response = await bluelet.run(httpGet(`${origin}/path?q=1`));
      assert.equal(response.status, 204);
      assert.equal(response.body.length, 0);
    },
  );
  const lines = request.split("\r\n");
  assert.equal(lines[0], "GET /path?q=1 HTTP/1.1");
  assert.match(request, /\r\nHost: 127\.0\.0\.1:\d+\r\n/);
  assert.match(request, /\r\nConnection: close\r\n/);
});

Deno.test("httpGet() reads a body up to EOF when there is no length", async () => {
  await withRawServer(
    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\nof the stream",
    async (origin) => {
      const response = await bluelet.run(httpGet(origin));
      assert.equal(decode(response.body), "until the end\nof the stream");
    },
  );
});

Deno.test("httpGet() decodes chunks with extensions and trailers, after a 100 Continue", async () => {
  const raw = "HTTP/1.1 100 Continue\r\n\r\n" +
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
    "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\nworld!!!!!\r\n0\r\nX-Sum: 16\r\n\r\n";
  await withRawServer(raw, async (origin) => {
    const response = await bluelet.run(httpGet(origin));
    assert.equal(response.status, 200);
    assert.equal(decode(response.body), "hello world!!!!!");
    assert.equal(response.trailers.get("x-sum"), "16");
  });
});

Deno.test("httpGet() fails clearly when the server closes before the whole body", async (t) => {
  await t.step("Content-Length", async () => {
    await withRawServer(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
      async (origin) => {
        await assert.rejects(
          bluelet.run(httpGet(`${origin}/x`)),
          (error: Error) => {
            assert.ok(error instanceof HttpClientError);
            assert.equal(
              error.message,
              `Cannot read response body from ${origin}/x: connection closed after 10 of 100 bytes`,
            );
            return true;
          },
        );
      },
    );
  });
  await t.step("chunked", async () => {
    await withRawServer(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nabc",
      async (origin) => {
        await assert.rejects(
          bluelet.run(httpGet(`${origin}/`)),
          new HttpClientError(
            `Cannot read response body from ${origin}/: connection closed after 8 bytes of a chunked body, in a chunk of 16`,
          ),
        );
      },
    );
  });
  await t.step("a Deno.serve stream that fails midway", async () => {
    await withServe(
      () =>
        new Response(
          new ReadableStream({
            async pull(controller) {
              controller.enqueue(new TextEncoder().encode("partial"));
              await new Promise((wake) => setTimeout(wake, 10));
              controller.error(new Error("source failed"));
            },
          }),
        ),
      async (origin) => {
        await assert.rejects(
          bluelet.run(httpGet(`${origin}/`)),
          /^HttpClientError: Cannot read response body from http:\/\/127\.0\.0\.1:\d+\/: connection closed after 7 bytes of a chunked body$/,
        );
      },
    );
  });
  await t.step("before the headers end", async () => {
    await withRawServer("HTTP/1.1 200 OK\r\nContent-Le", async (origin) => {
      await assert.rejects(
        bluelet.run(httpGet(origin)),
        /Cannot read response from .*: connection closed in the header fields/,
      );
    });
  });
  await t.step("a malformed status line", async () => {
    await withRawServer("SMTP ready\r\n\r\n", async (origin) => {
      await assert.rejects(
        bluelet.run(httpGet(origin)),
        /malformed status line "SMTP ready"/,
      );
    });
  });
});

Deno.test("httpGet() rejects URLs other than http:", async () => {
  await assert.rejects(bluelet.run(httpGet("https://example.com/")), TypeError);
});

Deno.test("httpGet() reports a refused connection with the net error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    bluelet.run(httpGet(`http://127.0.0.1:${port}/`)),
    bluelet.ConnectionRefusedError,
  );
});
