// The settings of in-memory connections: options checked once, each end's chunking made
// from them (a seeded generator per end, so a seed replays), and the ports of their
// addresses.
import type { EndSettings } from "./_memory_transport.ts";
import type { MemoryPairOptions } from "./memory_connection.ts";
import { checkNumberOption, checkOptionsObject, named } from "./_checks.ts";

let nextPort = 49152;

/** Gives a port number for the next in-memory address. */
export function memoryPort(): number {
  const port = nextPort;
  nextPort = nextPort === 65535 ? 49152 : nextPort + 1;
  return port;
}

/** Checks `options` and gives the settings of an end, and the latency. */
export function memorySettings(
  given: MemoryPairOptions | null | undefined,
  action: string,
): { settings: () => EndSettings; latency: number } {
  checkOptionsObject(given, action);
  const options = given ?? {};
  const bufferSize = options.bufferSize ?? 65536;
  checkNumberOption(bufferSize, action, "bufferSize");
  if (!Number.isInteger(bufferSize) || bufferSize < 1) {
    throw new RangeError(
      `${action}: bufferSize must be a positive integer, got ${bufferSize}`,
    );
  }
  const latency = options.latency ?? 0;
  checkNumberOption(latency, action, "latency");
  if (!(latency >= 0) || !Number.isFinite(latency)) {
    throw new RangeError(
      `${action}: latency must be a non-negative finite number of milliseconds, got ${latency}`,
    );
  }
  const sizes = options.chunkSizes;
  const seed = options.chunkSeed;
  const maxChunk = options.maxChunk ?? 16;
  if (sizes !== undefined) {
    if (!Array.isArray(sizes)) {
      throw new TypeError(`${action}: chunkSizes must be an array, got ${named(sizes)}`);
    }
    if (sizes.length === 0) {
      throw new RangeError(`${action}: chunkSizes must not be empty`);
    }
    const notNumber = sizes.findIndex((size) => typeof size !== "number");
    if (notNumber >= 0) {
      throw new TypeError(
        `${action}: chunkSizes must be numbers, got ${
          named(sizes[notNumber])
        } at index ${notNumber}`,
      );
    }
    const bad = sizes.findIndex((size) => !Number.isInteger(size) || size <= 0);
    if (bad >= 0) {
      throw new RangeError(
        `${action}: chunkSizes must be positive integers, got ${named(sizes[bad])} at index ${bad}`,
      );
    }
  } else if (seed !== undefined) {
    checkNumberOption(seed, action, "chunkSeed");
    if (!Number.isInteger(seed)) {
      throw new RangeError(`${action}: chunkSeed must be an integer, got ${seed}`);
    }
  }
  // Checked when given, even where it is not used (no seed): a typo must not pass for a
  // setting.
  if (options.maxChunk != null || seed !== undefined) {
    checkNumberOption(maxChunk, action, "maxChunk");
    if (!Number.isInteger(maxChunk) || maxChunk < 1) {
      throw new RangeError(
        `${action}: maxChunk must be a positive integer, got ${maxChunk}`,
      );
    }
  }
  const settings = (): EndSettings => {
    let chunk: (() => number) | null = null;
    if (sizes !== undefined) {
      const list = [...sizes];
      let i = 0;
      chunk = () => list[i++ % list.length];
    } else if (seed !== undefined) {
      const random = mulberry32(seed);
      chunk = () => 1 + Math.floor(random() * maxChunk);
    }
    return { bufferSize, chunk };
  };
  return { settings, latency };
}

/** A small seeded random generator (Mulberry32): the same seed, the same numbers. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
