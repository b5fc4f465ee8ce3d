/**
 * A Deno lint plugin that catches the mistakes this library cannot see at run time: an event
 * created but never yielded (`conn.sendall(data);` on its own line does nothing, and so does
 * `greet(conn);` of the file's own `function* greet`), a function
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
 * inside a project, unless a parameter or a local declaration hides the import where it is
 * used. In a file that imports anything from such a module (types included),
 * the event-making methods of connections, listeners, channels, locks and semaphores (`recv`,
 * `recvExactly`, `readline`, `send`, `sendall`, `closeWrite`, `accept`, `receive`, `wait`,
 * `acquire`, `withLock`, `withPermit`) count on any object. Methods whose names are common
 * elsewhere count only where the file imports a class that has them: `publish` and
 * `subscribe` with `Broadcast`, `spawn` with `TaskGroup` or `taskGroup`, `connect` with
 * `MemoryListener` (a namespace import from a module named for bluelet counts as importing
 * them all; one from a relative module, those the file names through it, as in
 * `deps.Broadcast`). A generator called by name is the one the name is bound to where it
 * is called: a parameter or a local of the same name is not the file's generator. Rules look only in
 * files that use the library, and the event rules only inside generators; `async-coroutine`
 * looks at every call of `run`, `spawn`, `group.spawn` and `call`, wherever it is.
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
  "recvInto",
  "relay",
  "select",
  "server",
  "shield",
  "sleep",
  "snapshot",
  "spawn",
  "taskGroup",
  "until",
  "useAbortSignal",
  "withTimeout",
  "yieldNow",
]);

/**
 * Methods whose call makes an event, counted on any object in a file that uses the library:
 * `Connection`, `Listener`, `Channel`, `Subscription`, `Lock`, `Semaphore`, `Event`.
 * `tests/lint/plugin_test.ts` reads the exports' docs and fails when one is missing here.
 */
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
  "withLock",
  "withPermit",
]);

/**
 * Methods whose call makes an event but whose names are common elsewhere (`ws.publish(x)`,
 * `command.spawn()`, `db.connect()`), by the exports one of which the file must import.
 */
const OWNED_EVENT_METHODS = new Map([
  ["connect", ["MemoryListener"]],
  ["publish", ["Broadcast"]],
  ["spawn", ["TaskGroup", "taskGroup"]],
  ["subscribe", ["Broadcast"]],
]);

/**
 * Methods that take a coroutine to run, by the exports one of which the file must import
 * (as in `OWNED_EVENT_METHODS`): `group.spawn(op)` of a `TaskGroup`.
 */
const OWNED_COROUTINE_TAKERS = new Map([["spawn", ["TaskGroup", "taskGroup"]]]);

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
  /**
   * The local names imported from a module named for bluelet, types included: surely the
   * library's.
   */
  sureLocals: Set<string>;
  /** The namespaces imported from a module named for bluelet. */
  sureNamespaces: Set<string>;
  namespaces: Set<string>;
  /**
   * Exports reached through a namespace import: all of them through a module named for
   * bluelet; through a relative one (a project's own module, or its re-export of the
   * library), those the file names through it (`deps.Broadcast`).
   */
  namespaceExports: Set<string>;
  /** Exported names imported, types included. */
  exported: Set<string>;
  /** Whether anything (types included) comes from the library: a file that uses it. */
  used: boolean;
}

function noImports(): Imports {
  return {
    names: new Map(),
    sureLocals: new Set(),
    sureNamespaces: new Set(),
    namespaces: new Set(),
    namespaceExports: new Set(),
    exported: new Set(),
    used: false,
  };
}

function isLibrarySource(specifier: string): boolean {
  return specifier.includes("bluelet") || specifier.startsWith("./") ||
    specifier.startsWith("../");
}

function collectImports(program: Deno.lint.Program, text: string): Imports {
  const imports = noImports();
  for (const statement of program.body) {
    if (statement.type !== "ImportDeclaration") continue;
    if (!isLibrarySource(statement.source.value)) continue;
    imports.used = true;
    const sure = statement.source.value.includes("bluelet");
    const types = statement.importKind === "type";
    for (const specifier of statement.specifiers) {
      if (specifier.type === "ImportNamespaceSpecifier" && !types) {
        const local = specifier.local.name;
        imports.namespaces.add(local);
        if (sure) imports.sureNamespaces.add(local);
        for (
          const owners of [...OWNED_EVENT_METHODS.values(), ...OWNED_COROUTINE_TAKERS.values()]
        ) {
          for (const owner of owners) {
            // `deps.Broadcast`, `deps?.Broadcast`, `deps["Broadcast"]`, `{ Broadcast } = deps`.
            const ns = local.replaceAll("$", "\\$");
            const named = new RegExp(
              `(?<![\\w$.])${ns}\\s*(?:\\?\\.|\\.|\\[\\s*["'\`])\\s*${owner}\\b|` +
                `\\{[^{}]*\\b${owner}\\b[^{}]*\\}\\s*=\\s*${ns}(?![\\w$])`,
            );
            if (sure || named.test(text)) {
              imports.namespaceExports.add(owner);
            }
          }
        }
      } else if (specifier.type === "ImportSpecifier") {
        const imported = specifier.imported.type === "Identifier"
          ? specifier.imported.name
          : specifier.imported.value;
        imports.exported.add(imported);
        if (sure) imports.sureLocals.add(specifier.local.name);
        if (!types && specifier.importKind !== "type") {
          imports.names.set(specifier.local.name, imported);
        }
      }
    }
  }
  return imports;
}

/**
 * The library export a callee names (`sleep`, `bluelet.sleep`), or `undefined`: also where
 * a local name hides the import (`function* f(sleep) { sleep(5); }`).
 */
function exportName(callee: Node, imports: Imports): string | undefined {
  if (callee.type === "Identifier") {
    const name = imports.names.get(callee.name);
    return name === undefined || shadowed(callee, callee.name) ? undefined : name;
  }
  if (
    callee.type === "MemberExpression" && !callee.computed &&
    callee.object.type === "Identifier" && imports.namespaces.has(callee.object.name) &&
    callee.property.type === "Identifier" && !shadowed(callee, callee.object.name)
  ) {
    return callee.property.name;
  }
  return undefined;
}

/**
 * Whether `name`, used at `node`, is bound by a scope inside the module: a parameter or
 * the name of an enclosing function, or a declaration in an enclosing block or namespace
 * (`const`, `let`, `var`, a function, a class, an enum or a namespace, a `for` head, a
 * `catch` clause), a nested block's `var` included. Imports are bound at the module's
 * top, which is not looked at.
 */
function shadowed(node: Node, name: string): boolean {
  for (let current = parentOf(node); current; current = parentOf(current)) {
    switch (current.type) {
      case "FunctionDeclaration":
      case "FunctionExpression":
      case "ArrowFunctionExpression":
        if (current.params.some((param) => binds(param, name))) return true;
        // A function expression's own name is seen only inside it.
        if (current.type === "FunctionExpression" && current.id?.name === name) return true;
        // A `var` in a nested block is hoisted to the function.
        if (current.body?.type === "BlockStatement" && hoistedVarsOf(current.body).has(name)) {
          return true;
        }
        break;
      case "ClassExpression":
        if (current.id?.name === name) return true;
        break;
      case "BlockStatement":
      case "StaticBlock": // Deno gives its body as a BlockStatement, whatever its types say
      case "SwitchStatement":
        if (bindingsOf(current).has(name)) return true;
        break;
      case "TSModuleBlock": // a namespace's body, where a nested block's `var` is hoisted to
        if (bindingsOf(current).has(name) || hoistedVarsOf(current).has(name)) return true;
        break;
      default:
        if (headBinds(current, name)) return true;
    }
  }
  return false;
}

/** Whether `node` is a `for` head or a `catch` clause that binds `name` for what it holds. */
function headBinds(node: Node, name: string): boolean {
  switch (node.type) {
    case "ForStatement":
      return node.init !== null && declares(node.init, name);
    case "ForInStatement":
    case "ForOfStatement":
      return declares(node.left, name);
    case "CatchClause":
      return node.param !== null && binds(node.param, name);
    default:
      return false;
  }
}

/**
 * What `name`, used at `node`, is bound to in the module: a function (declared, or a
 * variable's function expression), `null` for any other binding (a parameter, a variable
 * of another value, a class, a `for` head, a `catch` clause), `undefined` for none (an
 * import or a global).
 */
function functionBinding(node: Node, name: string): FunctionNode | null | undefined {
  for (let current = parentOf(node); current; current = parentOf(current)) {
    switch (current.type) {
      case "FunctionDeclaration":
      case "FunctionExpression":
      case "ArrowFunctionExpression": {
        if (current.params.some((param) => binds(param, name))) return null;
        if (current.type === "FunctionExpression" && current.id?.name === name) return current;
        // A `var` in a block beside the one used from is hoisted to the function.
        const body = current.body;
        const hoisted = body?.type === "BlockStatement" ? hoistedVarsOf(body).get(name) : undefined;
        if (hoisted !== undefined) return functionOf(hoisted);
        continue;
      }
      case "ClassExpression":
        if (current.id?.name === name) return null;
        continue;
    }
    if (headBinds(current, name)) return null;
    const binding = bindingsOf(current).get(name);
    if (binding !== undefined) {
      if (binding.type === "FunctionDeclaration") return binding;
      return binding.type === "VariableDeclarator" ? functionOf(binding) : null;
    }
    if (current.type === "Program") {
      // The module's `var` in a nested block is hoisted to it.
      const hoisted = hoistedVarsOf(current).get(name);
      if (hoisted !== undefined) return functionOf(hoisted);
    }
  }
  return undefined;
}

/** The function a declarator binds its name to, or `null` for any other value. */
function functionOf(declarator: Deno.lint.VariableDeclarator): FunctionNode | null {
  const init = declarator.init == null ? null : unwrapped(declarator.init);
  return declarator.id.type === "Identifier" && init != null && isFunction(init) ? init : null;
}

/** What a statement list binds: a variable's declarator, a function, a class, an enum, a namespace. */
type Binding =
  | Deno.lint.VariableDeclarator
  | Deno.lint.FunctionDeclaration
  | Deno.lint.ClassDeclaration
  | Deno.lint.TSEnumDeclaration
  | Deno.lint.TSModuleDeclaration;

// Memos, by node: Deno's lint nodes are the same object however reached, but each read of
// a list (`body`) makes a new array, so looking through a block's statements for each name
// used in it made a big generator take seconds (quadratic in its size).
const bindingMemo = new WeakMap<Node, Map<string, Binding>>();
const hoistedMemo = new WeakMap<Node, Map<string, Deno.lint.VariableDeclarator>>();

/**
 * The names the statements of `node` (a block, the module, a namespace, a `switch`'s
 * cases, in order) declare, each to its first declaration there; empty for any other node.
 */
function bindingsOf(node: Node): Map<string, Binding> {
  let bindings = bindingMemo.get(node);
  if (bindings !== undefined) return bindings;
  bindings = new Map();
  const statements = node.type === "SwitchStatement"
    ? node.cases.flatMap((branch) => branch.consequent)
    : (node as { body?: unknown }).body;
  if (Array.isArray(statements)) {
    for (const statement of statements as Node[]) {
      const declared = statement.type === "ExportNamedDeclaration" ||
          statement.type === "ExportDefaultDeclaration"
        ? statement.declaration
        : statement;
      if (declared === null || declared === undefined) continue;
      if (declared.type === "VariableDeclaration") {
        for (const declarator of declared.declarations) {
          for (const name of boundNames(declarator.id)) {
            if (!bindings.has(name)) bindings.set(name, declarator);
          }
        }
      } else if (
        (declared.type === "FunctionDeclaration" || declared.type === "ClassDeclaration" ||
          declared.type === "TSEnumDeclaration") &&
        declared.id != null && !bindings.has(declared.id.name)
      ) {
        bindings.set(declared.id.name, declared);
      } else if (
        // A namespace (not a module named by a string): `namespace sleep {}` binds `sleep`.
        declared.type === "TSModuleDeclaration" && declared.id.type === "Identifier" &&
        !bindings.has(declared.id.name)
      ) {
        bindings.set(declared.id.name, declared);
      }
    }
  }
  bindingMemo.set(node, bindings);
  return bindings;
}

/**
 * The `var`s declared anywhere in `node`'s statements (not in functions), each to its first
 * declarator: what is hoisted to the function or the module whose body `node` is.
 */
function hoistedVarsOf(node: Node): Map<string, Deno.lint.VariableDeclarator> {
  const memo = hoistedMemo.get(node);
  if (memo !== undefined) return memo;
  const found = new Map<string, Deno.lint.VariableDeclarator>();
  const visit = (node: Node | null | undefined): void => {
    if (node === null || node === undefined) return;
    switch (node.type) {
      case "VariableDeclaration":
        if (node.kind !== "var") return;
        for (const declarator of node.declarations) {
          for (const name of boundNames(declarator.id)) {
            if (!found.has(name)) found.set(name, declarator);
          }
        }
        return;
      case "Program":
      case "TSModuleBlock":
      case "BlockStatement":
        for (const statement of node.body as Node[]) visit(statement);
        return;
      case "IfStatement":
        visit(node.consequent);
        return visit(node.alternate);
      case "ForStatement":
        visit(node.init);
        return visit(node.body);
      case "ForInStatement":
      case "ForOfStatement":
        visit(node.left);
        return visit(node.body);
      case "WhileStatement":
      case "DoWhileStatement":
      case "LabeledStatement":
        return visit(node.body);
      case "TryStatement":
        visit(node.block);
        visit(node.handler?.body);
        return visit(node.finalizer);
      case "SwitchStatement":
        for (const branch of node.cases) {
          for (const statement of branch.consequent) visit(statement);
        }
        return;
    }
  };
  visit(node);
  hoistedMemo.set(node, found);
  return found;
}

/** The names a parameter or a binding pattern (`{ a, b: [c] }`, `d = 1`, `...e`) binds. */
function boundNames(pattern: Node | Deno.lint.Parameter | null): string[] {
  if (pattern === null) return [];
  // A constructor's `private readonly x` (not a node of its own in the plugin's types).
  if (pattern.type === "TSParameterProperty") return boundNames(pattern.parameter);
  switch (pattern.type) {
    case "Identifier":
      return [pattern.name];
    case "AssignmentPattern":
      return boundNames(pattern.left);
    case "RestElement":
      return boundNames(pattern.argument);
    case "ArrayPattern":
      return pattern.elements.flatMap((element) => boundNames(element));
    case "ObjectPattern":
      return pattern.properties.flatMap((property) =>
        boundNames(property.type === "RestElement" ? property.argument : property.value)
      );
    default:
      return [];
  }
}

/** Whether a statement declares `name` in the block it is in. */
function declares(statement: Node, name: string): boolean {
  switch (statement.type) {
    case "VariableDeclaration":
      return statement.declarations.some((declarator) => binds(declarator.id, name));
    case "FunctionDeclaration":
    case "ClassDeclaration":
      return statement.id?.name === name;
    default:
      return false;
  }
}

/** Whether a parameter or a binding pattern (`{ a, b: [c] }`, `d = 1`, `...e`) binds `name`. */
function binds(pattern: Node | Deno.lint.Parameter | null, name: string): boolean {
  return boundNames(pattern).includes(name);
}

/**
 * Whether a callee makes an event: an event export, or a connection/listener method in a
 * file that uses the library (a generator elsewhere may well call `ws.send(x)`).
 */
function makesEvent(callee: Node, imports: Imports): boolean {
  // In `a?.b()` the callee is a chain of its own.
  if (callee.type === "ChainExpression") callee = callee.expression;
  const name = exportName(callee, imports);
  if (name !== undefined) return EVENT_FUNCTIONS.has(name);
  if (!imports.used || callee.type !== "MemberExpression" || callee.computed) return false;
  if (callee.property.type !== "Identifier") return false;
  if (callee.object.type === "Identifier" && isPlatformObject(callee.object)) return false;
  const method = callee.property.name;
  if (EVENT_METHODS.has(method)) return true;
  return ownedMethod(OWNED_EVENT_METHODS, method, imports);
}

/** The platform's objects, whose methods of the same names (`Atomics.wait`) are not events. */
const PLATFORM_OBJECTS = new Set([
  "Atomics",
  "Deno",
  "Reflect",
  "console",
  "crypto",
  "globalThis",
  "navigator",
  "performance",
  "self",
  "window",
]);

/** Whether `object` names one of the platform's objects (not a local of that name). */
function isPlatformObject(object: Deno.lint.Identifier): boolean {
  return PLATFORM_OBJECTS.has(object.name) && !shadowed(object, object.name);
}

/**
 * Whether a call is surely the library's, so that `--fix` may yield it: an export called
 * (`sleep(5)`), or a method of a receiver declared as the library's: a parameter typed
 * with one of its types (`conn: Connection`), or a variable made by `new` of one of its
 * classes (`const jobs = new Channel<Job>()`) or typed so. A method matched by its name
 * alone may be anything's (`ws.send(x)`): `yield*` would break it.
 */
function surelyLibrarys(callee: Node, imports: Imports): boolean {
  if (exportName(callee, imports) !== undefined) {
    // `sleep(5)`, `bluelet.sleep(5)`: imported from a module named for bluelet, and bound
    // to nothing else where it is called (a namespace's function, a hoisted `var`).
    const local = callee.type === "MemberExpression" ? callee.object : callee;
    return local.type === "Identifier" &&
      (imports.sureLocals.has(local.name) || imports.sureNamespaces.has(local.name)) &&
      declarationOf(local, local.name) === undefined;
  }
  if (callee.type !== "MemberExpression" || callee.object.type !== "Identifier") return false;
  const declared = declarationOf(callee.object, callee.object.name);
  return declared !== undefined && namesLibraryType(declared, imports);
}

/** A binding that says nothing of the library: a function, a class, a `for` head, ... */
const OTHER: unique symbol = Symbol("other");

/**
 * What binds `name` where `node` uses it, nearest first: a parameter, a variable's
 * declarator, or `OTHER` for anything else that binds it (a function or a class, a `for`
 * head, a `catch` clause, a `var` hoisted from a nested block). Undefined if nothing in the
 * module does.
 */
function declarationOf(node: Node, name: string): Node | typeof OTHER | undefined {
  let child: Node = node;
  for (let current = parentOf(node); current; child = current, current = parentOf(current)) {
    let found: Node | typeof OTHER | undefined;
    if (isFunction(current)) {
      // A `var` in a nested block is hoisted to the function (a parameter of the same name
      // is that variable, given whatever the `var` is).
      const body = current.body;
      if (body?.type === "BlockStatement" && hoistedVarsOf(body).has(name)) return OTHER;
      const param = current.params.find((param) => binds(param, name));
      if (param !== undefined) {
        return param.type === "TSParameterProperty" ? param.parameter : param;
      }
      if (current.type === "FunctionExpression" && current.id?.name === name) return OTHER;
    } else if (current.type === "SwitchStatement") {
      found = declaredIn(current, name);
    } else if (
      (current.type === "ForOfStatement" || current.type === "ForInStatement") &&
      current.left !== child && declares(current.left, name)
    ) {
      return OTHER;
    } else if (
      current.type === "ForStatement" && current.init !== null && declares(current.init, name)
    ) {
      return OTHER;
    } else if (current.type === "CatchClause" && binds(current.param, name)) {
      return OTHER;
    } else {
      found = declaredIn(current, name);
      // A namespace's (or the module's) `var` in a nested block is hoisted to it.
      if (
        found === undefined && (current.type === "TSModuleBlock" || current.type === "Program") &&
        hoistedVarsOf(current).has(name)
      ) {
        found = OTHER;
      }
    }
    if (found !== undefined) return found;
  }
  return undefined;
}

/** How `node`'s statements (a block, a module, a namespace, a `switch`) bind `name`, if they do. */
function declaredIn(node: Node, name: string): Node | typeof OTHER | undefined {
  const binding = bindingsOf(node).get(name);
  if (binding === undefined) return undefined;
  return binding.type === "VariableDeclarator" ? binding : OTHER;
}

/**
 * Whether a parameter or declarator is surely the library's: typed with one of its types
 * (by the name the module imported it as from bluelet, not hidden there by a type of the
 * same name), or a `const` made by `new` of one of its classes. (A `let` may be given
 * anything later; a relative module's types may be anything's.)
 */
function namesLibraryType(declared: Node | typeof OTHER, imports: Imports): boolean {
  if (declared === OTHER) return false;
  const bound = declared.type === "VariableDeclarator" ? declared.id : declared;
  const id = bound.type === "AssignmentPattern" ? bound.left : bound; // `ch: Channel = ...`
  const annotation = id.type === "Identifier" ? id.typeAnnotation?.typeAnnotation : undefined;
  if (annotation?.type === "TSTypeReference") {
    const type = annotation.typeName;
    return type.type === "Identifier" && imports.sureLocals.has(type.name) &&
      !shadowed(annotation, type.name) && !typeShadowed(annotation, type.name);
  }
  if (declared.type !== "VariableDeclarator" || annotation !== undefined) return false;
  const declaration = parentOf(declared);
  const init = declared.init;
  return declaration?.type === "VariableDeclaration" && declaration.kind === "const" &&
    init?.type === "NewExpression" && init.callee.type === "Identifier" &&
    imports.sureLocals.has(init.callee.name) && declarationOf(init, init.callee.name) === undefined;
}

/**
 * Whether a type named `name` is declared between `node` and the module's top: a type
 * parameter, a type alias, an interface, an enum, a class or a namespace of that name.
 */
function typeShadowed(node: Node, name: string): boolean {
  for (let current = parentOf(node); current; current = parentOf(current)) {
    const params = (current as { typeParameters?: { params?: { name?: { name?: string } }[] } })
      .typeParameters?.params;
    if (params?.some((param) => param.name?.name === name)) return true;
    const body = (current as { body?: unknown }).body;
    if (current.type === "Program" || !Array.isArray(body)) continue;
    for (const statement of body as Node[]) {
      const declared = statement.type === "ExportNamedDeclaration"
        ? statement.declaration
        : statement;
      const id = (declared as { id?: { name?: string } } | null)?.id;
      if (
        declared !== null && declared !== undefined && id?.name === name &&
        (declared.type === "TSTypeAliasDeclaration" || declared.type === "TSInterfaceDeclaration" ||
          declared.type === "TSEnumDeclaration" || declared.type === "ClassDeclaration" ||
          declared.type === "TSModuleDeclaration")
      ) {
        return true;
      }
    }
  }
  return false;
}

/** Whether `method` is in `owned` and the file imports an export that has it. */
function ownedMethod(owned: Map<string, string[]>, method: string, imports: Imports): boolean {
  const owners = owned.get(method);
  return owners !== undefined &&
    owners.some((owner) => imports.exported.has(owner) || imports.namespaceExports.has(owner));
}

/** Whether a call's callee runs the coroutines given to it: `spawn`, `group.spawn`. */
function takesCoroutine(callee: Node, imports: Imports): boolean {
  const name = exportName(callee, imports);
  if (name !== undefined) return COROUTINE_TAKERS.has(name);
  // A task group's `spawn` fails at run time on an async generator, as `spawn` does.
  if (!imports.used || callee.type !== "MemberExpression" || callee.computed) return false;
  return callee.property.type === "Identifier" &&
    ownedMethod(OWNED_COROUTINE_TAKERS, callee.property.name, imports);
}

/** A member's name as written after a dot (`poll`, `#poll`), or `undefined` if computed. */
function memberName(key: Node, computed: boolean): string | undefined {
  if (computed) return undefined;
  if (key.type === "Identifier") return key.name;
  if (key.type === "PrivateIdentifier") return `#${key.name}`;
  return undefined;
}

/** The name of the method (or object property) a function expression defines, if any. */
function methodName(fn: FunctionNode): string | undefined {
  const parent = fn.parent;
  if (parent.type !== "MethodDefinition" && parent.type !== "Property") return undefined;
  return parent.value === fn ? memberName(parent.key, parent.computed) : undefined;
}

type Assertion =
  | Deno.lint.TSAsExpression
  | Deno.lint.TSSatisfiesExpression
  | Deno.lint.TSNonNullExpression
  | Deno.lint.TSTypeAssertion;

/** Whether `node` is a type assertion (`as`, `satisfies`, `!`, `<T>`): nothing at run time. */
function isAssertion(node: Node): node is Assertion {
  return node.type === "TSAsExpression" || node.type === "TSSatisfiesExpression" ||
    node.type === "TSNonNullExpression" || node.type === "TSTypeAssertion";
}

/** `node` without the type assertions around it: the value it is at run time. */
function unwrapped(node: Node): Node {
  while (isAssertion(node)) node = node.expression;
  return node;
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

/**
 * The name a generator function is called by in this file, if any: `sub` for a declaration
 * or a variable (not a function expression's own name, seen only inside it), `this.sub` for
 * a method.
 */
function generatorName(fn: FunctionNode): string | undefined {
  if (fn.type === "ArrowFunctionExpression" || !fn.generator) return undefined;
  if (fn.type === "FunctionDeclaration") return fn.id?.name;
  let parent: Node = fn.parent;
  while (isAssertion(parent)) parent = parent.parent;
  if (parent.type === "VariableDeclarator" && parent.id.type === "Identifier") {
    return parent.id.name;
  }
  const method = methodName(fn);
  return method === undefined ? undefined : `this.${method}`;
}

/** The name a delegation's callee calls, as {@linkcode generatorName} gives it. */
function calledName(callee: Node): string | undefined {
  if (callee.type === "Identifier") return callee.name;
  if (callee.type !== "MemberExpression" || callee.object.type !== "ThisExpression") {
    return undefined;
  }
  const method = memberName(callee.property, callee.computed);
  return method === undefined ? undefined : `this.${method}`;
}

/**
 * The calls whose value a `return` gives (or drops): the argument itself, each branch of a
 * conditional, and what `as`, `satisfies`, `!` or `void` wrap.
 */
function returnedCalls(argument: Node): Deno.lint.CallExpression[] {
  const node = unwrapped(argument);
  if (node.type === "CallExpression") return [node];
  if (node.type === "ConditionalExpression") {
    return [...returnedCalls(node.consequent), ...returnedCalls(node.alternate)];
  }
  if (node.type === "UnaryExpression" && node.operator === "void") {
    return returnedCalls(node.argument);
  }
  return [];
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
  // `optional` is set on every call in a chain, so read whether this one is `f?.()`.
  const rest = ctx.sourceCode.getText().slice(call.callee.range[1], call.range[1]);
  const optional = rest.trimStart().startsWith("?.") ? "?." : "";
  return `${ctx.sourceCode.getText(call.callee)}${optional}(...)`;
}

/**
 * The names the module's top level gives its own generator functions: `function* f`,
 * `export function* f`, `const f = function* ...`.
 */
function topLevelGenerators(program: Deno.lint.Program): Set<string> {
  const names = new Set<string>();
  for (const top of program.body) {
    const statement = top.type === "ExportNamedDeclaration" && top.declaration !== null
      ? top.declaration
      : top;
    if (statement.type === "FunctionDeclaration" && statement.generator && !statement.async) {
      if (statement.id !== null) names.add(statement.id.name);
    } else if (statement.type === "VariableDeclaration") {
      for (const declarator of statement.declarations) {
        const init = declarator.init == null ? null : unwrapped(declarator.init);
        if (
          declarator.id.type === "Identifier" && init?.type === "FunctionExpression" &&
          init.generator && !init.async
        ) names.add(declarator.id.name);
      }
    }
  }
  return names;
}

const unyieldedEvent: Deno.lint.Rule = {
  create(ctx) {
    let imports = noImports();
    let generators = new Set<string>();
    return {
      Program(node) {
        imports = collectImports(node, ctx.sourceCode.getText());
        generators = imports.used ? topLevelGenerators(node) : new Set();
      },
      ExpressionStatement(node) {
        // `void sleep(5)` drops the event just as surely; its fix replaces the `void`.
        const voided = node.expression.type === "UnaryExpression" &&
            node.expression.operator === "void"
          ? node.expression
          : null;
        const expression = voided === null ? node.expression : voided.argument;
        // `maybe?.sendall(x)` is a chain around the call.
        const chained = expression.type === "ChainExpression";
        const call = chained ? expression.expression : expression;
        if (call.type !== "CallExpression" || !inCoroutine(node)) return;
        const callee = call.callee;
        const yieldIt = (fixer: Deno.lint.Fixer) =>
          voided === null
            ? fixer.insertTextBefore(call, "yield* ")
            : fixer.replaceText(voided, `yield* ${ctx.sourceCode.getText(call)}`);
        if (
          !chained && callee.type === "Identifier" && generators.has(callee.name) &&
          !shadowed(callee, callee.name)
        ) {
          // The file's own coroutine, called for its effect: a generator made and dropped.
          const text = calleeText(ctx, call);
          ctx.report({
            node: voided ?? call,
            message: `The coroutine from ${text} is never run, so its body does nothing`,
            hint: `Run it in this thread: yield* ${text}`,
            fix: yieldIt,
          });
          return;
        }
        if (!makesEvent(callee, imports)) return;
        const text = calleeText(ctx, call);
        const message = `The event from ${text} is never yielded, so it does nothing`;
        if (chained) {
          // No fix: `yield* undefined` throws where the chain skipped the call.
          ctx.report({
            node: voided ?? expression,
            message,
            hint:
              `Yield it where the optional chain is defined: yield* ${text} throws on undefined`,
          });
          return;
        }
        if (!surelyLibrarys(call.callee, imports)) {
          // Matched by its name alone: no fix, which would break another library's call.
          ctx.report({
            node: voided ?? call,
            message,
            hint: `If it is bluelet's event, yield it: yield* ${text}`,
          });
          return;
        }
        ctx.report({
          node: voided ?? call,
          message,
          hint: `Yield it: yield* ${text}`,
          fix: yieldIt,
        });
      },
      ReturnStatement(node) {
        // `return sleep(5)` in a coroutine ends it with the event, which nothing yields;
        // so does each branch of `return x ? sleep(5) : sleep(6)`, and `return sleep(5) as T`.
        if (node.argument === null || !inCoroutine(node)) return;
        for (const call of returnedCalls(node.argument)) {
          const callee = call.callee;
          // Fixed only where it is all that is returned: `return yield* sleep(5)`.
          const fix = call === node.argument
            ? (fixer: Deno.lint.Fixer) => fixer.insertTextBefore(call, "yield* ")
            : undefined;
          const text = calleeText(ctx, call);
          if (
            callee.type === "Identifier" && generators.has(callee.name) &&
            !shadowed(callee, callee.name)
          ) {
            // No fix: a coroutine that makes one for its caller to run returns it so.
            ctx.report({
              node: call,
              message:
                `The coroutine from ${text} is returned, never run, so its body does nothing`,
              hint:
                `If it is to run in this thread, return its result: return yield* ${text}; if the caller runs it, ignore this`,
            });
            continue;
          }
          if (!makesEvent(callee, imports)) continue;
          const message = `The event from ${text} is returned, never yielded, so it does nothing`;
          if (!surelyLibrarys(callee, imports)) {
            ctx.report({
              node: call,
              message,
              hint:
                `If it is bluelet's event, yield it and return its result: return yield* ${text}`,
            });
            continue;
          }
          ctx.report({
            node: call,
            message,
            hint: `Yield it and return its result: return yield* ${text}`,
            fix,
          });
        }
      },
    };
  },
};

const uncalledEvent: Deno.lint.Rule = {
  create(ctx) {
    let imports = noImports();
    return {
      Program(node) {
        imports = collectImports(node, ctx.sourceCode.getText());
      },
      YieldExpression(node) {
        const argument = node.argument?.type === "ChainExpression"
          ? node.argument.expression
          : node.argument;
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
    let imports = noImports();
    // Generator functions by name (a name declared twice is left out: it is ambiguous).
    const generators = new Map<string, FunctionNode>();
    const ambiguous = new Set<string>();
    const yieldingFinally = new Set<FunctionNode>();
    // Each delegation's callee: the function a plain name is bound to where it is called
    // (null: bound to something else), or a method's name (`this.sub`) to look up.
    const delegations: { node: Deno.lint.YieldExpression; callee: FunctionNode | string }[] = [];
    const declare = (fn: FunctionNode) => {
      const name = generatorName(fn);
      if (name === undefined) return;
      if (generators.has(name)) ambiguous.add(name);
      generators.set(name, fn);
    };
    return {
      Program(node) {
        imports = collectImports(node, ctx.sourceCode.getText());
      },
      FunctionDeclaration: declare,
      FunctionExpression: declare,
      YieldExpression(node) {
        const fn = enclosingFunction(node);
        if (fn === undefined) return;
        if (inFinally(node)) yieldingFinally.add(fn);
        const argument = node.argument;
        if (!node.delegate || argument?.type !== "CallExpression") return;
        const called = argument.callee;
        if (called.type === "Identifier") {
          // A parameter or a local of the same name is not the generator of that name.
          const fn = functionBinding(called, called.name);
          if (fn != null) delegations.push({ node, callee: fn });
          return;
        }
        const callee = calledName(called);
        if (callee !== undefined) delegations.push({ node, callee });
      },
      "Program:exit"() {
        // A generator with a yielding finally is a coroutine only where the library is used.
        if (!imports.used) return;
        const unsafe = (callee: FunctionNode | string) => {
          if (typeof callee !== "string") return callee.generator && yieldingFinally.has(callee);
          const fn = generators.get(callee);
          return fn !== undefined && !ambiguous.has(callee) && yieldingFinally.has(fn);
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
    // Methods by name: an async generator's name is ambiguous if any other member has it.
    const asyncMethods = new Set<string>();
    const otherMembers = new Set<string>();
    const candidates: Deno.lint.CallExpression[] = [];
    const isAsyncGenerator = (node: Node): boolean =>
      node.type === "FunctionExpression" && node.async && node.generator;
    const member = (node: Deno.lint.MethodDefinition | Deno.lint.Property) => {
      const name = memberName(node.key, node.computed);
      if (name !== undefined) {
        (isAsyncGenerator(node.value) ? asyncMethods : otherMembers).add(name);
      }
    };
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
        imports = collectImports(node, ctx.sourceCode.getText());
      },
      FunctionDeclaration(node) {
        if (node.async && node.generator && node.id) asyncGenerators.add(node.id.name);
      },
      VariableDeclarator(node) {
        if (node.id.type === "Identifier" && node.init && isAsyncGenerator(unwrapped(node.init))) {
          asyncGenerators.add(node.id.name);
        }
      },
      MethodDefinition: member,
      Property: member,
      YieldExpression(node) {
        // A generator of async iterators is fine in a file that does not use the library.
        if (imports.used && inCoroutine(node)) consider(node.argument);
      },
      CallExpression(node) {
        if (takesCoroutine(node.callee, imports)) {
          for (const argument of node.arguments) consider(argument);
        }
      },
      "Program:exit"() {
        const isAsyncMethod = (callee: Node) => {
          if (callee.type !== "MemberExpression") return false;
          const name = memberName(callee.property, callee.computed);
          return name !== undefined && asyncMethods.has(name) && !otherMembers.has(name);
        };
        for (const call of candidates) {
          const callee = call.callee;
          // Named for an async generator, and bound to one where it is called.
          const bound = callee.type === "Identifier" && asyncGenerators.has(callee.name)
            ? functionBinding(callee, callee.name)
            : undefined;
          const named = bound != null && bound.async && bound.generator;
          if (!named && !isAsyncGenerator(callee) && !isAsyncMethod(callee)) continue;
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
