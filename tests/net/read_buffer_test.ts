// The receive buffer's sizing: what an idle connection's pending read holds, and how the
// reads grow while they come back full.
import { deepEqual, equal } from "node:assert/strict";
import { ReadBuffer } from "../../net/_read_buffer.ts";

/** Lands `bytes` as one OS read would, into the buffer's tail. */
function land(buffer: ReadBuffer, bytes: number[]): number {
  const tail = buffer.tail();
  tail.set(bytes.slice(0, tail.length));
  const n = Math.min(tail.length, bytes.length);
  buffer.commit(n);
  return n;
}

Deno.test("ReadBuffer waits on 256 bytes once messages are small", () => {
  const buffer = new ReadBuffer();
  equal(buffer.tail().length, 256); // a new connection waits on little memory
  buffer.commit(256); // a full read: maybe more is waiting
  buffer.take(256);
  equal(buffer.tail().length, 16384);
  buffer.commit(64);
  buffer.take(64);
  equal(buffer.tail().length, 256); // what an idle connection's read holds
  buffer.commit(10);
  equal(buffer.take(100).length, 10);
  equal(buffer.tail().byteLength, 256);
  equal(buffer.tail().buffer.byteLength, 256);
});

Deno.test("ReadBuffer goes back to 16 KiB once a small read comes back full", () => {
  const buffer = new ReadBuffer();
  const sizes: number[] = [];
  for (const n of [64, 256, 64, 128, 100]) {
    const tail = buffer.tail();
    sizes.push(tail.length);
    buffer.commit(Math.min(n, tail.length));
    buffer.take(n);
  }
  sizes.push(buffer.tail().length);
  // 64 is small; 256 filled the small buffer; 64, 128 and 100 are small.
  deepEqual(sizes, [256, 256, 16384, 256, 256, 256]);
});

Deno.test("ReadBuffer results keep their bytes while the buffer shrinks and grows", () => {
  const buffer = new ReadBuffer();
  const kept: [Uint8Array, number[]][] = [];
  const sizes = [64, 3000, 10, 256, 70_000, 5, 1024, 1025, 20];
  let seed = 0;
  for (const size of sizes) {
    const bytes = Array.from({ length: size }, () => seed++ & 255);
    let landed = 0;
    while (landed < size) landed += land(buffer, bytes.slice(landed));
    const result = buffer.take(size);
    kept.push([result, bytes]);
  }
  for (const [result, bytes] of kept) deepEqual([...result], bytes);
});

Deno.test("ReadBuffer keeps a partial line across reads that grow the buffer", () => {
  const buffer = new ReadBuffer();
  land(buffer, [1, 2, 3]);
  buffer.take(3);
  land(buffer, [104, 105]); // buffered, not taken: a line waiting for its end
  for (let i = 0; i < 20; i++) land(buffer, Array(300).fill(120));
  land(buffer, [10]);
  const at = buffer.indexOf(new Uint8Array([10]), 0);
  equal(at, 2 + 20 * 300);
  const line = buffer.take(at + 1);
  deepEqual([...line.subarray(0, 3)], [104, 105, 120]);
  equal(line[line.length - 1], 10);
  equal(buffer.size, 0);
});
