/** WebSocket upgrades pass through without extra configuration, then both directions are piped. */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { decodeFrames, encodeFrame, startBackend } from "../support/backend.js";
import { until } from "../support/client.js";
import { freePort } from "../support/ports.js";
import { startProxy } from "../support/proxy.js";

test("WebSocket echo through the proxy", async (t) => {
  const b = await startBackend(t, "ws");
  const port = await freePort();
  await startProxy(
    t,
    `upstream u { server ${b.addr}; } server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }`,
  );
  const s = connect(port, "127.0.0.1");
  t.after(() => s.destroy());
  let got = Buffer.alloc(0);
  s.on("data", (d: Buffer) => (got = Buffer.concat([got, d])));
  s.write(
    "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await until(() => got.includes("\r\n\r\n"));
  const head = got.toString("latin1");
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
  assert.match(head, /\r\nUpgrade: websocket\r\nConnection: upgrade\r\n/);
  got = got.subarray(got.indexOf("\r\n\r\n") + 4);
  s.write(encodeFrame("hello", true));
  await until(() => decodeFrames(got).length >= 1);
  s.write(encodeFrame("again", true));
  await until(() => decodeFrames(got).length >= 2);
  assert.deepEqual(decodeFrames(got), ["ws:hello", "ws:again"]);
});
