// A TCP proxy for fd_guard_test.ts, run under a low `ulimit -n`: each client it serves
// holds two descriptors, its own and the upstream connection (the upstream's port is the
// first argument). Prints `listening PORT budget N`, counts the connects the guard
// refused, and prints `stopped, N connects refused` on SIGTERM.
import {
  connect,
  ConnectError,
  type Connection,
  type Coroutine,
  relay,
  run,
  server,
} from "../../mod.ts";
import { descriptorGuard } from "../../net/_fd_guard.ts";

const upstreamPort = Number(Deno.args[0]);
let refused = 0;

function* proxy(client: Connection): Coroutine<void> {
  let upstream: Connection;
  try {
    upstream = yield* connect("127.0.0.1", upstreamPort);
  } catch (error) {
    if (!(error instanceof ConnectError)) throw error;
    refused++;
    return;
  }
  using _ = upstream;
  yield* relay(client, upstream);
}

const shutdown = new AbortController();
Deno.addSignalListener("SIGTERM", () => shutdown.abort());
await run(server("127.0.0.1", 0, proxy, {
  signal: shutdown.signal,
  gracePeriod: 1000,
  onListen: (addr) => {
    const port = (addr as Deno.NetAddr).port;
    console.log(`listening ${port} budget ${descriptorGuard().budget}`);
  },
}));
console.log(`stopped, ${refused > 0 ? "some" : "no"} connects refused`);
Deno.exit(0); // the signal listener would keep the process alive
