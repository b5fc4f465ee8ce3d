// The receive buffer's sizing: what an idle connection's pending read holds, and how the
// reads grow while they come back full.
import { deepEqual, equal, throws } from "node:assert/strict";
import { ReadBuffer } from "../../net/_read_buffer.ts";

const PEER = { peer: () => "127.0.0.1:9" };

/** Lands `bytes` as OS reads would, into the buffer's tail, in as many reads as it takes. */
function land(buffer: ReadBuffer, bytes: number[]): void {
  for (let landed = 0; landed < bytes.length;) {
    const tail = buffer.tail();
    const n = Math.min(tail.length, bytes.length - landed);
    tail.set(bytes.slice(landed, landed + n));
    buffer.commit(n);
    landed += n;
  }
}

Deno.test("ReadBuffer waits on a 256-byte block once messages are small", () => {
  const buffer = new ReadBuffer(PEER);
  equal(buffer.tail().length, 256); // a new connection waits on little memory
  buffer.commit(256); // a full read: maybe more is waiting
  buffer.take(256);
  equal(buffer.tail().length, 16384);
  buffer.commit(64);
  buffer.take(64);
  // What an idle connection's read holds: a small block again, not the 16 KiB one.
  equal(buffer.tail().buffer.byteLength, 256);
  buffer.commit(10);
  equal(buffer.take(100).length, 10);
  equal(buffer.tail().byteLength, 246); // the rest of the block: results are never moved
  equal(buffer.tail().buffer.byteLength, 256);
});

Deno.test("ReadBuffer goes to 16 KiB blocks once a read fills its room", () => {
  const buffer = new ReadBuffer(PEER);
  const rooms: number[] = [];
  const blocks: number[] = [];
  for (const n of [64, 256, 64, 128, 100]) {
    const tail = buffer.tail();
    rooms.push(tail.length);
    blocks.push(tail.buffer.byteLength);
    buffer.commit(Math.min(n, tail.length));
    buffer.take(n);
  }
  const tail = buffer.tail();
  rooms.push(tail.length);
  blocks.push(tail.buffer.byteLength);
  // 64 is small; 256 filled the 192 bytes left; 64, 128 and 100 are small, and small
  // blocks double as they fill.
  deepEqual(rooms, [256, 192, 16384, 256, 128, 512]);
  deepEqual(blocks, [256, 256, 16384, 256, 256, 512]);
});

Deno.test("ReadBuffer gives views of where the bytes landed, without copying", () => {
  const buffer = new ReadBuffer(PEER);
  const tail = buffer.tail();
  tail.set([1, 2, 3, 4, 5]);
  buffer.commit(5);
  const first = buffer.take(2);
  const second = buffer.take(10);
  equal(first.buffer, tail.buffer);
  equal(second.buffer, tail.buffer);
  deepEqual([first.byteOffset, first.length, second.byteOffset, second.length], [0, 2, 2, 3]);
  deepEqual([...first, ...second], [1, 2, 3, 4, 5]);
  equal(buffer.tail().byteOffset, 5); // the next read lands after them
});

Deno.test("ReadBuffer says how many bytes went with a block transferred away", () => {
  const buffer = new ReadBuffer(PEER);
  land(buffer, [104, 105, 33]);
  const result = buffer.take(1);
  (result.buffer as ArrayBuffer).transfer(); // takes the block, and the 2 bytes still in it
  throws(() => buffer.take(2), {
    name: "TypeError",
    message:
      "Cannot read from 127.0.0.1:9: 2 received bytes were lost, since a result's buffer was transferred away while they were in it; slice() a result before transferring its buffer",
  });
  // Said once; the connection goes on reading, into a new block.
  equal(buffer.size, 0);
  land(buffer, [7]);
  deepEqual([...buffer.take(1)], [7]);
});

Deno.test("ReadBuffer loses nothing when a block is transferred away with nothing in it", () => {
  const buffer = new ReadBuffer(PEER);
  land(buffer, [1, 2]);
  const result = buffer.take(2);
  (result.buffer as ArrayBuffer).transfer();
  land(buffer, [3, 4, 5]);
  deepEqual([...buffer.take(10)], [3, 4, 5]);
});

Deno.test("ReadBuffer counts a read that lands in a block transferred away meanwhile", () => {
  const buffer = new ReadBuffer(PEER);
  land(buffer, [1]);
  const result = buffer.take(1);
  equal(buffer.tail().length, 255); // an OS read waits on the rest of the block
  (result.buffer as ArrayBuffer).transfer();
  buffer.commit(4); // and lands where the caller took the block
  throws(() => buffer.take(10), { name: "TypeError", message: /4 received bytes were lost/ });
  land(buffer, [9]);
  deepEqual([...buffer.take(10)], [9]);
});

Deno.test("ReadBuffer results keep their bytes while the buffer shrinks and grows", () => {
  const buffer = new ReadBuffer(PEER);
  const kept: [Uint8Array, number[]][] = [];
  const sizes = [64, 3000, 10, 256, 70_000, 5, 1024, 1025, 20];
  let seed = 0;
  for (const size of sizes) {
    const bytes = Array.from({ length: size }, () => seed++ & 255);
    land(buffer, bytes);
    const result = buffer.take(size);
    kept.push([result, bytes]);
  }
  for (const [result, bytes] of kept) deepEqual([...result], bytes);
});

Deno.test("ReadBuffer keeps a partial line across reads that grow the buffer", () => {
  const buffer = new ReadBuffer(PEER);
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

Deno.test("ReadBuffer putBack() of the bytes just taken gives them again, without copying", () => {
  const buffer = new ReadBuffer(PEER);
  land(buffer, [1, 2, 3, 4, 5]);
  const taken = buffer.take(3);
  buffer.putBack(taken);
  equal(buffer.size, 5);
  const again = buffer.take(10);
  equal(again.buffer, taken.buffer);
  equal(again.byteOffset, taken.byteOffset);
  deepEqual([...again], [1, 2, 3, 4, 5]);
});

Deno.test("ReadBuffer putBack() of other bytes puts a copy in front of what is buffered", () => {
  const buffer = new ReadBuffer(PEER);
  land(buffer, [1, 2, 3, 4, 5]);
  buffer.take(2);
  const other = new Uint8Array([8, 9]);
  buffer.putBack(other);
  other.fill(0); // a copy: the caller may reuse its array
  deepEqual([...buffer.take(10)], [8, 9, 3, 4, 5]);
  // The bytes given out before stay as they were; later reads land after the copy.
  land(buffer, [6]);
  deepEqual([...buffer.take(10)], [6]);
});
