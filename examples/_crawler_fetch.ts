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

/** A request that failed: no answer (a refused connection, say), or not a 2xx one. */
export class FetchError extends Error {
  /**
   * @param message What failed, as in `Cannot fetch URL: why`.
   * @param options Its cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FetchError";
  }
}

/**
 * Fetches `url` and gives its body as text.
 *
 * @param url The URL to GET.
 * @param timeoutMs How long it may take, its whole body included.
 * @param signal Stops it (another URL of the crawl failed).
 * @returns The body.
 * @throws {FetchError} If there is no answer, or its status is not 2xx.
 */
export async function fetchText(
  url: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
  signal?: AbortSignal,
): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const stop = () => controller.abort(signal!.reason);
  signal?.addEventListener("abort", stop);
  const failed = (error: unknown) =>
    signal?.aborted
      ? new FetchError(`Cannot fetch ${url}: stopped`, { cause: error })
      : controller.signal.aborted
      ? new FetchError(`Cannot fetch ${url}: no answer within ${timeoutMs} ms`, { cause: error })
      : fetchFailed(url, error);
  try {
    signal?.throwIfAborted();
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (error) {
      throw failed(error);
    }
    let body: string;
    try {
      body = await response.text();
    } catch (error) {
      // The answer was cut short (the server closed mid-body), came garbled, or too late.
      throw failed(error);
    }
    if (!response.ok) {
      throw new FetchError(`Cannot fetch ${url}: HTTP status ${response.status}`);
    }
    return body;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
  }
}

/** How long a URL may take, its whole body included, unless `--timeout` says otherwise. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** What `fetch`, or reading its body, failed with, said in one line that names `url`. */
function fetchFailed(url: string, error: unknown): FetchError {
  // `fetch` says why in a TypeError ("fetch failed"), and what failed in its cause.
  const cause = (error as Error).cause;
  const why =
    (cause instanceof Error ? cause.message.replace(/.*: /, "") : (error as Error).message)
      .replace(/\s*\(os error \d+\)$/, "");
  return new FetchError(`Cannot fetch ${url}: ${why[0].toLowerCase()}${why.slice(1)}`, {
    cause: error,
  });
}

/** What a Worker is asked to fetch. */
export interface FetchRequest {
  url: string;
  timeoutMs: number;
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<FetchRequest>) => void) | null;
  postMessage(message: FetchReply): void;
}

if ("WorkerGlobalScope" in globalThis) {
  // In a Worker `import.meta.main` is true too, so this test comes first.
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = async (event) => {
    try {
      const { url, timeoutMs } = event.data;
      scope.postMessage({ ok: true, body: await fetchText(url, timeoutMs) });
    } catch (error) {
      scope.postMessage({ ok: false, error: (error as Error).message ?? String(error) });
    }
  };
} else if (import.meta.main) {
  let text: string;
  try {
    text = await fetchText(Deno.args[0], Number(Deno.args[1] ?? DEFAULT_TIMEOUT_MS));
  } catch (error) {
    if (!(error instanceof FetchError)) throw error;
    console.error(error.message); // for the parent to pass on, without a stack trace
    Deno.exit(1);
  }
  const body = new TextEncoder().encode(text);
  for (let written = 0; written < body.length;) {
    written += await Deno.stdout.write(body.subarray(written));
  }
}
