// The descriptor guard's arithmetic, without processes: what a failed accept teaches it,
// and what a sibling Worker's failure holds it at (see net/_fd_guard.ts).
import { equal } from "node:assert/strict";
import { DescriptorGuard } from "../../net/_fd_guard.ts";

/** A guard of one of `sharers` Workers, the limit unknown, holding `held` connections. */
function holding(held: number, sharers = 4): { guard: DescriptorGuard; told: () => number } {
  const guard = new DescriptorGuard(Infinity, sharers);
  let told = 0;
  guard.onOutOfDescriptors = () => told++;
  for (let i = 0; i < held; i++) guard.take();
  return { guard, told: () => told };
}

Deno.test("a guard learns its share of the budget from a failed accept, and tells its siblings", () => {
  const { guard, told } = holding(36);
  // 36 held by each of 4: 144 in all, a reserve of 16 (a tenth, at least 16), 4 of it here.
  equal(guard.limitToHeld(), 4);
  equal(guard.budget, 32);
  equal(told(), 1);
});

Deno.test("a guard that learns nothing from a failed accept still tells its siblings; one whose limit was read tells them nothing", () => {
  // Too few held to tell: something else holds the descriptors (maybe for a moment), and
  // the others stop taking more meanwhile all the same.
  const few = holding(3);
  equal(few.guard.limitToHeld(), null);
  equal(few.guard.budget, Infinity);
  equal(few.told(), 1);
  // The limit was read: the budget it gives is this guard's own, not the others' lesson.
  const read = new DescriptorGuard(50, 4);
  let told = false;
  read.onOutOfDescriptors = () => told = true;
  for (let i = 0; i < 40; i++) read.take();
  equal(read.limitToHeld(), 4);
  equal(told, false);
});

Deno.test("a sibling's failure holds a guard at the budget what it holds says, no lower when held again, for a while", async () => {
  const { guard } = holding(36);
  using _ = guard;
  guard.hold(30);
  // 36 held: a budget of 32 (its share of the reserve less), though none is closed.
  for (let i = 0; i < 3; i++) guard.give();
  equal(guard.full, true); // 33 held
  guard.hold(30); // the same shortage, told again: no lower
  guard.give();
  equal(guard.full, true); // 32 held
  guard.give();
  equal(guard.full, false); // 31 held
  equal(guard.budget, Infinity); // its own is still unknown
  // Then it lifts, and whoever waits for room is woken: a passing shortage costs nothing.
  guard.take();
  let woken = false;
  guard.onRoom(() => woken = true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  equal(woken, true);
  for (let i = 0; i < 10; i++) guard.take();
  equal(guard.full, false);
});

Deno.test("a guard a sibling's failure held still learns from its own failed accept, and sheds", async () => {
  const { guard } = holding(40);
  using _ = guard;
  guard.hold(0);
  await new Promise((resolve) => setTimeout(resolve, 10)); // the hold lifts
  for (let i = 0; i < 4; i++) guard.give();
  // At the limit itself, with 36 held: it learns, and closes its share of the reserve.
  equal(guard.limitToHeld(), 4);
  equal(guard.budget, 32);
});

Deno.test("a guard disposed of lifts its hold and lets its timer go", () => {
  // The op sanitizer finds a timer left running.
  using guard = new DescriptorGuard(Infinity, 4);
  guard.take();
  guard.hold(60_000);
  equal(guard.full, true);
  let woken = false;
  guard.onRoom(() => woken = true);
  guard[Symbol.dispose]();
  equal(guard.full, false);
  equal(woken, true);
});
