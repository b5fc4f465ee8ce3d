// BLPOP's timeout, read as Redis 7 reads it: `strtold` into an x87 long double (a 64-bit
// significand), `* 1000` in long double, then `ceill` and a cast to `long long`. Each step
// rounds, and the rounding shows: 0.253 s is 254 ms in Redis (0.253 is a hair above itself
// as a long double), -0.001 s is 0 (for ever: a hair above -1 ms), 1e-400 is 1 ms (a
// double takes it for 0), and 2^63 ms is negative (the cast overflows). So the steps are
// done here exactly as the hardware does them, on BigInts.

/** What a timeout `strtold` would not take replies (and one it takes but Redis refuses). */
const NOT_A_FLOAT = "ERR timeout is not a float or out of range";
/** What a timeout below 0 once rounded up, or past 2^63 - 1 ms, replies. */
const NEGATIVE = "ERR timeout is negative";
/** Redis copies the argument into a buffer of this many bytes, and refuses a longer one. */
const MAX_LONG_DOUBLE_CHARS = 5 * 1024;

// An x87 long double as M × 2^E: M below 2^64, at least 2^63 unless the value is subnormal
// (E at its least). Past the greatest E, it is infinite.
const SIGNIFICAND_BITS = 64n;
const LEAST_E = -16445n; // 2^-16445 is the least subnormal
const GREATEST_E = 16320n; // (2^64 - 1) × 2^16320 is the greatest finite value

/** A long double, finite and not negative. */
interface LongDouble {
  m: bigint;
  e: bigint;
}

/**
 * BLPOP's timeout in milliseconds (0 for none), as Redis 7 reads it, or the error to reply.
 *
 * @param text The argument: decimal (`1.5`, `2e-3`), hexadecimal (`0x1.8p1`) or `inf`.
 * @returns The milliseconds, or the error's text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTimeout } from "./_kv_timeout.ts";
 *
 * assert.equal(parseTimeout("0.25"), 250);
 * assert.equal(parseTimeout("0.253"), 254); // 0.253 is a hair above itself as a long double
 * assert.equal(parseTimeout("1e-400"), 1); // above 0: at least a millisecond
 * assert.equal(parseTimeout("-1"), "ERR timeout is negative");
 * ```
 */
export function parseTimeout(text: string): number | string {
  if (text.length >= MAX_LONG_DOUBLE_CHARS) return NOT_A_FLOAT;
  let negative: boolean;
  let value: LongDouble | "infinite" | "zero";
  const decimal = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text);
  const hex = /^([+-]?)0x([\da-f]*)(?:\.([\da-f]*))?(?:p([+-]?\d+))?$/i.exec(text);
  if (decimal !== null && (decimal[2] || decimal[3])) {
    const [, sign, whole, fraction = "", exponent = "0"] = decimal;
    const digits = BigInt(whole + fraction);
    if (digits === 0n) return 0; // a zero (-0 too): no timeout
    negative = sign === "-";
    value = fromDecimal(digits, BigInt(exponent) - BigInt(fraction.length));
  } else if (hex !== null && (hex[2] || hex[3])) {
    const [, sign, whole, fraction = "", exponent = "0"] = hex;
    const digits = BigInt("0x" + (whole + fraction));
    if (digits === 0n) return 0;
    negative = sign === "-";
    value = round(digits, 1n, BigInt(exponent) - 4n * BigInt(fraction.length));
  } else if (/^[+-]?inf(inity)?$/i.test(text)) {
    return NEGATIVE; // `* 1000` is infinite too, and the cast gives the least long long
  } else {
    return NOT_A_FLOAT;
  }
  // `strtold` says ERANGE past the greatest value, and for one that rounds to 0, and Redis
  // refuses both.
  if (value === "infinite" || value === "zero") return NOT_A_FLOAT;
  const ms = round(value.m * 1000n, 1n, value.e);
  if (ms === "infinite") return NEGATIVE;
  if (ms === "zero") return 0; // cannot happen: a value above 0, times 1000
  const whole = ceilOf(ms, negative);
  // The cast to long long: past its range, the least long long, which is negative.
  if (whole < 0n || whole >= 2n ** 63n) return whole === 0n ? 0 : NEGATIVE;
  return Number(whole);
}

/** `digits × 10^exponent`, rounded to a long double. */
function fromDecimal(digits: bigint, exponent: bigint): LongDouble | "infinite" | "zero" {
  // Far out of range either way, without making huge powers of ten: 10^4933 is infinite,
  // and below 10^-4952 is less than half the least subnormal.
  const magnitude = BigInt(digits.toString().length) - 1n + exponent;
  if (magnitude > 4933n) return "infinite";
  if (magnitude < -4952n) return "zero";
  return exponent >= 0n
    ? round(digits * 10n ** exponent, 1n, 0n)
    : round(digits, 10n ** -exponent, 0n);
}

/**
 * `numerator / denominator × 2^shift` (above 0) rounded to the nearest long double, ties to
 * even, as `strtold` and the x87's multiply do; or what it is out of range.
 */
function round(
  numerator: bigint,
  denominator: bigint,
  shift: bigint,
): LongDouble | "infinite" | "zero" {
  if (numerator === 0n) return "zero";
  // The value lies in [2^(top - 1), 2^(top + 1)). Far out of range, it is said so before
  // any shift: an exponent a client wrote (`0x1p-9999999999`) must not size a BigInt.
  const top = bitLength(numerator) - bitLength(denominator) + shift;
  if (top - 1n > GREATEST_E + SIGNIFICAND_BITS) return "infinite";
  if (top + 1n <= LEAST_E - 1n) return "zero"; // below half the least subnormal
  // The exponent that puts the significand in [2^63, 2^64), or the least there is.
  let e = top - SIGNIFICAND_BITS;
  for (;;) {
    const m = scaled(numerator, denominator, shift - e).quotient;
    if (m >= 2n ** SIGNIFICAND_BITS) e++;
    else if (m < 2n ** (SIGNIFICAND_BITS - 1n)) e--;
    else break;
  }
  if (e < LEAST_E) e = LEAST_E;
  const { quotient, remainder, divisor } = scaled(numerator, denominator, shift - e);
  let m = quotient;
  if (2n * remainder > divisor || (2n * remainder === divisor && (m & 1n) === 1n)) m++;
  if (m === 2n ** SIGNIFICAND_BITS) {
    m /= 2n;
    e++;
  }
  if (m === 0n) return "zero";
  if (e > GREATEST_E) return "infinite";
  return { m, e };
}

/** `numerator / denominator × 2^shift`, divided out: quotient, remainder and divisor. */
function scaled(
  numerator: bigint,
  denominator: bigint,
  shift: bigint,
): { quotient: bigint; remainder: bigint; divisor: bigint } {
  const n = shift >= 0n ? numerator << shift : numerator;
  const d = shift >= 0n ? denominator : denominator << -shift;
  return { quotient: n / d, remainder: n % d, divisor: d };
}

/** `ceill` of the value, negated first if `negative`. */
function ceilOf({ m, e }: LongDouble, negative: boolean): bigint {
  if (e >= 0n) return negative ? -(m << e) : m << e;
  const floor = m >> -e;
  const fraction = m & ((1n << -e) - 1n);
  if (negative) return -floor; // ceil(-x) = -floor(x)
  return fraction === 0n ? floor : floor + 1n;
}

function bitLength(n: bigint): bigint {
  return BigInt(n.toString(2).length);
}
