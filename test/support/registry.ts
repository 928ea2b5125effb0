/** What the registry writer tests share: the values they write, the servers they read back, their failures. */
import assert from "node:assert/strict";
import type { ServerSpec } from "../../src/config/types.js";
import { ControlError, DEFAULT_VALUE, type ServerValue } from "../../src/control/types.js";

/** The default registry value with `over` changed. */
export const value = (over: Partial<ServerValue> = {}): ServerValue => ({ ...DEFAULT_VALUE, ...over });

/** A server as a watch loop applies it, in one line: address, weight, max_fails, fail_timeout (ms), flags. */
export const show = (s: ServerSpec): string =>
  `${s.address} w=${s.weight} mf=${s.maxFails} ft=${s.failTimeout}${s.down ? " down" : ""}${s.backup ? " backup" : ""}`;

/** Rejects with a ControlError of `code` and `status` (502 unless given); resolves with its message. */
export async function failsWith(p: Promise<unknown>, code: string, status = 502): Promise<string> {
  const err = await p.then(
    () => assert.fail(`expected ControlError ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ControlError, String(err));
  assert.equal(err.code, code, err.message);
  assert.equal(err.status, status);
  return err.message;
}
