// The command layer of examples/kv.ts: the keyspace, expiry, blocking list pops and
// publish/subscribe, with no sockets in sight. A `Client` executes one request at a time
// and appends its reply, byte for byte as Redis 7 gives it, to its `out` buffer; the socket
// layer writes that buffer. Time comes from the clock passed in, and expiry runs on the
// scheduler's timers, so tests drive all of it under a VirtualClock.
//
// A published message goes into the mailbox (a `Channel`) of each subscriber whose channels
// or patterns match it, as Redis appends it to each one's output buffer: a subscriber sees
// its messages in the order they were published, and only its own count against its
// limits. Its connection takes them as they come, and every one waiting before each of its
// commands, so that its replies and its messages keep Redis's order and a message reaches
// exactly the clients that PUBLISH counted.
import { Channel, type Coroutine, sleep } from "../scheduler/mod.ts";
import { getHeapStatistics } from "node:v8";
import { Deque } from "./_kv_deque.ts";
import { globMatch } from "./_kv_glob.ts";
import { PROTO_MAX_BULK_LEN, ProtocolError, ReplyBuffer, type RequestParser } from "./_kv_resp.ts";
import { FOREVER, Wakeup } from "./_kv_wakeup.ts";
import { parseTimeout } from "./_kv_timeout.ts";

/**
 * A source of time in milliseconds: `performance`, or a `VirtualClock`.
 *
 * @example A database on a run's virtual clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { VirtualClock } from "../scheduler/mod.ts";
 * import { type Clock, Database } from "./_kv_db.ts";
 *
 * const clock: Clock = new VirtualClock(1000);
 * assert.equal(new Database({ clock }).clock.now(), 1000);
 * ```
 */
export interface Clock {
  /** The current time in milliseconds. */
  now(): number;
}

/**
 * Options for {@linkcode Database}.
 *
 * @example A database that closes clients idle for a second
 * ```ts
 * import assert from "node:assert/strict";
 * import { kill, run, sleep, spawn, VirtualClock } from "../scheduler/mod.ts";
 * import { Database, type DatabaseOptions } from "./_kv_db.ts";
 *
 * const clock = new VirtualClock();
 * const options: DatabaseOptions = { clock, idleTimeout: 1000, pubsubLimit: 1000 };
 * const db = new Database(options);
 * const client = db.connect();
 * let closedAt = -1;
 * client.onKill = () => closedAt = clock.now();
 * await run(function* () {
 *   const sweep = yield* spawn(db.expireCycle());
 *   yield* sleep(2000);
 *   yield* kill(sweep);
 * }(), { clock });
 * assert.equal(closedAt, 1100); // the first round of the sweep past the limit
 * ```
 */
export interface DatabaseOptions {
  /**
   * Where time comes from; pass the run's `VirtualClock` in tests.
   *
   * @default {performance}
   */
  clock?: Clock;
  /**
   * How many published messages a subscriber may fall behind (its connection has not
   * taken them yet, because its writes stopped draining); one more and it is disconnected,
   * as Redis's `client-output-buffer-limit pubsub` does by bytes. A message counts once per
   * reply it makes there: once per channel or pattern of the subscriber's that it
   * matches. Only the messages it gets count: traffic on channels it did not join never
   * drops it. Publishers never wait for subscribers.
   *
   * @default {1000000}
   */
  pubsubLimit?: number;
  /**
   * How many bytes of messages a subscriber may fall behind, as Redis's hard
   * `client-output-buffer-limit pubsub 32mb`: the replies the messages it has not taken
   * yet will make (to the byte: one per channel or pattern of its that matches) and its
   * replies not yet written. One byte more and it is
   * disconnected, so a subscriber that never reads pins at most this much, however big
   * the messages. Checked on every publish, for the subscribers of that message. 0 sets
   * no limit in bytes (`pubsubLimit`, in messages, still holds), as in Redis.
   *
   * @default {33554432}
   */
  pubsubBufferLimit?: number;
  /**
   * Redis's `maxmemory` with its `noeviction` policy: once the data set takes more than
   * this many bytes, commands that add data (SET, APPEND, RPUSH...) get Redis's OOM error,
   * while reads and deletes go on. Values are strings on V8's heap, and a Deno process
   * dies once that heap reaches its limit (about 4 GiB unless `--v8-flags=
   * --max-old-space-size` says otherwise), so this keeps it off that cliff. The data set
   * counts its keys' and values' bytes, with an estimate of V8's overhead for each key
   * and list item. Once it is a quarter of the limit or more, V8's heap counts too, looked
   * at once per MiB of arguments written (and on every write while over), so the limit
   * may be passed by one megabyte or one big value. A deleted value counts no more at
   * once, though V8 may hold it for long before it collects it. 0 sets no limit.
   *
   * What clients hold counts too: the channels and patterns subscribed to, the keys
   * blocked clients wait on, and the messages subscribers have yet to take. Past the
   * limit, SUBSCRIBE and a BLPOP that would wait are refused as writes are; and while the
   * messages waiting are half of what counts or more, a subscriber at least as far behind
   * as the average is dropped as a message reaches it.
   *
   * @default {three quarters of what V8's heap_size_limit leaves the old generation}
   */
  maxmemory?: number;
  /**
   * The most keys the key space holds: a write that could take it past this many (one key
   * per two arguments, a conservative count) gets an OOM error, whole, before it changes
   * anything. V8's `Map` holds at most 2^24 entries, and one more throws.
   *
   * @default {16777216}
   */
  maxKeys?: number;
  /**
   * Gives how many bytes V8's heap uses now: for tests, which say what it is.
   *
   * @default {node:v8's getHeapStatistics().used_heap_size}
   */
  heapUsed?: () => number;
  /**
   * Close clients idle for this many milliseconds (Redis's `timeout`); 0 never does.
   * Blocked clients and subscribers are exempt, as in Redis.
   *
   * @default {0}
   */
  idleTimeout?: number;
}

const WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INTEGER = "ERR value is not an integer or out of range";
const SYNTAX = "ERR syntax error";
const OVERFLOW = "ERR increment or decrement would overflow";
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** The longest string value: what a bulk string may be (see PROTO_MAX_BULK_LEN). */
const BULK_MAX = PROTO_MAX_BULK_LEN;
/** The most entries a V8 `Map` holds. */
const MAP_MAX_SIZE = 2 ** 24;
/** How many bytes of arguments writes may bring between two looks at the heap's size. */
const MEMORY_CHECK_BYTES = 1024 * 1024;
/**
 * What a key is counted beyond its name's and value's bytes, as an estimate of what V8
 * spends on it (its entry in the map, its Entry object, its strings' headers).
 */
const KEY_OVERHEAD = 96;
/**
 * What a key a blocked client waits on is counted beyond its bytes: its entries in the
 * client's set and in the map of waiting queues, and its queue (about 260 bytes a key in
 * all, measured with 500,000-key BLPOPs).
 */
const BLOCKED_KEY_OVERHEAD = 224;
/**
 * What a reply to a message waiting in a mailbox is counted: its slot in the mailbox's
 * queue, which doubles as it grows (the message itself is shared by its subscribers).
 */
const MAILBOX_ENTRY_BYTES = 24;
/** Redis's error for a command refused past `maxmemory`. */
const OOM = "OOM command not allowed when used memory > 'maxmemory'.";
/** What an APPEND adds beyond its bytes: the node V8 joins the two strings with. */
const JOIN_OVERHEAD = 32;
/**
 * The data set's share of `maxmemory` below which V8's heap is not looked at: what the
 * estimate leaves out is well under four times what it counts, and the heap holds what
 * was deleted until V8 collects it, which it may not do for long once writes stop.
 */
const HEAP_LOOK_SHARE = 1 / 4;
/** What V8's heap_size_limit holds for the young generation, by default. */
const YOUNG_GENERATION = 96 * 1024 * 1024;
/** How many bytes of replies a subscriber's messages are taken into before a write. */
const TAKE_BATCH_BYTES = 64 * 1024;
/** How often the expiry sweep runs (Redis's `hz` 10). */
const SWEEP_INTERVAL = 100;
/** How many keys with a time to live the sweep looks at before it decides to go on. */
const SWEEP_BATCH = 200;
/**
 * The real milliseconds one round of the sweep may take: 25% of its interval, as Redis's
 * `ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC`. Real time, whatever clock expiry uses, since it
 * is the CPU that this bounds.
 */
const SWEEP_TIME = 25;

/** One key's value: a string, or a list. */
class Entry {
  value: string;
  list: Deque | null;
  /**
   * When the key expires on the database's clock, in whole milliseconds as Redis keeps
   * it; 0 for never. Past 2^53 a double rounds it, so the exact deadline is then kept in
   * `farExpiresAt` too, for TTL, PTTL and EXPIRE's GT and LT (expiry itself is centuries
   * away).
   */
  expiresAt = 0;
  farExpiresAt: bigint | null = null;
  /** Bytes the data set counts for the value beyond its length: APPEND's joins. */
  joins = 0;

  constructor(value: string, list: Deque | null) {
    this.value = value;
    this.list = list;
  }
}

/** A client waiting in BLPOP/BRPOP. */
interface Blocked {
  client: Client;
  keys: string[];
  left: boolean;
  /** What it was given, until the socket layer confirms it was sent. */
  served: { key: string; value: string } | null;
  /** Whether it is in the queues of its keys (and its keys count against maxmemory). */
  queued: boolean;
}

/** Parses a 64-bit integer as Redis's `string2ll` does: strict, or `null`. */
function parseInt64(text: string): bigint | null {
  if (!/^(0|-?[1-9][0-9]{0,18})$/.test(text)) return null;
  const value = BigInt(text);
  return value < INT64_MIN || value > INT64_MAX ? null : value;
}

/** A small non-negative integer argument, or `null`. */
function parseCount(text: string): number | null {
  const value = parseInt64(text);
  return value === null ? null : Number(value);
}

/**
 * The shared state of a kv server: keys, values, expiry, blocked clients and
 * subscriptions. Clients made by {@linkcode Database.connect} execute commands on it.
 *
 * @example Commands and their replies
 * ```ts
 * import assert from "node:assert/strict";
 * import { Database } from "./_kv_db.ts";
 *
 * const db = new Database();
 * const client = db.connect();
 * client.execute(["SET", "greeting", "hello"]);
 * client.execute(["GET", "greeting"]);
 * client.execute(["INCR", "greeting"]);
 * assert.equal(
 *   new TextDecoder().decode(client.out.bytes()),
 *   "+OK\r\n$5\r\nhello\r\n-ERR value is not an integer or out of range\r\n",
 * );
 * ```
 */
export class Database {
  /** The clock that expiry and timeouts use. */
  readonly clock: Clock;
  readonly #idleTimeout: number;
  readonly #keys = new Map<string, Entry>();
  /** The keys with a time to live, for the sweep. */
  readonly #volatile = new Map<string, Entry>();
  #sweep: Iterator<[string, Entry]> | null = null;
  /** Wakes the sweep when a key gets a time to live. */
  readonly #expiring = new Wakeup();
  /** Per key, the clients blocked on it, first come first served. */
  readonly #blocked = new Map<string, Blocked[]>();
  readonly #channels = new Map<string, Set<Client>>();
  readonly #patterns = new Map<string, Set<Client>>();
  readonly #clients = new Set<Client>();
  /** The clients with a mailbox: those subscribed to a channel or pattern. */
  readonly #listeners = new Set<Client>();
  readonly #pubsubLimit: number;
  /** See {@linkcode DatabaseOptions.maxKeys}. */
  readonly maxKeys: number;
  readonly #pubsubBufferLimit: number;
  /** Numbers each PUBLISH, so that a subscriber matched more than once gets it once. */
  #published = 0;
  /**
   * Redis's `maxmemory`: the heap's size past which writes are refused; 0 for none.
   * `CONFIG SET maxmemory` changes it.
   */
  maxmemory: number;
  /** Bytes of arguments written since the heap was last looked at: the first write looks. */
  #sinceMemoryCheck = MEMORY_CHECK_BYTES;
  #overMemory = false;
  readonly #heapUsed: () => number;
  /** The heap as last looked at. */
  #heapSeen = 0;
  /**
   * The most the data set counted since the heap last shrank (V8 collected): what it
   * counts less now was freed since, and is held against no write (see `outOfMemory`).
   */
  #usagePeak = 0;
  /** What subscriptions hold: each channel or pattern a client joined, as a key counts. */
  #subscriptionBytes = 0;
  /**
   * What blocked clients hold: each key one waits on, with BLOCKED_KEY_OVERHEAD. A single
   * BLPOP can name half a million keys, which its request's share of the query budget
   * counts only while it is parsed and run.
   */
  #blockedBytes = 0;
  /** How many replies to messages wait in subscribers' mailboxes, all told. */
  #mailboxEntries = 0;
  /**
   * The data set's size: its keys' and values' bytes, with KEY_OVERHEAD for each key and
   * ITEM_OVERHEAD for each list item (lists count theirs into it themselves). A new one
   * on FLUSHALL, so that a list let go then counts nothing more.
   */
  #usage = { bytes: 0 };

  /**
   * Creates an empty database.
   *
   * @param options The clock, and limits.
   * @throws {RangeError} If `pubsubBufferLimit`, `maxmemory` or `idleTimeout` is not a
   * non-negative number.
   */
  constructor(options: DatabaseOptions = {}) {
    for (const name of ["pubsubLimit", "pubsubBufferLimit", "maxmemory", "idleTimeout"] as const) {
      const value = options[name];
      if (value !== undefined && !(value >= 0 && value < Infinity)) {
        throw new RangeError(
          `Cannot create database: ${name} must be a non-negative number, got ${value}`,
        );
      }
    }
    this.clock = options.clock ?? performance;
    this.#pubsubLimit = options.pubsubLimit ?? 1_000_000;
    this.maxKeys = options.maxKeys ?? MAP_MAX_SIZE;
    this.#idleTimeout = options.idleTimeout ?? 0;
    this.#pubsubBufferLimit = options.pubsubBufferLimit ?? 32 * 1024 * 1024;
    // The limit counts the young generation too, where values do not stay: 96 MiB by
    // default, which is most of a small heap (`--max-old-space-size=256`).
    const heapLimit = getHeapStatistics().heap_size_limit;
    this.maxmemory = options.maxmemory ??
      Math.floor(Math.max(heapLimit - YOUNG_GENERATION, heapLimit / 2) * 0.75);
    this.#heapUsed = options.heapUsed ?? (() => getHeapStatistics().used_heap_size);
  }

  /**
   * Whether a command that adds data must be refused: the data set is over `maxmemory`,
   * or a quarter of it or more, with V8's heap over it. Looking at the heap costs little, but
   * not nothing: it is done once per MiB of arguments written, and on every write while
   * over (so that writes resume once the memory was freed).
   *
   * @internal
   */
  outOfMemory(args: string[]): boolean {
    if (this.maxmemory === 0) return false;
    const stored = this.#stored();
    if (stored > this.maxmemory) return true;
    if (stored < this.maxmemory * HEAP_LOOK_SHARE) return false;
    let bytes = 64 * args.length;
    for (let i = 0; i < args.length; i++) bytes += args[i].length;
    this.#sinceMemoryCheck += bytes;
    if (this.#overMemory || this.#sinceMemoryCheck >= MEMORY_CHECK_BYTES) {
      this.#sinceMemoryCheck = 0;
      const heap = this.#heapUsed();
      // V8 holds what was deleted until it collects, which an idle server may not do for
      // long: what the data set counted less since the heap last shrank is not held
      // against a write. (Missed collections only make this count less than it could.)
      if (heap < this.#heapSeen) this.#usagePeak = stored;
      this.#heapSeen = heap;
      this.#usagePeak = Math.max(this.#usagePeak, stored);
      this.#overMemory = heap - (this.#usagePeak - stored) > this.maxmemory;
    }
    return this.#overMemory;
  }

  /**
   * Whether a write with `args` could take the key space past `maxKeys`: it would fail
   * half done, at V8's limit, rather than refuse.
   *
   * @internal
   */
  outOfKeys(args: string[]): boolean {
    return this.#keys.size + Math.ceil((args.length - 1) / 2) > this.maxKeys;
  }

  /** What counts against maxmemory, V8's heap apart. */
  #stored(): number {
    return this.#usage.bytes + this.#subscriptionBytes + this.#blockedBytes +
      this.#mailboxEntries * MAILBOX_ENTRY_BYTES;
  }

  /**
   * How many replies to messages wait in subscribers' mailboxes, all told.
   *
   * @internal
   */
  get mailboxEntries(): number {
    return this.#mailboxEntries;
  }

  /** A reply to a message went into a mailbox. @internal */
  mailboxGrew(): void {
    this.#mailboxEntries++;
  }

  /** `n` replies left mailboxes (taken, or their subscriber dropped). @internal */
  mailboxShrank(n: number): void {
    this.#mailboxEntries -= n;
  }

  /**
   * Whether what counts against maxmemory is past it, with subscribers' mailboxes holding
   * half of it or more: dropping those behind then frees what matters. Past it for the
   * data set's sake, dropping them would free next to nothing. (V8's heap apart: this is
   * asked once per message per subscriber.)
   *
   * @internal
   */
  mailboxesPastMemory(): boolean {
    if (this.maxmemory === 0) return false;
    const stored = this.#stored();
    return stored > this.maxmemory && 2 * this.#mailboxEntries * MAILBOX_ENTRY_BYTES >= stored;
  }

  /**
   * What blocked clients' keys count against maxmemory now.
   *
   * @internal
   */
  get blockedBytes(): number {
    return this.#blockedBytes;
  }

  /** See {@linkcode DatabaseOptions.pubsubBufferLimit}. */
  get pubsubBufferLimit(): number {
    return this.#pubsubBufferLimit;
  }

  /** How many clients are subscribed to a channel or pattern, and hold a mailbox. */
  get subscribers(): number {
    return this.#listeners.size;
  }

  /** @internal */
  listening(client: Client, on: boolean): void {
    if (on) this.#listeners.add(client);
    else this.#listeners.delete(client);
  }

  /**
   * A new client session.
   *
   * @returns The client.
   */
  connect(): Client {
    const client = new Client(this);
    this.#clients.add(client);
    return client;
  }

  /**
   * Ends a client's session: its subscriptions go, and if it was blocked, it leaves the
   * queue; a value it was handed but never sent goes back to its list, for the next in
   * line.
   *
   * @param client The client.
   */
  disconnect(client: Client): void {
    this.#clients.delete(client);
    this.#unsubscribeAll(client, false);
    this.#unsubscribeAll(client, true);
    client.unlisten();
    const blocked = client.blocked;
    if (blocked === null) return;
    client.blocked = null;
    this.#unblock(blocked);
    if (blocked.served !== null) {
      const { key, value } = blocked.served;
      let entry = this.#lookup(key);
      if (entry === undefined) {
        entry = new Entry("", new Deque(this.#usage));
        this.#add(key, entry);
      }
      if (entry.list === null) return; // the key became a string meanwhile
      if (blocked.left) entry.list.unshift(value);
      else entry.list.push(value);
      this.#serveBlocked(key);
    }
  }

  /**
   * The expiry sweep: every 100 ms, looks at keys with a time to live, 200 at a time, and
   * deletes those past it, going on while more than one in ten of a batch had expired and
   * for at most 25 ms, as Redis's active expiry does (so expired keys cannot pile up
   * however fast keys with a short time to live are written); and closes idle clients. It
   * serves every client and runs until killed, so start it once, beside the server: not
   * from a client's handler, whose threads end with its connection. While there is
   * nothing to sweep, it waits for a key to get a time to live with no timer pending,
   * which spares the kernel a look at the clock per I/O wake-up.
   */
  *expireCycle(): Coroutine<void> {
    for (;;) {
      if (this.#volatile.size === 0 && this.#idleTimeout === 0) {
        yield* this.#expiring.wait(FOREVER);
      }
      yield* sleep(SWEEP_INTERVAL);
      this.sweep();
    }
  }

  /** One round of the sweep (see {@linkcode Database.expireCycle}). */
  sweep(): void {
    const now = this.#now();
    const started = performance.now();
    for (;;) {
      let checked = 0;
      let expired = 0;
      while (checked < SWEEP_BATCH && this.#volatile.size > 0) {
        this.#sweep ??= this.#volatile.entries();
        const step = this.#sweep.next();
        if (step.done) {
          this.#sweep = null; // the next batch starts again from the first
          break;
        }
        checked++;
        const [key, entry] = step.value;
        if (entry.expiresAt <= now) {
          this.#delete(key);
          expired++;
        }
      }
      // Few expired keys left to find (Redis accepts 10%), or out of time: next round.
      if (expired * 10 <= checked || performance.now() - started >= SWEEP_TIME) break;
    }
    if (this.#idleTimeout > 0) {
      for (const client of this.#clients) {
        // The socket layer only raises a flag on each read and each write that moved
        // bytes (reading the clock there would cost more than the rest of a GET); the
        // sweep turns it into a time. Blocked clients and subscribers are exempt, as in
        // Redis: their idle time starts once they are neither. A client served is no longer
        // blocked, though its reply may still wait to be written (to a client that never
        // reads): closed, it gives the value back (see `disconnect`).
        const waiting = client.blocked !== null && client.blocked.served === null;
        if (client.active || waiting || client.subscribed) {
          client.active = false;
          client.lastActive = now;
        } else if (now - client.lastActive > this.#idleTimeout) {
          client.kill();
        }
      }
    }
  }

  // The keyspace.

  /**
   * The time in whole milliseconds, as Redis's `mstime()`: deadlines are set from it, so
   * that a PTTL gives exactly what PEXPIRE set, and two deadlines set in one millisecond
   * are equal. (A whole-millisecond deadline compares with the clock's fractional time as
   * with this.)
   */
  #now(): number {
    return Math.floor(this.clock.now());
  }

  #lookup(key: string): Entry | undefined {
    const entry = this.#keys.get(key);
    if (entry !== undefined && entry.expiresAt !== 0 && entry.expiresAt <= this.clock.now()) {
      this.#delete(key);
      return undefined;
    }
    return entry;
  }

  /** Adds a key that is not there, and counts it (see `#usage`). */
  #add(key: string, entry: Entry): void {
    this.#keys.set(key, entry);
    this.#usage.bytes += KEY_OVERHEAD + key.length + entry.value.length;
  }

  #delete(key: string): boolean {
    const entry = this.#keys.get(key);
    if (entry === undefined) return false;
    this.#keys.delete(key);
    const list = entry.list;
    this.#usage.bytes -= KEY_OVERHEAD + key.length +
      (list === null ? entry.value.length + entry.joins : list.bytes);
    if (entry.expiresAt !== 0) this.#volatile.delete(key);
    return true;
  }

  #setExpiry(key: string, entry: Entry, at: bigint): void {
    entry.expiresAt = Number(at);
    entry.farExpiresAt = at > MAX_SAFE ? at : null;
    if (at === 0n) {
      this.#volatile.delete(key);
    } else {
      this.#volatile.set(key, entry);
      this.#expiring.wake();
    }
  }

  #setString(key: string, value: string, keepTtl: boolean): Entry {
    let entry = this.#keys.get(key);
    if (entry === undefined) {
      entry = new Entry(value, null);
      this.#add(key, entry);
      return entry;
    }
    const list = entry.list;
    this.#usage.bytes += value.length -
      (list === null ? entry.value.length + entry.joins : list.bytes);
    entry.value = value;
    entry.joins = 0;
    entry.list = null;
    if (!keepTtl && entry.expiresAt !== 0) this.#setExpiry(key, entry, 0n);
    return entry;
  }

  // Commands. Each appends its reply to `client.out`.

  /** @internal */
  get(client: Client, key: string): void {
    const entry = this.#lookup(key);
    if (entry === undefined) client.out.nullBulk();
    else if (entry.list !== null) client.out.error(WRONGTYPE);
    else client.out.bulk(entry.value);
  }

  /** @internal */
  set(client: Client, args: string[]): void {
    const out = client.out;
    if (args.length === 3) {
      this.#setString(args[1], args[2], false);
      out.ok();
      return;
    }
    let condition = "";
    let expiry = "";
    let amount = "";
    let get = false;
    // An option may come again (the last time to live wins), as in Redis; only options
    // that conflict are refused.
    for (let i = 3; i < args.length; i++) {
      const option = args[i].toUpperCase();
      if ((option === "NX" || option === "XX") && (condition === "" || condition === option)) {
        condition = option;
      } else if (option === "GET") {
        get = true;
      } else if (option === "KEEPTTL" && (expiry === "" || expiry === option)) {
        expiry = option;
      } else if (
        (option === "EX" || option === "PX" || option === "EXAT" || option === "PXAT") &&
        (expiry === "" || expiry === option) && i + 1 < args.length
      ) {
        expiry = option;
        amount = args[++i];
      } else {
        out.error(SYNTAX);
        return;
      }
    }
    let expiresAt: bigint | null = null;
    if (expiry !== "" && expiry !== "KEEPTTL") {
      const at = expiry.endsWith("AT")
        ? this.#deadlineAt(amount, expiry === "EXAT")
        : this.#deadline(amount, expiry === "EX", true);
      if (typeof at === "string") {
        out.error(at === "invalid" ? "ERR invalid expire time in 'set' command" : at);
        return;
      }
      expiresAt = at;
    }
    const entry = this.#lookup(args[1]);
    if (get && entry?.list) {
      out.error(WRONGTYPE);
      return;
    }
    const old = entry?.value;
    if ((condition === "NX" && entry) || (condition === "XX" && !entry)) {
      if (get && old !== undefined) out.bulk(old);
      else out.nullBulk();
      return;
    }
    const stored = this.#setString(args[1], args[2], expiry === "KEEPTTL");
    // A Unix time passed already (EXAT, PXAT): set, and gone at once, as in Redis.
    if (expiresAt !== null && expiresAt <= BigInt(this.#now())) this.#delete(args[1]);
    else if (expiresAt !== null) this.#setExpiry(args[1], stored, expiresAt);
    if (!get) out.ok();
    else if (old === undefined) out.nullBulk();
    else out.bulk(old);
  }

  /**
   * When a time to live of `text` seconds (or milliseconds) from now ends, on our clock;
   * or `"invalid"` (Redis's "invalid expire time"), or another error to reply.
   */
  #deadline(text: string, seconds: boolean, mustBePositive: boolean): bigint | string {
    const amount = parseInt64(text);
    if (amount === null) return NOT_INTEGER;
    if (mustBePositive && amount <= 0n) return "invalid";
    const limit = INT64_MAX / 1000n;
    if (seconds && (amount > limit || amount < -limit)) return "invalid";
    const ms = seconds ? amount * 1000n : amount;
    // Redis adds the Unix time in milliseconds and refuses what overflows 64 bits.
    if (ms > INT64_MAX - BigInt(Date.now())) return "invalid";
    return BigInt(this.#now()) + ms;
  }

  /**
   * When a Unix time of `text` seconds (or milliseconds) comes, on our clock (it may have
   * passed already); or as `#deadline` says.
   */
  #deadlineAt(text: string, seconds: boolean): bigint | string {
    const amount = parseInt64(text);
    if (amount === null) return NOT_INTEGER;
    if (amount <= 0n || (seconds && amount > INT64_MAX / 1000n)) return "invalid";
    return (seconds ? amount * 1000n : amount) - BigInt(Date.now()) + BigInt(this.#now());
  }

  /** @internal */
  mget(client: Client, args: string[]): void {
    client.out.array(args.length - 1);
    for (let i = 1; i < args.length; i++) {
      const entry = this.#lookup(args[i]);
      if (entry === undefined || entry.list !== null) client.out.nullBulk();
      else client.out.bulk(entry.value);
    }
  }

  /** @internal */
  mset(client: Client, args: string[]): void {
    if (args.length % 2 === 0) {
      client.out.error("ERR wrong number of arguments for 'mset' command");
      return;
    }
    for (let i = 1; i < args.length; i += 2) this.#setString(args[i], args[i + 1], false);
    client.out.ok();
  }

  /** @internal */
  incrBy(client: Client, key: string, by: bigint | null): void {
    if (by === null) {
      client.out.error(NOT_INTEGER);
      return;
    }
    const entry = this.#lookup(key);
    if (entry?.list) {
      client.out.error(WRONGTYPE);
      return;
    }
    const current = entry === undefined ? 0n : parseInt64(entry.value);
    if (current === null) {
      client.out.error(NOT_INTEGER);
      return;
    }
    const result = current + by;
    if (result < INT64_MIN || result > INT64_MAX) {
      client.out.error(OVERFLOW);
      return;
    }
    this.#setString(key, String(result), true);
    client.out.integer(result);
  }

  /** @internal */
  append(client: Client, key: string, suffix: string): void {
    const entry = this.#lookup(key);
    if (entry?.list) {
      client.out.error(WRONGTYPE);
      return;
    }
    const current = entry?.value ?? "";
    // Checked before the join: past V8's longest string, `+` throws a RangeError.
    if (current.length + suffix.length > BULK_MAX) {
      client.out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
      return;
    }
    const value = current + suffix;
    const joins = entry === undefined || current.length === 0 ? 0 : entry.joins + JOIN_OVERHEAD;
    const stored = this.#setString(key, value, true);
    // V8 joins strings without copying: each APPEND adds a node of its own to the value.
    stored.joins = joins;
    this.#usage.bytes += joins;
    client.out.integer(value.length);
  }

  /** @internal */
  strlen(client: Client, key: string): void {
    const entry = this.#lookup(key);
    if (entry?.list) client.out.error(WRONGTYPE);
    else client.out.integer(entry?.value.length ?? 0);
  }

  /** @internal */
  exists(client: Client, args: string[]): void {
    let count = 0;
    for (let i = 1; i < args.length; i++) if (this.#lookup(args[i]) !== undefined) count++;
    client.out.integer(count);
  }

  /** @internal */
  del(client: Client, args: string[]): void {
    let count = 0;
    for (let i = 1; i < args.length; i++) {
      if (this.#lookup(args[i]) !== undefined && this.#delete(args[i])) count++;
    }
    client.out.integer(count);
  }

  /** @internal */
  type(client: Client, key: string): void {
    const entry = this.#lookup(key);
    client.out.simple(entry === undefined ? "none" : entry.list ? "list" : "string");
  }

  /** @internal */
  keys(client: Client, pattern: string): void {
    const matched: string[] = [];
    const now = this.clock.now();
    for (const [key, entry] of this.#keys) {
      if (entry.expiresAt !== 0 && entry.expiresAt <= now) continue;
      if (pattern === "*" || globMatch(pattern, key)) matched.push(key);
    }
    client.out.array(matched.length);
    for (const key of matched) client.out.bulk(key);
  }

  /**
   * INFO, the sections that mean something here (Redis's has many more fields).
   *
   * @internal
   */
  info(client: Client, args: string[]): void {
    const wanted = args.length === 1 ? ["server", "clients", "keyspace"] : args.slice(1)
      .map((section) => section.toLowerCase());
    const all = wanted.includes("all") || wanted.includes("everything") ||
      wanted.includes("default");
    const sections: string[] = [];
    if (all || wanted.includes("server")) {
      sections.push("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n");
    }
    if (all || wanted.includes("clients")) {
      let blocked = 0;
      for (const c of this.#clients) if (c.blocked !== null && c.blocked.served === null) blocked++;
      sections.push(
        `# Clients\r\nconnected_clients:${this.#clients.size}\r\n` +
          `blocked_clients:${blocked}\r\n`,
      );
    }
    if (all || wanted.includes("keyspace")) {
      const keys = this.#keys.size;
      const line = keys > 0 ? `db0:keys=${keys},expires=${this.#volatile.size},avg_ttl=0\r\n` : "";
      sections.push(`# Keyspace\r\n${line}`);
    }
    client.out.bulk(sections.join("\r\n"));
  }

  /** @internal */
  dbsize(client: Client): void {
    client.out.integer(this.#keys.size);
  }

  /** @internal */
  flush(client: Client, args: string[]): void {
    const mode = args[1]?.toUpperCase();
    if (args.length > 2 || (mode !== undefined && mode !== "ASYNC" && mode !== "SYNC")) {
      client.out.error(SYNTAX);
      return;
    }
    this.#keys.clear();
    this.#usage = { bytes: 0 };
    this.#volatile.clear();
    this.#sweep = null;
    client.out.ok();
  }

  /** @internal */
  expire(client: Client, args: string[], seconds: boolean): void {
    const name = args[0].toLowerCase() === "expire" ? "expire" : "pexpire";
    let nx = false, xx = false, gt = false, lt = false;
    for (let i = 3; i < args.length; i++) {
      const option = args[i].toUpperCase();
      if (option === "NX") nx = true;
      else if (option === "XX") xx = true;
      else if (option === "GT") gt = true;
      else if (option === "LT") lt = true;
      else {
        client.out.errorQuoting("ERR Unsupported option ", args[i]);
        return;
      }
    }
    if (nx && (xx || gt || lt)) {
      client.out.error("ERR NX and XX, GT or LT options at the same time are not compatible");
      return;
    }
    if (gt && lt) {
      client.out.error("ERR GT and LT options at the same time are not compatible");
      return;
    }
    const at = this.#deadline(args[2], seconds, false);
    if (typeof at === "string") {
      client.out.error(at === "invalid" ? `ERR invalid expire time in '${name}' command` : at);
      return;
    }
    const entry = this.#lookup(args[1]);
    if (entry === undefined) {
      client.out.integer(0);
      return;
    }
    // No time to live counts as forever: GT never extends it, LT always sets one.
    const current = entry.expiresAt === 0 ? null : entry.farExpiresAt ?? BigInt(entry.expiresAt);
    if (
      (nx && current !== null) || (xx && current === null) ||
      (gt && (current === null || at <= current)) || (lt && current !== null && at >= current)
    ) {
      client.out.integer(0);
      return;
    }
    if (at <= BigInt(this.#now())) this.#delete(args[1]);
    else this.#setExpiry(args[1], entry, at);
    client.out.integer(1);
  }

  /** @internal */
  ttl(client: Client, key: string, seconds: boolean): void {
    const entry = this.#lookup(key);
    if (entry === undefined) client.out.integer(-2);
    else if (entry.expiresAt === 0) client.out.integer(-1);
    else {
      // Whole milliseconds, as Redis counts them: a PTTL right after SET PX 200 gives 200.
      const far = entry.farExpiresAt;
      if (far !== null) {
        const ms = far - BigInt(this.#now());
        client.out.integer(seconds ? (ms + 500n) / 1000n : ms);
      } else {
        const ms = Math.max(0, entry.expiresAt - this.#now());
        client.out.integer(seconds ? Math.floor((ms + 500) / 1000) : ms);
      }
    }
  }

  /** @internal */
  persist(client: Client, key: string): void {
    const entry = this.#lookup(key);
    if (entry === undefined || entry.expiresAt === 0) client.out.integer(0);
    else {
      this.#setExpiry(key, entry, 0n);
      client.out.integer(1);
    }
  }

  // Lists.

  /** @internal */
  push(client: Client, args: string[], left: boolean): void {
    const key = args[1];
    let entry = this.#lookup(key);
    if (entry === undefined) {
      entry = new Entry("", new Deque(this.#usage));
      this.#add(key, entry);
    } else if (entry.list === null) {
      client.out.error(WRONGTYPE);
      return;
    }
    const list = entry.list!;
    for (let i = 2; i < args.length; i++) {
      if (left) list.unshift(args[i]);
      else list.push(args[i]);
    }
    client.out.integer(list.length);
    if (this.#blocked.has(key)) this.#serveBlocked(key);
  }

  /** @internal */
  pop(client: Client, args: string[], left: boolean): void {
    let count = -1;
    if (args.length > 3) {
      client.out.error(`ERR wrong number of arguments for '${left ? "lpop" : "rpop"}' command`);
      return;
    }
    if (args.length === 3) {
      count = parseCount(args[2]) ?? -1;
      if (count < 0) {
        client.out.error("ERR value is out of range, must be positive");
        return;
      }
    }
    const entry = this.#lookup(args[1]);
    if (entry === undefined) {
      if (count < 0) client.out.nullBulk();
      else client.out.nullArray();
      return;
    }
    const list = entry.list;
    if (list === null) {
      client.out.error(WRONGTYPE);
      return;
    }
    if (count < 0) {
      client.out.bulk((left ? list.shift() : list.pop())!);
    } else {
      const n = Math.min(count, list.length);
      client.out.array(n);
      for (let i = 0; i < n; i++) client.out.bulk((left ? list.shift() : list.pop())!);
    }
    if (list.length === 0) this.#delete(args[1]);
  }

  /** @internal */
  llen(client: Client, key: string): void {
    const entry = this.#lookup(key);
    if (entry?.list === null) client.out.error(WRONGTYPE);
    else client.out.integer(entry?.list?.length ?? 0);
  }

  /** @internal */
  lrange(client: Client, args: string[]): void {
    const from = parseCount(args[2]);
    const to = parseCount(args[3]);
    if (from === null || to === null) {
      client.out.error(NOT_INTEGER);
      return;
    }
    const entry = this.#lookup(args[1]);
    if (entry?.list === null) {
      client.out.error(WRONGTYPE);
      return;
    }
    const list = entry?.list;
    const length = list?.length ?? 0;
    const start = Math.max(0, from < 0 ? length + from : from);
    const end = Math.min(length - 1, to < 0 ? length + to : to);
    if (list === undefined || start > end) {
      client.out.array(0);
      return;
    }
    client.out.array(end - start + 1);
    for (let i = start; i <= end; i++) client.out.bulk(list.at(i));
  }

  /**
   * BLPOP/BRPOP: serves at once from the first non-empty list, or queues the client.
   *
   * @returns The timeout to block for (FOREVER for none), or -1 if it was answered.
   * @internal
   */
  bpop(client: Client, args: string[], left: boolean): number {
    const timeout = parseTimeout(args[args.length - 1]);
    if (typeof timeout === "string") {
      client.out.error(timeout);
      return -1;
    }
    const keys = args.slice(1, -1);
    for (const key of keys) {
      const entry = this.#lookup(key);
      if (entry === undefined) continue;
      if (entry.list === null) {
        client.out.error(WRONGTYPE);
        return -1;
      }
      const value = (left ? entry.list.shift() : entry.list.pop())!;
      if (entry.list.length === 0) this.#delete(key);
      client.out.array(2);
      client.out.bulk(key);
      client.out.bulk(value);
      return -1;
    }
    // Not in Redis: past maxmemory a pop that would wait is refused, as a SUBSCRIBE is,
    // since the keys it waits on take memory (one served at once takes none).
    if (this.outOfMemory(args)) {
      client.out.error(OOM);
      return -1;
    }
    const blocked: Blocked = {
      client,
      keys: [...new Set(keys)],
      left,
      served: null,
      queued: true,
    };
    for (const key of blocked.keys) {
      this.#blockedBytes += BLOCKED_KEY_OVERHEAD + key.length;
      let queue = this.#blocked.get(key);
      if (queue === undefined) this.#blocked.set(key, queue = []);
      queue.push(blocked);
    }
    client.blocked = blocked;
    return timeout === 0 ? FOREVER : timeout;
  }

  /** Takes a client out of every queue it waits in. */
  #unblock(blocked: Blocked): void {
    if (!blocked.queued) return; // served, then gone: out of the queues already
    blocked.queued = false;
    for (const key of blocked.keys) {
      this.#blockedBytes -= BLOCKED_KEY_OVERHEAD + key.length;
      const queue = this.#blocked.get(key);
      if (queue === undefined) continue;
      const at = queue.indexOf(blocked);
      if (at >= 0) queue.splice(at, 1);
      if (queue.length === 0) this.#blocked.delete(key);
    }
  }

  /** Gives items of the list at `key` to the clients blocked on it, in arrival order. */
  #serveBlocked(key: string): void {
    const queue = this.#blocked.get(key);
    const entry = this.#keys.get(key);
    while (queue !== undefined && queue.length > 0 && entry?.list && entry.list.length > 0) {
      const blocked = queue[0];
      this.#unblock(blocked);
      const value = (blocked.left ? entry.list.shift() : entry.list.pop())!;
      blocked.served = { key, value };
      const out = blocked.client.out;
      out.array(2);
      out.bulk(key);
      out.bulk(value);
      blocked.client.wakeup.wake();
    }
    if (entry?.list?.length === 0) this.#delete(key);
  }

  /**
   * Ends a client's wait: served, it keeps its reply; timed out (or gone), it leaves the
   * queues and, if `reply`, gets the null reply.
   *
   * @internal
   */
  endBlock(client: Client, reply: boolean): void {
    const blocked = client.blocked;
    if (blocked === null || blocked.served !== null) return;
    client.blocked = null;
    this.#unblock(blocked);
    if (reply) client.out.nullArray();
  }

  // Publish/subscribe.

  /** @internal */
  subscribe(client: Client, args: string[], patterns: boolean): void {
    client.openMailbox();
    const kind = patterns ? "psubscribe" : "subscribe";
    const mine = patterns ? client.patterns : client.channels;
    const registry = patterns ? this.#patterns : this.#channels;
    for (let i = 1; i < args.length; i++) {
      const name = args[i];
      if (!mine.has(name)) {
        mine.add(name);
        this.#subscriptionBytes += KEY_OVERHEAD + name.length;
        let members = registry.get(name);
        if (members === undefined) registry.set(name, members = new Set());
        members.add(client);
      }
      client.out.array(3);
      client.out.bulk(kind);
      client.out.bulk(name);
      client.out.integer(client.channels.size + client.patterns.size);
    }
  }

  /** @internal */
  unsubscribe(client: Client, args: string[], patterns: boolean): void {
    if (args.length === 1) this.#unsubscribeAll(client, patterns, true);
    for (let i = 1; i < args.length; i++) this.#unsubscribeOne(client, args[i], patterns, true);
    if (!client.subscribed) client.unlisten();
  }

  #unsubscribeAll(client: Client, patterns: boolean, reply = false): void {
    const mine = patterns ? client.patterns : client.channels;
    if (mine.size === 0 && reply) {
      client.out.array(3);
      client.out.bulk(patterns ? "punsubscribe" : "unsubscribe");
      client.out.nullBulk();
      client.out.integer(client.channels.size + client.patterns.size);
    }
    for (const name of [...mine]) this.#unsubscribeOne(client, name, patterns, reply);
  }

  #unsubscribeOne(client: Client, name: string, patterns: boolean, reply: boolean): void {
    const mine = patterns ? client.patterns : client.channels;
    const registry = patterns ? this.#patterns : this.#channels;
    if (mine.delete(name)) {
      this.#subscriptionBytes -= KEY_OVERHEAD + name.length;
      const members = registry.get(name)!;
      members.delete(client);
      if (members.size === 0) registry.delete(name);
    }
    if (!reply) return;
    client.out.array(3);
    client.out.bulk(patterns ? "punsubscribe" : "unsubscribe");
    client.out.bulk(name);
    client.out.integer(client.channels.size + client.patterns.size);
  }

  /** @internal */
  publish(client: Client, channel: string, payload: string): void {
    // Counted and handed over now, to the clients whose channels and patterns match now,
    // as Redis does (see Client.execute for why they are still the ones that match when
    // each subscriber takes it).
    const message: Message = { channel, payload };
    const serial = ++this.#published;
    let receivers = 0;
    for (const subscriber of this.#channels.get(channel) ?? []) {
      if (subscriber.droppedBefore(serial)) continue; // it is about to leave
      receivers++;
      subscriber.hand(message, serial);
    }
    for (const [pattern, subscribers] of this.#patterns) {
      if (!globMatch(pattern, channel)) continue;
      const match: PatternMatch = { message, pattern }; // one for all its subscribers
      for (const subscriber of subscribers) {
        if (subscriber.droppedBefore(serial)) continue;
        receivers++;
        subscriber.hand(match, serial);
      }
    }
    client.out.integer(receivers);
  }

  /**
   * Whether a subscriber this far behind (in replies to messages not taken, and in
   * bytes of those and of replies not written) is past the limits, and must be dropped.
   *
   * @internal
   */
  pastPubsubLimits(replies: number, bytes: number): boolean {
    const limit = this.#pubsubBufferLimit;
    return replies > this.#pubsubLimit || (limit > 0 && bytes > limit);
  }
}

/** A published message. */
export interface Message {
  /** The channel it was published on. */
  readonly channel: string;
  /** What was published. */
  readonly payload: string;
}

/** A published message as it matched a pattern: a `pmessage` reply. */
export interface PatternMatch {
  /** The message. */
  readonly message: Message;
  /** The pattern it matched. */
  readonly pattern: string;
}

/**
 * What a subscriber's mailbox holds: a reply to make, found as PUBLISH counted it. A
 * message (a `message` reply, its channel matched) or a pattern match (a `pmessage`), each
 * made once per PUBLISH and shared by every subscriber it goes to.
 */
export type Delivery = Message | PatternMatch;

/** The bytes of the reply `delivery` makes, as written. */
function replyBytes(delivery: Delivery): number {
  if ("pattern" in delivery) {
    const { channel, payload } = delivery.message;
    // `*4`, `pmessage`, the pattern, the channel, the payload.
    return 18 + bulkBytes(delivery.pattern.length) + bulkBytes(channel.length) +
      bulkBytes(payload.length);
  }
  // `*3`, `message`, the channel, the payload.
  return 17 + bulkBytes(delivery.channel.length) + bulkBytes(delivery.payload.length);
}

/** The bytes of a RESP bulk string of `length` bytes, as written. */
function bulkBytes(length: number): number {
  return String(length).length + length + 5; // `$`, the length, CRLF, the bytes, CRLF
}

/**
 * One client's session: it executes requests on its {@linkcode Database} and appends the
 * replies to `out`, which the socket layer writes.
 *
 * @example Expiry under a virtual clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, sleep, VirtualClock } from "../scheduler/mod.ts";
 * import { Database } from "./_kv_db.ts";
 *
 * const clock = new VirtualClock();
 * const db = new Database({ clock });
 * const client = db.connect();
 * await run(function* () {
 *   client.execute(["SET", "k", "v", "PX", "100"]);
 *   yield* sleep(99);
 *   client.execute(["GET", "k"]);
 *   yield* sleep(1);
 *   client.execute(["GET", "k"]);
 * }(), { clock });
 * assert.equal(new TextDecoder().decode(client.out.bytes()), "+OK\r\n$1\r\nv\r\n$-1\r\n");
 * ```
 */
export class Client {
  /** The database it works on. */
  readonly db: Database;
  /** Replies waiting to be written. */
  out: ReplyBuffer = new ReplyBuffer();
  /** The channels it subscribed to. */
  readonly channels: Set<string> = new Set();
  /** The patterns it subscribed to. */
  readonly patterns: Set<string> = new Set();
  /** Its BLPOP/BRPOP, while it waits and until what it was given is sent. */
  blocked: Blocked | null = null;
  /** Wakes the client's thread when a blocking pop serves it. */
  readonly wakeup: Wakeup = new Wakeup();
  /**
   * While it is subscribed, where its messages wait for its connection to take them (see
   * {@linkcode Client.takeMessages}).
   */
  mailbox: Channel<Delivery> | null = null;
  /** Set by QUIT: write the replies, then close. */
  closeAfterReply = false;
  /**
   * Set by the socket layer whenever bytes move: the client sent something, or a write
   * to it made progress (as in Redis, a client still taking a long reply is not idle).
   */
  active = false;
  /** When the sweep last saw it active, on the database's clock. */
  lastActive: number;
  /** What {@linkcode Client.kill} calls: the socket layer closes the connection. */
  onKill: (() => void) | null = null;
  /** How many replies to messages wait in its mailbox. */
  #pendingReplies = 0;
  /** The bytes of the replies they will make. */
  #pendingBytes = 0;
  /** The last PUBLISH that handed it a message (see {@linkcode Client.hand}). */
  #lastSerial = 0;
  #killed = false;

  /**
   * A session; use {@linkcode Database.connect}.
   *
   * @param db The database.
   */
  constructor(db: Database) {
    this.db = db;
    this.lastActive = db.clock.now();
  }

  /** Whether it is subscribed to a channel or pattern (RESP2's subscribed mode). */
  get subscribed(): boolean {
    return this.channels.size + this.patterns.size > 0;
  }

  /** Whether the server dropped it (a slow subscriber, an idle client). */
  get killed(): boolean {
    return this.#killed;
  }

  /** Drops the client: its connection is closed. */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    // Its messages go nowhere from now on: they count no more.
    if (this.mailbox !== null) this.db.mailboxShrank(this.#pendingReplies);
    this.onKill?.();
  }

  /**
   * Takes the next complete request from `parser`. A malformed one is answered with its
   * error, and the client closes after that reply, as Redis does: nothing after it can
   * be parsed.
   *
   * @param parser The parser fed with what the client sent.
   * @returns The request's arguments, or null if none is complete (or the request was
   * malformed: then `closeAfterReply` is set).
   */
  nextRequest(parser: RequestParser): string[] | null {
    try {
      return parser.next();
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.out.error(`ERR ${error.message}`);
      this.closeAfterReply = true;
      return null;
    }
  }

  /**
   * Executes one request, appending the reply to `out` after every message published
   * before it that the client has not taken yet (so a message published before a command
   * that changes its subscriptions is delivered as they were, and none is left behind).
   *
   * @param args The command and its arguments, binary strings.
   * @returns -1, or for a blocking pop that must wait, the timeout to pass to
   * {@linkcode Client.block}.
   */
  execute(args: string[]): number {
    // Every one, however many: the command may change what it is subscribed to. They are
    // bounded by the limits, which dropped it otherwise.
    if (this.mailbox !== null) this.takeMessages(Infinity);
    const command = COMMANDS.get(args[0]) ?? COMMANDS.get(args[0].toLowerCase());
    if (command === undefined) {
      this.out.error(unknownCommand(args));
      return -1;
    }
    const arity = command.arity;
    if (arity > 0 ? args.length !== arity : args.length < -arity) {
      this.out.error(`ERR wrong number of arguments for '${command.name}' command`);
      return -1;
    }
    // Before the subscribed mode's refusal, as in Redis's processCommand.
    if (command.denyoom && this.db.outOfMemory(args)) {
      this.out.error(OOM);
      return -1;
    }
    if (command.denyoom && !command.pubsub && this.db.outOfKeys(args)) {
      this.out.error(
        `OOM command not allowed when the key space could pass its ${this.db.maxKeys} keys`,
      );
      return -1;
    }
    if (!command.pubsub && this.subscribed) {
      this.out.error(
        `ERR Can't execute '${command.name}': only (P|S)SUBSCRIBE / ` +
          "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
      );
      return -1;
    }
    return command.run(this.db, this, args) ?? -1;
  }

  /**
   * Waits, after `execute` queued this client in a blocking pop, until it is served or
   * `ms` pass (then the null reply is appended).
   *
   * @param ms The timeout from `execute`.
   */
  *block(ms: number): Coroutine<void> {
    try {
      yield* this.wakeup.wait(ms);
    } finally {
      this.db.endBlock(this, true);
    }
  }

  /** Confirms that what a blocking pop gave this client was sent. */
  delivered(): void {
    this.blocked = null;
  }

  /** Gives it a mailbox, as it subscribes. @internal */
  openMailbox(): void {
    if (this.mailbox !== null) return;
    this.mailbox = new Channel<Delivery>(Infinity);
    this.db.listening(this, true);
  }

  /** Drops its mailbox, once it has no channel or pattern left (and took its messages). */
  unlisten(): void {
    if (!this.#killed) this.db.mailboxShrank(this.#pendingReplies);
    this.mailbox = null;
    this.#pendingReplies = this.#pendingBytes = 0;
    this.db.listening(this, false);
  }

  /**
   * Puts a reply to a published message in its mailbox, one per channel or pattern of
   * its that the message matched, counted now to the byte, and drops it if that takes it
   * past the limits.
   *
   * @param delivery The message, or the pattern match.
   * @param serial The PUBLISH's number.
   * @internal
   */
  hand(delivery: Delivery, serial: number): void {
    if (this.#killed) return;
    this.#lastSerial = serial;
    this.#pendingReplies++;
    this.#pendingBytes += replyBytes(delivery);
    this.mailbox!.trySend(delivery); // no capacity limit: never refused
    const db = this.db;
    db.mailboxGrew();
    // Still counted for the message it is dropped on, as in Redis.
    if (db.pastPubsubLimits(this.#pendingReplies, this.#pendingBytes + this.out.length)) {
      this.kill();
    } else if (
      // Past maxmemory, mostly with what subscribers have yet to take: one at least as
      // far behind as they are on average goes, as a message reaches it. Limits of one's own
      // leave hundreds that never read room enough together to end the process.
      db.mailboxesPastMemory() && this.#pendingReplies * db.subscribers >= db.mailboxEntries
    ) {
      this.kill();
    }
  }

  /**
   * Whether it was dropped before PUBLISH number `serial` reached it. One dropped by that
   * very message is still counted for each of its matches, as in Redis.
   *
   * @param serial The PUBLISH's number.
   * @internal
   */
  droppedBefore(serial: number): boolean {
    return this.#killed && this.#lastSerial !== serial;
  }

  /**
   * Appends the replies waiting in its mailbox, at most `count` of them, until its
   * replies pass `bytes` (64 KiB by default): the rest wait, where they count against its
   * limits, for after those replies are written.
   *
   * @param bytes How many bytes of replies to stop at.
   * @param count How many to take at most.
   * @returns How many it took.
   */
  takeMessages(bytes: number = TAKE_BATCH_BYTES, count = Infinity): number {
    const mailbox = this.mailbox;
    if (mailbox === null || this.#killed) return 0; // a dropped client's messages go nowhere
    let taken = 0;
    while (taken < count && this.out.length < bytes) {
      const next = mailbox.tryReceive();
      if (next === undefined || next.done) break;
      this.deliver(next.value);
      taken++;
    }
    return taken;
  }

  /** How many replies to messages wait in its mailbox for it to take them. */
  get repliesWaiting(): number {
    return this.mailbox === null || this.#killed ? 0 : this.#pendingReplies;
  }

  /**
   * Appends a reply taken from its mailbox as Redis sends it: a `message` for a message
   * its channel matched, a `pmessage` for a pattern match. They are the replies PUBLISH
   * counted (its subscriptions are the same: every message waiting is taken before a
   * command runs).
   *
   * @param delivery The message, or the pattern match.
   */
  deliver(delivery: Delivery): void {
    const out = this.out;
    if ("pattern" in delivery) {
      const { channel, payload } = delivery.message;
      out.array(4);
      out.bulk("pmessage");
      out.bulk(delivery.pattern);
      out.bulk(channel);
      out.bulk(payload);
    } else {
      out.array(3);
      out.bulk("message");
      out.bulk(delivery.channel);
      out.bulk(delivery.payload);
    }
    this.#pendingReplies--;
    this.#pendingBytes -= replyBytes(delivery);
    this.db.mailboxShrank(1);
  }
}

/** A command: its name, Redis's arity (negative: at least), and what it does. */
interface Command {
  name: string;
  arity: number;
  /** Allowed while subscribed. */
  pubsub?: boolean;
  /** Adds data: refused past `maxmemory` (Redis's `denyoom` flag). */
  denyoom?: boolean;
  run(db: Database, client: Client, args: string[]): number | void;
}

/** The start of Redis's error for an unknown command (as C's `%.128s` prints it). */
function unknownCommand(args: string[]): string {
  const cString = (text: string) => text.split("\0")[0];
  let listed = "";
  for (let i = 1; i < args.length && listed.length < 128; i++) {
    listed += `'${cString(args[i]).slice(0, 128 - listed.length)}' `;
  }
  return `ERR unknown command '${
    cString(args[0]).slice(0, 128)
  }', with args beginning with: ${listed}`;
}

/** What `CONFIG GET` answers: what redis-benchmark and redis-cli ask for, and a few more. */
const FIXED_CONFIG: ReadonlyMap<string, string> = new Map([
  ["save", ""],
  ["appendonly", "no"],
  ["databases", "1"],
  ["proto-max-bulk-len", String(BULK_MAX)],
]);

function configGet(db: Database, client: Client, args: string[]): void {
  const CONFIG = new Map([...FIXED_CONFIG, ["maxmemory", String(db.maxmemory)]]);
  const found = new Map<string, [string, string]>();
  for (let i = 2; i < args.length; i++) {
    const pattern = args[i];
    if (!/[*?[]/.test(pattern)) {
      const value = CONFIG.get(pattern.toLowerCase());
      if (value !== undefined && !found.has(pattern.toLowerCase())) {
        found.set(pattern.toLowerCase(), [pattern, value]);
      }
      continue;
    }
    for (const [name, value] of CONFIG) {
      if (!found.has(name) && globMatch(pattern.toLowerCase(), name)) {
        found.set(name, [name, value]);
      }
    }
  }
  client.out.array(found.size * 2);
  for (const [name, value] of found.values()) {
    client.out.bulk(name);
    client.out.bulk(value);
  }
}

/** Redis's memory units, case aside: `k` is 1000 and `kb` 1024, and so on. */
const MEMORY_UNITS: ReadonlyMap<string, number> = new Map([
  ["", 1],
  ["b", 1],
  ["k", 1000],
  ["kb", 1024],
  ["m", 1000 ** 2],
  ["mb", 1024 ** 2],
  ["g", 1000 ** 3],
  ["gb", 1024 ** 3],
]);

/**
 * Bytes that `text` says, as Redis reads a memory value (`100mb`); null if none.
 *
 * @param text A whole number of bytes, maybe with a unit: `k` is 1000, `kb` 1024, and so on.
 * @returns The bytes, or null.
 */
export function memoryValue(text: string): number | null {
  const match = /^(\d+)([a-z]*)$/i.exec(text);
  const unit = match === null ? undefined : MEMORY_UNITS.get(match[2].toLowerCase());
  if (unit === undefined) return null;
  const bytes = Number(match![1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** `CONFIG SET`: of what it answers to, only `maxmemory` can be changed. All or nothing. */
function configSet(db: Database, client: Client, args: string[]): void {
  let maxmemory = db.maxmemory;
  for (let i = 2; i < args.length; i += 2) {
    const name = args[i].toLowerCase();
    if (name !== "maxmemory") {
      client.out.errorQuoting(
        "ERR Unknown option or number of arguments for CONFIG SET - '",
        args[i],
        "'",
      );
      return;
    }
    const bytes = memoryValue(args[i + 1]);
    if (bytes === null) {
      client.out.error(
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
      );
      return;
    }
    maxmemory = bytes;
  }
  db.maxmemory = maxmemory;
  client.out.ok();
}

function config(db: Database, client: Client, args: string[]): void {
  const sub = args[1].toLowerCase();
  if (sub === "get") {
    if (args.length < 3) {
      client.out.error("ERR wrong number of arguments for 'config|get' command");
    } else configGet(db, client, args);
  } else if (sub === "set") {
    if (args.length < 4 || args.length % 2 !== 0) {
      client.out.error("ERR wrong number of arguments for 'config|set' command");
    } else configSet(db, client, args);
  } else {
    client.out.error(`ERR unknown subcommand '${args[1].slice(0, 128)}'. Try CONFIG HELP.`);
  }
}

function ping(_db: Database, client: Client, args: string[]): void {
  if (args.length > 2) {
    client.out.error("ERR wrong number of arguments for 'ping' command");
  } else if (client.subscribed) {
    client.out.array(2);
    client.out.bulk("pong");
    client.out.bulk(args[1] ?? "");
  } else if (args.length === 2) client.out.bulk(args[1]);
  else client.out.simple("PONG");
}

function select(_db: Database, client: Client, args: string[]): void {
  const index = parseCount(args[1]);
  if (index === null) client.out.error(NOT_INTEGER);
  // A 64-bit integer that is no C int: Redis's getIntFromObjectOrReply says so.
  else if (index < -(2 ** 31) || index > 2 ** 31 - 1) {
    client.out.error("ERR value is out of range, value must between -2147483648 and 2147483647");
  } // One database, as a Redis started with `--databases 1` has.
  else if (index !== 0) client.out.error("ERR DB index is out of range");
  else client.out.ok();
}

const TABLE: Command[] = [
  { name: "get", arity: 2, run: (db, c, a) => db.get(c, a[1]) },
  { name: "set", arity: -3, denyoom: true, run: (db, c, a) => db.set(c, a) },
  { name: "ping", arity: -1, pubsub: true, run: ping },
  { name: "echo", arity: 2, run: (_db, c, a) => c.out.bulk(a[1]) },
  {
    name: "quit",
    arity: -1,
    pubsub: true,
    run: (_db, c) => {
      c.out.ok();
      c.closeAfterReply = true;
    },
  },
  { name: "select", arity: 2, run: select },
  { name: "dbsize", arity: 1, run: (db, c) => db.dbsize(c) },
  { name: "flushall", arity: -1, run: (db, c, a) => db.flush(c, a) },
  { name: "flushdb", arity: -1, run: (db, c, a) => db.flush(c, a) },
  { name: "keys", arity: 2, run: (db, c, a) => db.keys(c, a[1]) },
  { name: "exists", arity: -2, run: (db, c, a) => db.exists(c, a) },
  { name: "del", arity: -2, run: (db, c, a) => db.del(c, a) },
  { name: "type", arity: 2, run: (db, c, a) => db.type(c, a[1]) },
  { name: "mget", arity: -2, run: (db, c, a) => db.mget(c, a) },
  { name: "mset", arity: -3, denyoom: true, run: (db, c, a) => db.mset(c, a) },
  { name: "incr", arity: 2, denyoom: true, run: (db, c, a) => db.incrBy(c, a[1], 1n) },
  { name: "decr", arity: 2, denyoom: true, run: (db, c, a) => db.incrBy(c, a[1], -1n) },
  {
    name: "incrby",
    arity: 3,
    denyoom: true,
    run: (db, c, a) => db.incrBy(c, a[1], parseInt64(a[2])),
  },
  { name: "append", arity: 3, denyoom: true, run: (db, c, a) => db.append(c, a[1], a[2]) },
  { name: "strlen", arity: 2, run: (db, c, a) => db.strlen(c, a[1]) },
  { name: "expire", arity: -3, run: (db, c, a) => db.expire(c, a, true) },
  { name: "pexpire", arity: -3, run: (db, c, a) => db.expire(c, a, false) },
  { name: "ttl", arity: 2, run: (db, c, a) => db.ttl(c, a[1], true) },
  { name: "pttl", arity: 2, run: (db, c, a) => db.ttl(c, a[1], false) },
  { name: "persist", arity: 2, run: (db, c, a) => db.persist(c, a[1]) },
  { name: "lpush", arity: -3, denyoom: true, run: (db, c, a) => db.push(c, a, true) },
  { name: "rpush", arity: -3, denyoom: true, run: (db, c, a) => db.push(c, a, false) },
  { name: "lpop", arity: -2, run: (db, c, a) => db.pop(c, a, true) },
  { name: "rpop", arity: -2, run: (db, c, a) => db.pop(c, a, false) },
  { name: "llen", arity: 2, run: (db, c, a) => db.llen(c, a[1]) },
  { name: "lrange", arity: 4, run: (db, c, a) => db.lrange(c, a) },
  { name: "blpop", arity: -3, run: (db, c, a) => db.bpop(c, a, true) },
  { name: "brpop", arity: -3, run: (db, c, a) => db.bpop(c, a, false) },
  { name: "publish", arity: 3, run: (db, c, a) => db.publish(c, a[1], a[2]) },
  {
    name: "subscribe",
    arity: -2,
    pubsub: true,
    denyoom: true, // not in Redis: here the names count against maxmemory
    run: (db, c, a) => db.subscribe(c, a, false),
  },
  {
    name: "psubscribe",
    arity: -2,
    pubsub: true,
    denyoom: true,
    run: (db, c, a) => db.subscribe(c, a, true),
  },
  { name: "unsubscribe", arity: -1, pubsub: true, run: (db, c, a) => db.unsubscribe(c, a, false) },
  { name: "punsubscribe", arity: -1, pubsub: true, run: (db, c, a) => db.unsubscribe(c, a, true) },
  {
    name: "reset",
    arity: 1,
    pubsub: true,
    run: (db, c) => {
      const out = c.out;
      c.out = new ReplyBuffer(); // the unsubscribe replies are not sent
      db.unsubscribe(c, ["unsubscribe"], false);
      db.unsubscribe(c, ["punsubscribe"], true);
      c.out = out;
      out.simple("RESET");
    },
  },
  { name: "config", arity: -2, run: config },
  { name: "info", arity: -1, run: (db, c, a) => db.info(c, a) },
];

/** Commands by name, in lower and upper case (the usual spellings skip a toLowerCase). */
const COMMANDS: ReadonlyMap<string, Command> = new Map(
  TABLE.flatMap((command) => [
    [command.name, command],
    [command.name.toUpperCase(), command],
  ]),
);
