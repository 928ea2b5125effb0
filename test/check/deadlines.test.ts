/**
 * The deadlines of probes in flight (`Deadlines`): one queue per upstream, since its probes share one timeout,
 * and one timer for the head. A probe that ends leaves the queue; the others expire in order, never early.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { Deadlines, type Timed } from "../../src/check/checker.js";

interface Item extends Timed {
  name: string;
  addedAt: number;
  expiredAt: number;
}

function item(name: string): Item {
  return { name, deadline: 0, prevTimed: null, nextTimed: null, timed: false, addedAt: 0, expiredAt: -1 };
}

test("deadlines expire in the order they were added, never early; a removed one never expires", async () => {
  const expired: string[] = [];
  const q = new Deadlines<Item>(40, (t) => {
    t.expiredAt = performance.now();
    expired.push(t.name);
  });
  const items = ["a", "b", "c", "d"].map(item);
  for (const it of items) {
    it.addedAt = performance.now();
    q.add(it);
    await sleep(5);
  }
  q.remove(items[1]!);
  q.remove(items[1]!); // twice: nothing
  await sleep(80);
  assert.deepEqual(expired, ["a", "c", "d"]);
  for (const it of items) {
    if (it.expiredAt < 0) continue;
    // Node's timers run on a ms clock: at most 1 ms before the deadline, as the probe clock.
    assert.ok(
      it.expiredAt >= it.addedAt + 40 - 1,
      `${it.name} expired ${it.expiredAt - it.addedAt} ms after`,
    );
    assert.equal(it.timed, false, "out of the queue when it expires");
  }
  q.stop();
});

test("the head leaving does not expire the next early; adding again restarts a deadline; stop drops all", async () => {
  const expired: Array<{ name: string; after: number }> = [];
  const q = new Deadlines<Item>(50, (t) =>
    expired.push({ name: t.name, after: performance.now() - t.addedAt }),
  );
  const a = item("a");
  const b = item("b");
  a.addedAt = performance.now();
  q.add(a);
  await sleep(20);
  b.addedAt = performance.now();
  q.add(b);
  q.remove(a); // the timer armed for a's deadline still fires, and must leave b alone until its own
  await sleep(40);
  assert.equal(expired.length, 0, "b is not due 40 ms after it was added (its deadline is 50)");
  await sleep(30);
  assert.equal(expired.length, 1);
  assert.equal(expired[0]!.name, "b");
  assert.ok(expired[0]!.after >= 49, `b expired after ${expired[0]!.after} ms`);

  // Added again before its deadline: the deadline starts over.
  a.addedAt = performance.now();
  q.add(a);
  await sleep(30);
  a.addedAt = performance.now();
  q.add(a);
  await sleep(35);
  assert.equal(expired.length, 1, "a's first deadline was replaced");
  await sleep(30);
  assert.equal(expired.at(-1)!.name, "a");
  assert.ok(expired.at(-1)!.after >= 49);

  const c = item("c");
  q.add(c);
  q.stop();
  await sleep(70);
  assert.equal(expired.length, 2, "nothing expires after stop");
  assert.equal(c.timed, false);
});
