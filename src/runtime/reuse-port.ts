/**
 * Whether this Node.js binds listening sockets with SO_REUSEPORT (`reusePort`, Node.js 22.12 and later). Then each
 * cluster worker listens on a socket of its own and the kernel spreads connections over them evenly; otherwise the
 * workers share one socket (SCHED_NONE). Older versions ignore the option silently, so it is tried: two sockets on
 * one loopback port.
 */
import { createServer, type ListenOptions, type Server } from "node:net";

let known: Promise<boolean> | null = null;

function listen(s: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    // exclusive: a cluster worker binds the socket itself instead of asking the primary.
    const opts: ListenOptions & { reusePort: boolean } = {
      host: "127.0.0.1",
      port,
      exclusive: true,
      reusePort: true,
    };
    s.listen(opts, () => {
      const a = s.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    });
  });
}

/** Whether `reusePort` works here (tried once per process). */
export function reusePortWorks(): Promise<boolean> {
  known ??= (async () => {
    const a = createServer();
    const b = createServer();
    try {
      await listen(b, await listen(a, 0));
      return true;
    } catch {
      return false;
    } finally {
      a.close();
      b.close();
    }
  })();
  return known;
}
