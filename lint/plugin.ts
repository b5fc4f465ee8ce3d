/**
 * A Deno lint plugin that catches the mistakes this library cannot see at run time: an event
 * created but never yielded (`conn.sendall(data);` on its own line does nothing), a function
 * yielded instead of its event (`yield sleep`), `yield*` into a coroutine whose `finally`
 * yields (a kill inside it is lost), and an `async function*` given to the scheduler.
 *
 * Enable it in `deno.json`, then run `deno lint`:
 *
 * ```json
 * { "lint": { "plugins": ["jsr:@bluelet/bluelet/lint"] } }
 * ```
 *
 * A name counts as this library's when it is imported from a module whose specifier
 * contains `bluelet` or is relative (`./`, `../`), which covers re-exports of the library
 * inside a project. In a file that imports anything from such a module (types included),
 * the event-making methods of connections, listeners, channels and locks (`recv`,
 * `recvExactly`, `readline`, `send`, `sendall`, `closeWrite`, `accept`, `receive`, `wait`,
 * `acquire`) count on any object; rules only look inside generators.
 *
 * @example Checking a coroutine with the plugin
 * ```ts
 * import plugin from "@bluelet/bluelet/lint";
 * import assert from "node:assert/strict";
 *
 * const source = `
 * import { sleep } from "@bluelet/bluelet";
 * export function* nap() {
 *   sleep(10);
 * }`;
 * const [diagnostic] = Deno.lint.runPlugin(plugin, "nap.ts", source);
 * assert.equal(diagnostic.id, "bluelet/unyielded-event");
 * ```
 *
 * @module
 */

type Node = Deno.lint.Node;
type FunctionNode =
  | Deno.lint.FunctionDeclaration
  | Deno.lint.FunctionExpression
  | Deno.lint.ArrowFunctionExpression;

/** Exports of the library whose call makes an event (or a coroutine) to yield. */
const EVENT_FUNCTIONS = new Set([
  "all",
  "call",
  "connect",
  "end",
  "join",
  "kill",
  "moveOnAfter",
  "null",
  "race",
  "select",
  "server",
  "shield",
  "sleep",
  "spawn",
  "until",
  "useAbortSignal",
  "withTimeout",
  "yieldNow",
]);

/** Methods whose call makes an event: `Connection`, `Listener`, `Channel`, `Lock`, ... */
const EVENT_METHODS = new Set([
  "accept",
  "acquire",
  "closeWrite",
  "readline",
  "receive",
  "recv",
  "recvExactly",
  "send",
  "sendall",
  "wait",
]);

/** Exports that take a coroutine to run (directly, or in an array for `all`/`race`). */
const COROUTINE_TAKERS = new Set([
  "all",
  "call",
  "join",
  "kill",
  "moveOnAfter",
  "race",
  "run",
  "select",
  "shield",
  "spawn",
  "withTimeout",
]);

/** The library's names imported by one file: local name to exported name. */
interface Imports {
  names: Map<string, string>;
  namespaces: Set<string>;
  /** Whether anything (types included) comes from the library: a file that uses it. */
  used: boolean;
}

function noImports(): Imports {
  return { names: new Map(), namespaces: new Set(), used: false };
}

function isLibrarySource(specifier: string): boolean {
  return specifier.includes("bluelet") || specifier.startsWith("./") ||
    specifier.startsWith("../");
}

function collectImports(program: Deno.lint.Program): Imports {
  const imports = noImports();
  for (const statement of program.body) {
    if (statement.type !== "ImportDeclaration") continue;
    if (!isLibrarySource(statement.source.value)) continue;
    imports.used = true;
    if (statement.importKind === "type") continue;
    for (const specifier of statement.specifiers) {
      if (specifier.type === "ImportNamespaceSpecifier") {
        imports.namespaces.add(specifier.local.name);
      } else if (specifier.type === "ImportSpecifier" && specifier.importKind !== "type") {
        const imported = specifier.imported.type === "Identifier"
          ? specifier.imported.name
          : specifier.imported.value;
        imports.names.set(specifier.local.name, imported);
      }
    }
  }
  return imports;
}

/** The library export a callee names (`sleep`, `bluelet.sleep`), or `undefined`. */
function exportName(callee: Node, imports: Imports): string | undefined {
  if (callee.type === "Identifier") return imports.names.get(callee.name);
  if (
    callee.type === "MemberExpression" && !callee.computed &&
    callee.object.type === "Identifier" && imports.namespaces.has(callee.object.name) &&
    callee.property.type === "Identifier"
  ) {
    return callee.property.name;
  }
  return undefined;
}

/**
 * Whether a callee makes an event: an event export, or a connection/listener method in a
 * file that uses the library (a generator elsewhere may well call `ws.send(x)`).
 */
function makesEvent(callee: Node, imports: Imports): boolean {
  const name = exportName(callee, imports);
  if (name !== undefined) return EVENT_FUNCTIONS.has(name);
  return imports.used && callee.type === "MemberExpression" && !callee.computed &&
    callee.property.type === "Identifier" && EVENT_METHODS.has(callee.property.name);
}

function isFunction(node: Node): node is FunctionNode {
  return node.type === "FunctionDeclaration" || node.type === "FunctionExpression" ||
    node.type === "ArrowFunctionExpression";
}

function parentOf(node: Node): Node | null {
  // Program has no parent, and comments are not visited.
  return (node as { parent?: Node | null }).parent ?? null;
}

function enclosingFunction(node: Node): FunctionNode | undefined {
  for (let current = parentOf(node); current; current = parentOf(current)) {
    if (isFunction(current)) return current;
  }
  return undefined;
}

/** Whether a node's nearest function is a (synchronous) generator: a coroutine. */
function inCoroutine(node: Node): boolean {
  const fn = enclosingFunction(node);
  return fn !== undefined && fn.type !== "ArrowFunctionExpression" && fn.generator &&
    !fn.async;
}

/** The name a generator function is called by in this file, if any. */
function generatorName(fn: FunctionNode): string | undefined {
  if (fn.type === "ArrowFunctionExpression" || !fn.generator) return undefined;
  if (fn.id) return fn.id.name;
  const parent = fn.parent;
  if (parent.type === "VariableDeclarator" && parent.id.type === "Identifier") {
    return parent.id.name;
  }
  return undefined;
}

/** Whether a node lies in a `finally` block of its own function. */
function inFinally(node: Node): boolean {
  let child: Node = node;
  for (let current = parentOf(node); current; current = parentOf(current)) {
    if (isFunction(current)) return false;
    if (current.type === "TryStatement" && current.finalizer === child) return true;
    child = current;
  }
  return false;
}

function calleeText(ctx: Deno.lint.RuleContext, call: Deno.lint.CallExpression): string {
  return `${ctx.sourceCode.getText(call.callee)}(...)`;
}

const unyieldedEvent: Deno.lint.Rule = {
  create(ctx) {
    let imports = noImports();
    return {
      Program(node) {
        imports = collectImports(node);
      },
      ExpressionStatement(node) {
        const call = node.expression;
        if (call.type !== "CallExpression" || !inCoroutine(node)) return;
        if (!makesEvent(call.callee, imports)) return;
        const text = calleeText(ctx, call);
        ctx.report({
          node: call,
          message: `The event from ${text} is never yielded, so it does nothing`,
          hint: `Yield it: yield* ${text}`,
          fix: (fixer) => fixer.insertTextBefore(call, "yield* "),
        });
      },
    };
  },
};

const uncalledEvent: Deno.lint.Rule = {
  create(ctx) {
    let imports = noImports();
    return {
      Program(node) {
        imports = collectImports(node);
      },
      YieldExpression(node) {
        const argument = node.argument;
        if (argument === null || !inCoroutine(node)) return;
        if (argument.type !== "Identifier" && argument.type !== "MemberExpression") return;
        if (!makesEvent(argument, imports)) return;
        const text = ctx.sourceCode.getText(argument);
        ctx.report({
          node: argument,
          message: `Cannot yield the function ${text}: call it to make an event`,
          hint: `Call it: ${node.delegate ? "yield*" : "yield"} ${text}(...)`,
        });
      },
    };
  },
};

const yieldStarFinally: Deno.lint.Rule = {
  create(ctx) {
    // Generator functions by name (a name declared twice is left out: it is ambiguous).
    const generators = new Map<string, FunctionNode>();
    const ambiguous = new Set<string>();
    const yieldingFinally = new Set<FunctionNode>();
    const delegations: { node: Deno.lint.YieldExpression; callee: string }[] = [];
    const declare = (fn: FunctionNode) => {
      const name = generatorName(fn);
      if (name === undefined) return;
      if (generators.has(name)) ambiguous.add(name);
      generators.set(name, fn);
    };
    return {
      FunctionDeclaration: declare,
      FunctionExpression: declare,
      YieldExpression(node) {
        const fn = enclosingFunction(node);
        if (fn === undefined) return;
        if (inFinally(node)) yieldingFinally.add(fn);
        const argument = node.argument;
        if (
          node.delegate && argument?.type === "CallExpression" &&
          argument.callee.type === "Identifier"
        ) {
          delegations.push({ node, callee: argument.callee.name });
        }
      },
      "Program:exit"() {
        const unsafe = (name: string) => {
          const fn = generators.get(name);
          return fn !== undefined && !ambiguous.has(name) && yieldingFinally.has(fn);
        };
        // A coroutine that delegates to an unsafe one loses a kill the same way.
        let grew = true;
        while (grew) {
          grew = false;
          for (const { node, callee } of delegations) {
            const fn = enclosingFunction(node);
            if (fn === undefined || yieldingFinally.has(fn) || !unsafe(callee)) continue;
            yieldingFinally.add(fn);
            grew = true;
          }
        }
        for (const { node, callee } of delegations) {
          if (!unsafe(callee)) continue;
          const call = node.argument as Deno.lint.CallExpression;
          const text = ctx.sourceCode.getText(call);
          ctx.report({
            node,
            message:
              `Cannot kill safely through yield* ${text}: its finally block yields, so a kill inside it resumes the caller`,
            hint: `Run it as a frame of its own: yield* call(${text})`,
          });
        }
      },
    };
  },
};

const asyncCoroutine: Deno.lint.Rule = {
  create(ctx) {
    let imports = noImports();
    const asyncGenerators = new Set<string>();
    const candidates: Deno.lint.CallExpression[] = [];
    const isAsyncGenerator = (node: Node): boolean =>
      node.type === "FunctionExpression" && node.async && node.generator;
    const consider = (node: Node | null) => {
      if (node?.type === "CallExpression") candidates.push(node);
      if (node?.type === "ArrayExpression") {
        for (const element of node.elements) {
          consider(element);
        }
      }
    };
    return {
      Program(node) {
        imports = collectImports(node);
      },
      FunctionDeclaration(node) {
        if (node.async && node.generator && node.id) asyncGenerators.add(node.id.name);
      },
      VariableDeclarator(node) {
        if (node.id.type === "Identifier" && node.init && isAsyncGenerator(node.init)) {
          asyncGenerators.add(node.id.name);
        }
      },
      YieldExpression(node) {
        // A generator of async iterators is fine in a file that does not use the library.
        if (imports.used && inCoroutine(node)) consider(node.argument);
      },
      CallExpression(node) {
        const name = exportName(node.callee, imports);
        if (name !== undefined && COROUTINE_TAKERS.has(name)) {
          for (const argument of node.arguments) consider(argument);
        }
      },
      "Program:exit"() {
        for (const call of candidates) {
          const callee = call.callee;
          const named = callee.type === "Identifier" && asyncGenerators.has(callee.name);
          if (!named && !isAsyncGenerator(callee)) continue;
          ctx.report({
            node: call,
            message:
              "Cannot run an async generator as a coroutine: the scheduler drives only function*",
            hint: "Make it a function* and wait for a promise with yield* until(promise)",
          });
        }
      },
    };
  },
};

/**
 * The plugin: rules `unyielded-event`, `uncalled-event`, `yield-star-finally` and
 * `async-coroutine`, reported as `bluelet/<rule>`.
 *
 * @example Linting a snippet in a test
 * ```ts
 * import plugin from "@bluelet/bluelet/lint";
 * import assert from "node:assert/strict";
 *
 * const source = `
 * import type { Connection } from "@bluelet/bluelet";
 * export function* reply(conn: Connection) {
 *   yield* conn.sendall("ok\\n");
 * }`;
 * assert.deepEqual(Deno.lint.runPlugin(plugin, "reply.ts", source), []);
 * ```
 */
const plugin: Deno.lint.Plugin = {
  name: "bluelet",
  rules: {
    "unyielded-event": unyieldedEvent,
    "uncalled-event": uncalledEvent,
    "yield-star-finally": yieldStarFinally,
    "async-coroutine": asyncCoroutine,
  },
};

export default plugin;
