/** The syncgate command as users run it: a real process, real files, nginx's flags and messages. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { runSyncgate } from "../support/process.js";
import { tempDir } from "../support/tmp.js";
import { VERSION } from "../../src/version.js";

/** Waits until `cond` holds, checking every 10 ms, for at most 10 s. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), "condition not met within 10 s");
}

const SEED = fileURLToPath(new URL("../../../test/fixtures/seed-nginx.conf", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/", import.meta.url));
const MIME = fileURLToPath(new URL("../../../conf/mime.types", import.meta.url));

const MINIMAL = "events {}\nhttp {\n  server { listen 127.0.0.1:8080; location / { return 200; } }\n}\n";

test("-t on a good file: nginx's two lines on stderr, exit 0, log files created", async (t) => {
  const dir = tempDir(t, {
    "conf/syncgate.conf": `error_log logs/error.log;\n${MINIMAL}`,
    "conf/logs/.keep": "",
  });
  const file = join(dir, "conf/syncgate.conf");
  const r = await runSyncgate(["-t", "-c", file], dir);
  assert.equal(r.status, 0);
  assert.equal(
    r.stderr,
    `syncgate: the configuration file ${file} syntax is ok\nsyncgate: configuration file ${file} test is successful\n`,
  );
  assert.equal(r.stdout, "");
  assert.ok(existsSync(join(dir, "conf/logs/error.log")), "error log created");
  assert.ok(existsSync(join(dir, "conf/logs/access.log")), "default access log created");
});

test("-t without -c reads conf/syncgate.conf in the current folder", async (t) => {
  const dir = tempDir(t, { "conf/syncgate.conf": MINIMAL, "conf/logs/.keep": "" });
  const r = await runSyncgate(["-t"], dir);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`configuration file ${join(dir, "conf/syncgate.conf")} test is successful`),
  );
});

test("-t on a broken file: the error with file:line, 'test failed', exit 1", async (t) => {
  const dir = tempDir(t, { "a.conf": "events {}\nhttp {\n  server {\n    proxy_pas http://x;\n  }\n}\n" });
  const file = join(dir, "a.conf");
  const r = await runSyncgate(["-t", "-c", file], dir);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `syncgate: [emerg] unknown directive "proxy_pas" in ${file}:4\n` +
      `syncgate: [notice] did you mean "proxy_pass"?\n` +
      `syncgate: configuration file ${file} test failed\n`,
  );
});

test("-t passes on the seed's whole configuration, check lines included (paths rewritten, user removed)", async (t) => {
  const dir = tempDir(t, { "logs/.keep": "", "servers/.keep": "" });
  copyFileSync(MIME, join(dir, "mime.types"));
  copyFileSync(join(FIXTURES, "htpasswd/apr1.htpasswd"), join(dir, ".htpasswd"));
  // Line numbers kept: `user` becomes a comment; only the paths move into the temp folder.
  const text = readFileSync(SEED, "utf8")
    .replace(/^user .*$/m, "# user removed")
    .replaceAll("/data/work/nginx/logs/", `${dir}/logs/`)
    .replaceAll("/data/logs/nginx/", `${dir}/logs/`)
    .replaceAll("/data/work/nginx/conf/", `${dir}/`);
  assert.doesNotMatch(text, /\/data\//);
  assert.match(text, /^\s*check interval=5000 rise=1 fall=3 timeout=4000 type=http port=80;$/m);
  assert.match(text, /^\s*check_status;$/m);
  writeFileSync(join(dir, "nginx.conf"), text);
  const file = join(dir, "nginx.conf");
  const r = await runSyncgate(["-t", "-c", file], dir);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /\[(emerg|warn)\]/);
  assert.ok(
    r.stderr.endsWith(
      `syncgate: the configuration file ${file} syntax is ok\nsyncgate: configuration file ${file} test is successful\n`,
    ),
    r.stderr,
  );
});

test("-t names a log file that cannot be opened, as nginx -t does", async (t) => {
  const dir = tempDir(t, { "a.conf": `error_log nodir/error.log;\n${MINIMAL}` });
  const r = await runSyncgate(["-t", "-c", "a.conf"], dir);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr.split("\n")[0],
    `syncgate: [emerg] open() "${join(dir, "nodir/error.log")}" failed (2: No such file or directory)`,
  );
});

test("-T prints every file read, includes included, after the test lines", async (t) => {
  const main = `events {}\nhttp {\n  include inc/*.conf;\n  access_log off;\n}\n`;
  const a = "upstream a { server 127.0.0.1:1; }\n";
  const b = "server { listen 127.0.0.1:8080; location / { proxy_pass http://a; } }\n";
  const dir = tempDir(t, { "s.conf": main, "inc/b.conf": b, "inc/a.conf": a });
  const r = await runSyncgate(["-T", "-c", "s.conf", "-g", "error_log stderr;"], dir);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    `# configuration file ${join(dir, "s.conf")}:\n${main}\n` +
      `# configuration file ${join(dir, "inc/a.conf")}:\n${a}\n` +
      `# configuration file ${join(dir, "inc/b.conf")}:\n${b}\n`,
  );
});

test("-q keeps a successful test silent; notices are dropped, errors still print", async (t) => {
  const dir = tempDir(t, {
    "s.conf": `error_log stderr;\n${MINIMAL.replace("http {", "http {\n  sendfile on;\n  access_log off;")}`,
  });
  const loud = await runSyncgate(["-t", "-c", "s.conf"], dir);
  assert.match(
    loud.stderr,
    /^syncgate: \[notice\] "sendfile" directive has no effect in syncgate, ignored in .*s\.conf:4$/m,
  );
  const quiet = await runSyncgate(["-tq", "-c", "s.conf"], dir);
  assert.equal(quiet.status, 0);
  assert.equal(quiet.stderr, "");
  writeFileSync(join(dir, "s.conf"), "events {}\nhttp { gzip on; }\n");
  const bad = await runSyncgate(["-q", "-t", "-c", "s.conf"], dir);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /"gzip" directive is not supported by syncgate in .*s\.conf:2/);
});

test("-p sets the prefix that relative includes and logs resolve against", async (t) => {
  const dir = tempDir(t, {
    "etc/s.conf": "events {}\nhttp { include extra/u.conf; access_log logs/a.log; }\n",
    "root/extra/u.conf": "upstream u { server 127.0.0.1:1; }\n",
    "root/logs/.keep": "",
    "etc/logs/.keep": "",
  });
  const r = await runSyncgate(["-t", "-p", "root", "-c", "etc/s.conf", "-g", "error_log stderr;"], dir);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(dir, "root/logs/a.log")));
  const without = await runSyncgate(["-t", "-c", "etc/s.conf"], dir);
  assert.equal(without.status, 1);
  assert.match(
    without.stderr,
    /open\(\) ".*\/etc\/extra\/u\.conf" failed \(2: No such file or directory\) in .*s\.conf:2/,
  );
});

test("-g directives are applied before the file; a clash is a duplicate in the file", async (t) => {
  const dir = tempDir(t, { "s.conf": `daemon off;\n${MINIMAL}`, "logs/.keep": "" });
  const r = await runSyncgate(["-t", "-c", "s.conf", "-g", "daemon on;"], dir);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr.split("\n")[0],
    `syncgate: [emerg] "daemon" directive is duplicate in ${join(dir, "s.conf")}:1`,
  );
  const bad = await runSyncgate(["-t", "-c", "s.conf", "-g", "nope on;"], dir);
  assert.equal(bad.stderr.split("\n")[0], 'syncgate: [emerg] unknown directive "nope" in command line');
});

test("-v, -V and -h print on stderr and exit 0", async (t) => {
  const dir = tempDir(t);
  const v = await runSyncgate(["-v"], dir);
  assert.deepEqual([v.status, v.stderr], [0, `syncgate version: syncgate/${VERSION}\n`]);
  const V = await runSyncgate(["-V"], dir);
  assert.equal(V.status, 0);
  assert.match(V.stderr, new RegExp(`^syncgate version: syncgate/${VERSION}\nbuilt with Node.js v\\d+`));
  const h = await runSyncgate(["-h"], dir);
  assert.equal(h.status, 0);
  assert.match(h.stderr, /Usage: syncgate \[-hvVtTq\] \[-s signal\]/);
  assert.match(h.stderr, /-s signal\s+: send signal to a running syncgate: stop, quit, reopen, reload/);
});

test("bad options get nginx's messages and exit 1", async (t) => {
  const dir = tempDir(t);
  const x = await runSyncgate(["-x"], dir);
  assert.deepEqual([x.status, x.stderr], [1, 'syncgate: invalid option: "x"\n']);
  const c = await runSyncgate(["-c"], dir);
  assert.deepEqual([c.status, c.stderr], [1, 'syncgate: option "-c" requires file name\n']);
  const s = await runSyncgate(["-s", "restart", "-c", "none.conf"], dir);
  assert.equal(s.status, 1);
  assert.equal(s.stderr, 'syncgate: invalid option: "-s restart"\n');
});

test("-s sends the signal to the pid in the pid file", async (t) => {
  const dir = tempDir(t, { "s.conf": `pid run/sg.pid;\n${MINIMAL}` });
  // A stand-in server that reports the signals it gets.
  const child = spawn(
    process.execPath,
    [
      "-e",
      "for (const s of ['SIGHUP','SIGQUIT','SIGUSR1','SIGTERM']) process.on(s, () => { console.log(s); if (s === 'SIGTERM') process.exit(0); }); console.log('ready'); setInterval(() => {}, 1000);",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  t.after(() => child.kill("SIGKILL"));
  let seen = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (seen += d));
  await until(() => seen.includes("ready"));
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(dir, "run"));
  writeFileSync(join(dir, "run/sg.pid"), `${child.pid}\n`);
  for (const [name, sig] of [
    ["reload", "SIGHUP"],
    ["reopen", "SIGUSR1"],
    ["quit", "SIGQUIT"],
  ] as const) {
    const r = await runSyncgate(["-s", name, "-c", "s.conf"], dir);
    assert.deepEqual([r.status, r.stderr], [0, ""], name);
    await until(() => seen.includes(sig));
  }
  const exited = once(child, "exit");
  const stop = await runSyncgate(["-s", "stop", "-c", "s.conf"], dir);
  assert.equal(stop.status, 0);
  const [code] = (await exited) as [number];
  assert.equal(code, 0);
  assert.match(seen, /SIGTERM/);

  // The process is gone now: nginx's kill() message, exit 1.
  const gone = await runSyncgate(["-s", "stop", "-c", "s.conf"], dir);
  assert.equal(gone.status, 1);
  assert.equal(gone.stderr, `syncgate: [alert] kill(${child.pid}, 15) failed (3: No such process)\n`);
});

test("-s without a pid file, or with garbage in it", async (t) => {
  const dir = tempDir(t, { "s.conf": MINIMAL });
  const r = await runSyncgate(["-s", "reload", "-c", "s.conf"], dir);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `syncgate: [error] open() "${join(dir, "logs/syncgate.pid")}" failed (2: No such file or directory)\n`,
  );
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(dir, "logs"));
  writeFileSync(join(dir, "logs/syncgate.pid"), "abc\n");
  const g = await runSyncgate(["-s", "reload", "-c", "s.conf"], dir);
  assert.equal(
    g.stderr,
    `syncgate: [error] invalid PID number "abc" in "${join(dir, "logs/syncgate.pid")}"\n`,
  );
});

test("user is checked against the system's accounts when running as root", async (t) => {
  const dir = tempDir(t, {
    "bad.conf": `user no_such_account_sg;\n${MINIMAL}`,
    "ok.conf": `user root;\n${MINIMAL}`,
    "logs/.keep": "",
  });
  const bad = await runSyncgate(["-t", "-c", "bad.conf"], dir);
  const ok = await runSyncgate(["-t", "-c", "ok.conf"], dir);
  if (process.getuid?.() === 0) {
    assert.equal(bad.status, 1);
    assert.equal(
      bad.stderr.split("\n")[0],
      `syncgate: [emerg] getpwnam("no_such_account_sg") failed in ${join(dir, "bad.conf")}:1`,
    );
    assert.equal(ok.status, 0, ok.stderr);
  } else {
    for (const r of [bad, ok]) {
      assert.equal(r.status, 0);
      assert.match(
        r.stderr,
        /\[warn\] the "user" directive makes sense only if the master process runs with super-user privileges, ignored/,
      );
    }
  }
  assert.equal(readFileSync(join(dir, "ok.conf"), "utf8").startsWith("user root;"), true);
});
