// The one-request fetcher behind the crawler's `workers` and `processes` strategies.
//
// Loaded as a Worker, it gets a URL by message and answers with the body (or the error).
// Run as a program, it writes the body of its one URL argument to stdout:
//
//   deno run --allow-net examples/_crawler_fetch.ts http://127.0.0.1:8000/items/0

/** What the worker answers: the body, or why there is none. */
export type FetchReply = { ok: true; body: string } | {
  ok: false;
  error: string;
};

/**
 * Fetches `url` and gives its body as text.
 *
 * @param url The URL to GET.
 * @returns The body.
 * @throws {Error} If the status is not 2xx.
 */
export async function fetchText(url: string): Promise<string> {
  const response = await fetch(url);
  const body = await response.text();
  if (!response.ok) {
    throw new Error(`Cannot fetch ${url}: HTTP status ${response.status}`);
  }
  return body;
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<string>) => void) | null;
  postMessage(message: FetchReply): void;
}

if ("WorkerGlobalScope" in globalThis) {
  // In a Worker `import.meta.main` is true too, so this test comes first.
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = async (event) => {
    try {
      scope.postMessage({ ok: true, body: await fetchText(event.data) });
    } catch (error) {
      scope.postMessage({ ok: false, error: String(error) });
    }
  };
} else if (import.meta.main) {
  const body = new TextEncoder().encode(await fetchText(Deno.args[0]));
  for (let written = 0; written < body.length;) {
    written += await Deno.stdout.write(body.subarray(written));
  }
}
