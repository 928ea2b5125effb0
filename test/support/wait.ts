/** Waiting in tests: polling a condition with a deadline, and plain pauses. */

/**
 * Waits until `cond` holds (it may be async), checking every `every` ms for at most `ms`; the timeout's error
 * names `what`.
 */
export async function eventually(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 5000,
  every = 10,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
