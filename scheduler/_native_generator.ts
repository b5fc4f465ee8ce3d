// The generator built-in the kernel resumes frames with. Each `function*` gives its
// generator objects a shape of their own, so a `frame.next(value)` in the kernel, which
// steps the generators of every function a program has, is a megamorphic load: a lookup in
// V8's stub cache on every step. Calling the built-in itself reads no property, and made a
// loop of `yieldNow()` 5-13% faster. So every frame's `next` is that built-in: a coroutine
// whose `next` is another (replaced on it, a Proxy's, any object with `next`, `throw` and
// `return`) runs inside a generator that delegates to it through `yield*`: each call goes
// on to the coroutine, and each result comes back as it is.
import type { Coroutine } from "./coroutine.ts";

/** Has the generator objects of every `function*` as its instances, for `instanceof`. */
export const NativeGenerator = function () {} as unknown as { new (): Coroutine<unknown> };
const GeneratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf((function* () {})()));
NativeGenerator.prototype = GeneratorPrototype;

/** `Generator.prototype.next`, as it was when this module loaded. */
export const resumeNext: (this: Coroutine<unknown>, value: unknown) => IteratorResult<unknown> =
  GeneratorPrototype.next;

/**
 * `coroutine` as a frame whose `next` is {@linkcode resumeNext}: itself if its `next` is
 * that now (a `next` replaced on it later is not seen), or else one that delegates to it.
 */
export function asFrame(coroutine: Coroutine<unknown>): Coroutine<unknown> {
  try {
    if (coroutine instanceof NativeGenerator && coroutine.next === resumeNext) return coroutine;
  } catch {
    // A `next` that cannot be read (a throwing getter, a revoked Proxy): the delegate reads
    // it again at the frame's first step, where the error belongs.
  }
  return delegateTo(coroutine);
}

function* delegateTo(coroutine: Coroutine<unknown>): Coroutine<unknown> {
  // Its methods are read on every call, as the kernel reads a frame's: `yield*` would read
  // the coroutine's `next` once, and miss a Proxy revoked meanwhile.
  return yield* {
    [Symbol.iterator]() {
      return this;
    },
    next: (value: unknown) => coroutine.next(value),
    throw: (error: unknown) => coroutine.throw(error),
    return: (value: unknown) => coroutine.return(value),
  };
}
