/**
 * The checker's schedule of probes (`ProbeClock`): due times are kept in order, and with a grain they are rounded
 * up so that servers falling due close together are probed in one timer callback — one wake-up of the process
 * per batch instead of one per server (the CPU of health checks at scale, issue 5 item 6). Never early.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { once } from "node:events";
import { createServer, connect, type AddressInfo } from "node:net";
import { ProbeClock, type Scheduled } from "../../src/check/checker.js";

interface Item extends Scheduled {
  delay: number;
  scheduledAt: number;
  firedAt: number;
  batch: number;
}

/**
 * Schedules one item per delay and waits until every one fired. A batch is the fires of one timer callback:
 * they run synchronously, so a microtask ends it.
 */
async function run(
  delays: number[],
  grain: number,
  perTurn = Infinity,
  onFire: (item: Item) => void = () => undefined,
  oneDue = false,
): Promise<{ items: Item[]; batches: number }> {
  const clock = new ProbeClock<Item>(perTurn);
  let batches = 0;
  let open = false;
  let left = delays.length;
  let finished: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (finished = resolve));
  const items = delays.map((delay) => {
    const item: Item = {
      due: 0,
      queued: false,
      delay,
      scheduledAt: 0,
      firedAt: -1,
      batch: -1,
      fire() {
        if (!open) {
          open = true;
          batches++;
          queueMicrotask(() => (open = false));
        }
        item.firedAt = performance.now();
        item.batch = batches;
        onFire(item);
        if (--left === 0) finished();
      },
    };
    return item;
  });
  // With `oneDue`, every item falls due at the same whole ms (the first delay from now, rounded up), however long
  // scheduling them takes: half a ms less than that time from each one's own reading, rounded up by the clock.
  const at = Math.ceil(performance.now()) + (delays[0] ?? 0);
  for (const item of items) {
    item.scheduledAt = performance.now();
    clock.schedule(item, oneDue ? at - item.scheduledAt - 0.5 : item.delay, grain);
  }
  await all;
  clock.stop();
  return { items, batches };
}

// 40 servers due 1 ms apart: 40 wake-ups without a grain.
const spread = Array.from({ length: 40 }, (_, i) => 1 + i);

test("with a grain of 10 ms, servers due within the same 10 ms are probed in one callback, never early", async () => {
  const { items, batches } = await run(spread, 10);
  // 1..40 ms rounded up to multiples of 10: at most 5 grid points (a slow turn can only merge them further).
  assert.ok(batches <= 5, `${batches} timer callbacks for 40 servers due within 40 ms`);
  for (const item of items) {
    assert.equal(item.due % 10, 0, `due ${item.due} is on the 10 ms grid`);
    // Node's timers run on a ms clock: up to 1 ms before the exact due time.
    assert.ok(
      item.firedAt >= item.scheduledAt + item.delay - 1,
      `fired ${(item.firedAt - item.scheduledAt).toFixed(1)} ms after scheduling, asked ${item.delay}`,
    );
  }
  // Fired in order of due time: batch numbers never go down along the delays.
  for (let i = 1; i < items.length; i++) assert.ok(items[i]!.batch >= items[i - 1]!.batch);
});

test("without a grain each due time is its own whole ms; a zero delay runs at the next turn", async () => {
  const { items } = await run([0, 0, 5, 12], 0);
  for (const item of items) {
    assert.ok(item.firedAt >= item.scheduledAt + item.delay - 1, `fired early: ${item.delay} ms asked`);
    // Rounded up to the next whole ms only: the clock's own reading (taken just after scheduledAt) plus the delay,
    // so less than 1 ms late, plus the µs between the two readings.
    const lag = item.due - (item.scheduledAt + item.delay);
    assert.ok(lag >= 0 && lag < 1.5, `due ${lag.toFixed(3)} ms after the asked time`);
  }
});

test("rescheduling and cancelling keep the order of due times; a moved or cancelled server fires at most once", async () => {
  const clock = new ProbeClock<Item>();
  const fired: number[] = [];
  const make = (id: number): Item => ({
    due: 0,
    queued: false,
    delay: 0,
    scheduledAt: 0,
    firedAt: -1,
    batch: -1,
    fire: () => fired.push(id),
  });
  const items = Array.from({ length: 8 }, (_, i) => make(i));
  for (const [i, item] of items.entries()) clock.schedule(item, 40 - i * 4);
  clock.cancel(items[3]!);
  clock.schedule(items[0]!, 2); // moved to the front
  clock.schedule(items[5]!, 40 - 5 * 4); // scheduled again for (about) the same time: still once
  clock.schedule(items[6]!, 60); // moved later: not fired at its first time
  await new Promise((resolve) => setTimeout(resolve, 100));
  clock.stop();
  assert.deepEqual(fired, [0, 7, 5, 4, 2, 1, 6]);
  assert.equal(items[3]!.queued, false);
  assert.ok(items.every((item) => !item.queued));
});

/** A connected pair of loopback sockets: what is written on `client` arrives as `data` on the server side. */
async function socketPair(t: TestContext): Promise<{ write: () => void; received: () => number }> {
  let received = 0;
  const srv = createServer((sock) => sock.on("data", () => received++));
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const client = connect((srv.address() as AddressInfo).port, "127.0.0.1");
  await once(client, "connect");
  t.after(() => {
    client.destroy();
    srv.close();
  });
  return { write: () => void client.write("x"), received: () => received };
}

test("a limit per turn: 50 servers due together go out in slices of 16, in order, with I/O served between", async (t) => {
  const pair = await socketPair(t);
  // Seen by each fire: how many writes of the first slice the server had read by then.
  const seen: number[] = [];
  const { items, batches } = await run(
    Array<number>(50).fill(5),
    0,
    16,
    () => {
      seen.push(pair.received());
      if (seen.length === 1) pair.write();
    },
    true,
  );
  assert.ok(
    items.every((item) => item.due === items[0]!.due),
    "one due time",
  );
  assert.equal(batches, 4, "ceil(50 / 16) turns");
  assert.deepEqual(
    items.map((item) => item.batch),
    items.map((_, i) => 1 + Math.floor(i / 16)),
    "fired in the order they were scheduled, 16 a turn",
  );
  // The byte written in the first slice is read before the second slice starts: the loop polled in between.
  assert.ok(seen.slice(0, 16).every((n) => n === 0));
  assert.ok(
    seen.slice(16).every((n) => n >= 1),
    `reads seen by the later slices: ${seen.slice(16).join(",")}`,
  );
});
