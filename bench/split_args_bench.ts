// deno bench bench/split_args_bench.ts
//
// How the kv example's inline-command splitter scales: `splitArgs` (examples/_kv_resp.ts)
// against the same split done a character at a time, as Redis's C loop does it (a string
// concatenation per byte), on lines of 1 MiB and 8 MiB in long words, quoted and not. The
// per-character split costs about 100 ns a byte, which on a long line would hold the whole
// server; `splitArgs` slices whole runs. (This was a wall-clock bound in a test once; a
// ratio measured side by side is what it means.)
import { splitArgs } from "../examples/_kv_resp.ts";

/** Splits `line` one character at a time: only spaces, double quotes and `\n` escapes. */
function splitPerCharacter(line: string): string[] {
  const args: string[] = [];
  let current = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"' || c === "'") {
      const close = c;
      inWord = true;
      for (i++; i < line.length && line[i] !== close; i++) {
        if (line[i] === "\\" && close === '"') current += line[++i] === "n" ? "\n" : line[i];
        else current += line[i];
      }
    } else if (c === " ") {
      if (inWord) args.push(current);
      current = "";
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) args.push(current);
  return args;
}

for (const mebibytes of [1, 8]) {
  const word = "w".repeat((mebibytes * 1024 * 1024) / 4);
  const line = `SET ${word} "${word}\\n${word}" '${word}'`;
  const lengths = [3, word.length, 2 * word.length + 1, word.length];
  const group = `split a ${mebibytes} MiB line`;
  for (const [name, split] of [["splitArgs", splitArgs], ["per character", splitPerCharacter]]) {
    const splitter = split as (line: string) => string[] | null;
    Deno.bench({
      name: `${name} (${mebibytes} MiB)`,
      group,
      baseline: name === "splitArgs",
      fn() {
        const args = splitter(line);
        if (args?.map((arg) => arg.length).join() !== lengths.join()) {
          throw new Error(`${name} split the line wrong`);
        }
      },
    });
  }
}
