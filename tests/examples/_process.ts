// Runs an example as a subprocess, the way a user would, and reads what it prints.

/** The absolute path of an example file, e.g. `examplePath("echo.ts")`. */
export function examplePath(name: string): string {
  return new URL(`../../examples/${name}`, import.meta.url).pathname;
}

/** What a finished example printed. */
export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run <permissions> examples/<name> <args>` to completion. An example still
 * running after `timeoutMs` is killed and the call fails (a guard against hanging, not a
 * timing assertion).
 *
 * @param name The example's file name.
 * @param permissions Its `--allow-*` flags (keep them minimal).
 * @param args Its arguments.
 * @param timeoutMs How long it may run.
 */
export async function runExample(
  name: string,
  permissions: string[],
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<Finished> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...permissions, examplePath(name), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: abort.signal,
  }).output().finally(() => clearTimeout(timer));
  if (abort.signal.aborted) {
    throw new Error(`${name} ${args.join(" ")} was still running after ${timeoutMs} ms`);
  }
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * A long-running example (a server): started, watched line by line, then stopped.
 * Use with `await using`, or call {@linkcode stop}.
 */
export class ExampleProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  #stderr = "";
  #wake: (() => void) | null = null;
  readonly #pumps: Promise<void>;
  #stopped: Finished | null = null;

  /**
   * Starts example `name` with Deno's `permissions` and its own `args`; as user `asUser`
   * if given (with `setpriv`, so the caller must be root), whose home and Deno cache are
   * that directory, which it must be able to write.
   */
  constructor(
    name: string,
    permissions: string[],
    args: string[] = [],
    asUser?: { uid: number; home: string },
  ) {
    const deno = ["run", "--quiet", ...permissions, examplePath(name), ...args];
    const [command, commandArgs] = asUser === undefined ? [Deno.execPath(), deno] : [
      "setpriv",
      [
        `--reuid=${asUser.uid}`,
        `--regid=${asUser.uid}`,
        "--clear-groups",
        Deno.execPath(),
        // The lock file is root's to write.
        ...deno.toSpliced(1, 0, "--no-lock"),
      ],
    ];
    this.#child = new Deno.Command(command, {
      args: commandArgs,
      env: asUser === undefined
        ? undefined
        : { HOME: asUser.home, DENO_DIR: `${asUser.home}/deno` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumps = Promise.all([this.#pumpStdout(), this.#pumpStderr()]).then(
      () => {},
    );
  }

  async #pumpStdout(): Promise<void> {
    let pending = "";
    for await (
      const text of this.#child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      pending += text;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      this.#lines.push(...parts);
      this.#wake?.();
    }
    if (pending) this.#lines.push(pending);
    this.#wake?.();
  }

  async #pumpStderr(): Promise<void> {
    for await (
      const text of this.#child.stderr.pipeThrough(new TextDecoderStream())
    ) this.#stderr += text;
  }

  /** Every stdout line so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /**
   * Waits until a stdout line matches `pattern` and gives its match. Fails if the process
   * ends first, or after `timeoutMs` (a guard against hanging, not a timing assertion).
   */
  async waitForLine(
    pattern: RegExp,
    timeoutMs = 20_000,
  ): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    const status = this.#child.status.then(() => {
      exited = true;
    });
    for (let seen = 0;;) {
      for (; seen < this.#lines.length; seen++) {
        const match = pattern.exec(this.#lines[seen]);
        if (match) return match;
      }
      if (exited || Date.now() > deadline) {
        throw new Error(
          `No line matched ${pattern} (${exited ? "process exited" : "timed out"})\n` +
            `stdout:\n${this.#lines.join("\n")}\nstderr:\n${this.#stderr}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((wake) => this.#wake = wake),
        status,
        new Promise<void>((wake) => timer = setTimeout(wake, 100)),
      ]);
      clearTimeout(timer);
      this.#wake = null;
    }
  }

  /** Waits for the `listening on HOST:PORT` line and gives the address. */
  async listening(): Promise<{ hostname: string; port: number }> {
    const match = await this.waitForLine(/listening on (\S+):(\d+)$/);
    return { hostname: match[1], port: Number(match[2]) };
  }

  /** Sends `signal` to the process. */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Sends SIGTERM, waits for the exit and for all output. */
  async stop(): Promise<Finished> {
    if (this.#stopped) return this.#stopped;
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    const { code } = await this.#child.status;
    await this.#pumps;
    this.#stopped = {
      code,
      stdout: this.#lines.join("\n"),
      stderr: this.#stderr,
    };
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Fails instead of hanging if `promise` takes longer than 10 s (a guard, not a timing test). */
export async function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} was stalled`)), 10_000);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
