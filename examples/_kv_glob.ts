// Redis's glob patterns (KEYS, PSUBSCRIBE, CONFIG GET): `*`, `?`, `[abc]`, `[^a-z]`, and
// `\` to escape. A `[` that is never closed takes the rest of the pattern as its set, as in
// Redis. Every token but `*` matches exactly one character, so one backtracking point (the
// last `*`) suffices and a hostile pattern costs at most pattern × subject steps.

/**
 * Whether `subject` matches the glob `pattern`, as Redis matches them.
 *
 * @param pattern The glob.
 * @param subject The string to test.
 * @returns Whether it matches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { globMatch } from "./_kv_glob.ts";
 *
 * assert.ok(globMatch("h?llo", "hello"));
 * assert.ok(globMatch("h[^e]llo", "hallo"));
 * assert.ok(!globMatch("h[^e]llo", "hello"));
 * assert.ok(globMatch("user:*", "user:42"));
 * ```
 */
export function globMatch(pattern: string, subject: string): boolean {
  // As in Redis: no character to look at, no `*` is taken as empty (`PSUBSCRIBE *` gets no
  // message published on the channel ""; KEYS takes the exact pattern `*` apart).
  if (subject.length === 0) return pattern.length === 0;
  let p = 0;
  let s = 0;
  let starP = -1; // where to resume the pattern after the last `*`
  let starS = -1; // the subject position that `*` has swallowed up to
  while (s < subject.length) {
    if (p < pattern.length && pattern[p] === "*") {
      while (p < pattern.length && pattern[p] === "*") p++;
      if (p === pattern.length) return true;
      starP = p;
      starS = s;
      continue;
    }
    const step = p < pattern.length ? matchOne(pattern, p, subject[s]) : -1;
    if (step > 0) {
      p += step;
      s++;
      continue;
    }
    if (starP < 0) return false;
    p = starP;
    s = ++starS;
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

/**
 * Matches one token of `pattern` at `p` against `c`: gives the token's length, or -1.
 */
function matchOne(pattern: string, p: number, c: string): number {
  const token = pattern[p];
  if (token === "?") return 1;
  if (token === "\\" && p + 1 < pattern.length) return pattern[p + 1] === c ? 2 : -1;
  if (token !== "[") return token === c ? 1 : -1;
  let i = p + 1;
  const not = pattern[i] === "^";
  if (not) i++;
  let match = false;
  for (;;) {
    if (i >= pattern.length) {
      i--; // an unclosed set ends at the pattern's last character
      break;
    }
    const ch = pattern[i];
    if (ch === "\\" && i + 1 < pattern.length) {
      i++;
      if (pattern[i] === c) match = true;
    } else if (ch === "]") {
      break;
    } else if (pattern[i + 1] === "-" && i + 2 < pattern.length) {
      let start = pattern[i];
      let end = pattern[i + 2];
      if (start > end) [start, end] = [end, start];
      if (c >= start && c <= end) match = true;
      i += 2;
    } else if (ch === c) {
      match = true;
    }
    i++;
  }
  return match !== not ? i - p + 1 : -1;
}
