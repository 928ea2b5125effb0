/**
 * `runProbe` for ssl_hello, mysql, ajp and fastcgi against real loopback peers speaking each protocol: a node:tls
 * server, MySQL-like greeters, an AJP responder and a FastCGI responder, with the wrong answers next to them.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { FCGI } from "../../src/check/probes/fastcgi-request.js";
import { probeRequest } from "../../src/check/probes/registry.js";
import { runProbe } from "../../src/check/probes/run.js";
import { SSL_HELLO } from "../../src/check/probes/ssl-hello.js";
import type { CheckConf, CheckType } from "../../src/config/types.js";
import {
  answeringPeer,
  checkConf,
  FCGI_END,
  fastcgiPeer,
  fcgiRecord,
  rawPeer,
  tlsPeer,
} from "../support/probe-peers.js";

/** Every test settles well within this (probes have their own timeouts). */
const BOUND = { timeout: 5000 };

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const conf = (type: CheckType, extra: Partial<CheckConf> = {}): CheckConf =>
  checkConf(type, { timeout: 2000, ...extra });
const protocolError = (type: string, port: number): string =>
  `check protocol ${type} error with peer: 127.0.0.1:${port}`;

// ---------------------------------------------------------------- ssl_hello

test(
  "ssl_hello: a node:tls server answers our exact ClientHello with a TLS 1.2 ServerHello",
  BOUND,
  async (t) => {
    const peer = await tlsPeer(t);
    // By hand first: what the server sends back to the 116 bytes.
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(peer.port, "127.0.0.1", () => s.write(SSL_HELLO));
      let got = Buffer.alloc(0);
      s.on("data", (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 47) {
          s.destroy();
          resolve(got);
        }
      });
      s.on("error", reject);
      setTimeout(() => reject(new Error(`only ${got.toString("hex")}`)), 2000).unref();
    });
    assert.equal(answer[0], 0x16, "handshake record");
    assert.equal(answer[5], 0x02, "ServerHello");
    assert.deepEqual(answer.subarray(9, 11), hex("03 03"), "server_version TLS 1.2");
    const sessionIdLength = answer[43]!;
    const cipher = answer.subarray(44 + sessionIdLength, 46 + sessionIdLength).toString("hex");
    const offered = SSL_HELLO.subarray(46, 72).toString("hex").match(/..../g)!;
    assert.ok(offered.includes(cipher), `chosen cipher ${cipher} is one we offered`);
    // Then the probe.
    assert.deepEqual(await runProbe("127.0.0.1", peer.port, conf("ssl_hello")), { ok: true });
  },
);

test(
  "ssl_hello: a TLS 1.3-only server answers an alert: down (no supported_versions in the hello)",
  BOUND,
  async (t) => {
    const peer = await tlsPeer(t, { minVersion: "TLSv1.3" });
    const r = await runProbe("127.0.0.1", peer.port, conf("ssl_hello"));
    assert.equal(
      r.ok ? "" : r.reason,
      `check connection closed prematurely with peer: 127.0.0.1:${peer.port}`,
    );
  },
);

test("ssl_hello: a plain HTTP server is down", BOUND, async (t) => {
  const short = await answeringPeer(t, "HTTP/1.1 400 Bad Request\r\n\r\n", { after: 1, close: true });
  const r1 = await runProbe("127.0.0.1", short.port, conf("ssl_hello"));
  assert.equal(
    r1.ok ? "" : r1.reason,
    `check connection closed prematurely with peer: 127.0.0.1:${short.port}`,
  );
  const long = await answeringPeer(
    t,
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
    {
      after: 1,
    },
  );
  const r2 = await runProbe("127.0.0.1", long.port, conf("ssl_hello"));
  assert.equal(r2.ok ? "" : r2.reason, protocolError("ssl_hello", long.port));
});

// ---------------------------------------------------------------- mysql

/** A MySQL 8 protocol-10 greeting (sequence 0), shortened after the version and thread id. */
const GREETING = Buffer.concat([
  hex("0a"),
  Buffer.from("8.0.36\0"),
  hex("0c 00 00 00 3a 5b 1c 2d 4e 5f 60 71 00 ff ff ff 02 00 ff df 15"),
]);
const packet = (seq: number, payload: Buffer): Buffer =>
  Buffer.concat([Buffer.from([payload.length & 0xff, payload.length >> 8, 0, seq]), payload]);

test("mysql: a server greeting is alive, and the probe sends nothing", BOUND, async (t) => {
  const peer = await answeringPeer(t, packet(0, GREETING));
  assert.deepEqual(await runProbe("127.0.0.1", peer.port, conf("mysql")), { ok: true });
  assert.deepEqual(peer.received[0], Buffer.alloc(0));
});

test("mysql: an error packet with sequence 0 is alive, as the module", BOUND, async (t) => {
  const err = Buffer.concat([hex("ff 6a 04"), Buffer.from("Host '127.0.0.1' is not allowed to connect")]);
  const peer = await answeringPeer(t, packet(0, err), { close: true });
  assert.deepEqual(await runProbe("127.0.0.1", peer.port, conf("mysql")), { ok: true });
});

test("mysql: a first packet with sequence 1 is a protocol error", BOUND, async (t) => {
  const peer = await answeringPeer(t, packet(1, GREETING));
  const r = await runProbe("127.0.0.1", peer.port, conf("mysql"));
  assert.deepEqual(r, {
    ok: false,
    reason: protocolError("mysql", peer.port),
    detail: "greeting sequence id 1 is not 0",
  });
});

test("mysql: a server that says nothing times out; one that closes fails at once", BOUND, async (t) => {
  const quiet = await rawPeer(t, () => {});
  const r = await runProbe("127.0.0.1", quiet.port, conf("mysql", { timeout: 200 }));
  assert.deepEqual(r, { ok: false, reason: `check time out with peer: 127.0.0.1:${quiet.port}` });
  const closing = await answeringPeer(t, hex("4a 00"), { close: true });
  const r2 = await runProbe("127.0.0.1", closing.port, conf("mysql"));
  assert.equal(
    r2.ok ? "" : r2.reason,
    `check connection closed prematurely with peer: 127.0.0.1:${closing.port}`,
  );
});

// ---------------------------------------------------------------- ajp

test("ajp: CPING gets CPONG: alive", BOUND, async (t) => {
  const peer = await answeringPeer(t, hex("41 42 00 01 09"), { after: 5 });
  assert.deepEqual(await runProbe("127.0.0.1", peer.port, conf("ajp")), { ok: true });
  assert.deepEqual(peer.received[0], hex("12 34 00 01 0a"), "exactly the 5-byte CPING");
});

test("ajp: a wrong answer is a protocol error", BOUND, async (t) => {
  // An AJP SEND_HEADERS (type 4) instead of CPONG.
  const peer = await answeringPeer(t, hex("41 42 00 03 04 00 c8"), { after: 5 });
  const r = await runProbe("127.0.0.1", peer.port, conf("ajp"));
  assert.equal(r.ok ? "" : r.reason, protocolError("ajp", peer.port));
});

// ---------------------------------------------------------------- fastcgi

const stdout = (headers: string): Buffer => Buffer.concat([fcgiRecord(FCGI.STDOUT, headers), FCGI_END]);

test("fastcgi: a responder answering Status: 200 OK is alive; it got the whole request", BOUND, async (t) => {
  const peer = await fastcgiPeer(t, stdout("Status: 200 OK\r\nContent-type: text/html\r\n\r\npong"));
  assert.deepEqual(await runProbe("127.0.0.1", peer.port, conf("fastcgi")), { ok: true });
  assert.deepEqual(await runProbe("127.0.0.1", peer.port, conf("fastcgi", { expectAlive: ["http_2xx"] })), {
    ok: true,
  });
  assert.deepEqual(peer.received[0], probeRequest(conf("fastcgi")), "the 104-byte default request");
  assert.deepEqual(
    peer.received[0]?.subarray(-8),
    hex("01 05 00 01 00 00 00 00"),
    "ends with an empty STDIN",
  );
});

test("fastcgi: STDERR before STDOUT fails", BOUND, async (t) => {
  const answer = Buffer.concat([fcgiRecord(FCGI.STDERR, "PHP Warning: x"), stdout("Status: 200 OK\r\n\r\n")]);
  const peer = await fastcgiPeer(t, answer);
  const r = await runProbe("127.0.0.1", peer.port, conf("fastcgi"));
  assert.deepEqual(r, {
    ok: false,
    reason: protocolError("fastcgi", peer.port),
    detail: "fastcgi check error",
  });
});

test(
  "fastcgi: Status 500 fails with check_http_expect_alive http_2xx, passes without (the default: don't check)",
  BOUND,
  async (t) => {
    const peer = await fastcgiPeer(t, stdout("Status: 500 Internal Server Error\r\n\r\n"));
    const r = await runProbe("127.0.0.1", peer.port, conf("fastcgi", { expectAlive: ["http_2xx"] }));
    assert.deepEqual(r, {
      ok: false,
      reason: protocolError("fastcgi", peer.port),
      detail: "status 500 is not in http_2xx",
    });
    assert.deepEqual(await runProbe("127.0.0.1", peer.port, conf("fastcgi")), { ok: true });
  },
);

test(
  "fastcgi: END_REQUEST without output fails; check_fastcgi_param reaches the responder",
  BOUND,
  async (t) => {
    const peer = await fastcgiPeer(t, FCGI_END);
    const c = conf("fastcgi", { fastcgiParams: [["SCRIPT_FILENAME", "/ping.php"]] });
    const r = await runProbe("127.0.0.1", peer.port, c);
    assert.equal(r.ok ? "" : r.reason, protocolError("fastcgi", peer.port));
    assert.ok(peer.received[0]!.includes(Buffer.from("\x0f\x09SCRIPT_FILENAME/ping.php", "latin1")));
    assert.ok(!peer.received[0]!.includes(Buffer.from("REQUEST_METHOD")), "defaults replaced");
  },
);
