import assert from "node:assert/strict";
import { ExampleProcess } from "./_process.ts";

Deno.test("echo.ts prints every live thread and what it waits on when it gets SIGUSR2, and opens no debugger", async () => {
  await using server = new ExampleProcess("echo.ts", ["--allow-net=127.0.0.1"], ["--port", "0"]);
  const { hostname, port } = await server.listening();
  const client = await Deno.connect({ hostname, port });
  try {
    await server.waitForLine(/^Connected: /);
    server.kill("SIGUSR2");
    await server.waitForLine(/^thread 0 "main" /);
    await server.waitForLine(/^thread \d+ "inspector" running$/);
    // The echoer waits on its client: a read, named by its event and the client's address.
    const { port: clientPort } = client.localAddr as Deno.NetAddr;
    await server.waitForLine(
      new RegExp(`^thread \\d+ awaiting: recv\\(1024\\) from 127\\.0\\.0\\.1:${clientPort}$`),
    );
  } finally {
    client.close();
  }
  const { code, stdout, stderr } = await server.stop();
  assert.equal(code, 0);
  assert.match(stdout, /Exiting\.$/);
  // SIGUSR1 would also start Deno's inspector, an open debugger: "Debugger listening on".
  assert.equal(stderr, "");
});
