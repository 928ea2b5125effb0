// `npm start`: three demo backends and syncgate in front of two of them (servers/demo.conf lists them), all on
// 127.0.0.1. Ctrl-C stops everything.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const conf = fileURLToPath(new URL("./syncgate.conf", import.meta.url));

function backend(name, port) {
  const server = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`Hello from ${name} (127.0.0.1:${port}) — you asked for ${req.url}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`demo backend ${name} cannot listen on 127.0.0.1:${port}: ${err.message}`)),
    );
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

let backends = [];
try {
  backends = [
    await backend("backend-1", 8081),
    await backend("backend-2", 8082),
    await backend("backend-3", 8083),
  ];
} catch (err) {
  console.error(String(err.message));
  process.exit(1);
}

const proxy = spawn(process.execPath, [`${root}bin/syncgate`, "-c", conf], { stdio: "inherit" });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  proxy.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
proxy.on("exit", (code) => {
  for (const b of backends) b.close();
  if (!stopping) console.error(`syncgate exited with status ${code}`);
  process.exit(stopping ? 0 : (code ?? 1));
});

setTimeout(() => {
  if (stopping || proxy.exitCode !== null) return;
  console.log(`
syncgate is running on http://127.0.0.1:8080/ in front of two demo backends (127.0.0.1:8081, 127.0.0.1:8082).

  curl http://127.0.0.1:8080/                # answers alternate between backend-1 and backend-2
  curl http://127.0.0.1:8080/upstream_show   # the members of upstream "demo"
  curl http://127.0.0.1:8080/upsync_status   # where they came from, as JSON
  tail -f examples/quickstart/logs/access.log

Add backend-3 (127.0.0.1:8083) or mark a server down by editing examples/quickstart/servers/demo.conf:
syncgate follows within a second, without a reload.

Configuration: examples/quickstart/syncgate.conf  (check it with: ./bin/syncgate -t -c examples/quickstart/syncgate.conf)
Press Ctrl-C to stop.
`);
}, 500);
