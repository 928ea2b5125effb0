/** Finds (or installs, as root with apt) nginx, HAProxy and wrk, and describes the machine for the report. */
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { delimiter, join } from "node:path";
import { capture } from "./procs.js";

/** Absolute paths of the external programs the benchmark runs. */
export interface Tools {
  nginx: string;
  haproxy: string;
  /** wrk, or null when the load generator is autocannon. */
  wrk: string | null;
  /** autocannon's CLI script, when it is the load generator. */
  autocannon: string | null;
}

/** Where `name` is on PATH (plus the sbin folders a non-root PATH may lack), or null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here.
    }
  }
  return null;
}

const POLICY_RC = "/usr/sbin/policy-rc.d";

/**
 * `apt-get install -y` one package; false when apt says no. Debian's nginx and haproxy packages start their
 * system service on install: a policy-rc.d that answers 101 (the documented Debian switch) stops that,
 * so no stray daemon listens on port 80 afterwards.
 */
async function aptInstall(pkg: string): Promise<boolean> {
  const ownPolicy = !existsSync(POLICY_RC);
  if (ownPolicy) writeFileSync(POLICY_RC, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    process.stdout.write(`bench: apt-get install -y ${pkg}\n`);
    const r = await capture("apt-get", "apt-get", ["install", "-y", "--no-install-recommends", pkg]);
    if (r.code !== 0) process.stdout.write(`bench: apt-get install ${pkg} failed:\n${r.stderr.trim()}\n`);
    return r.code === 0;
  } finally {
    if (ownPolicy) rmSync(POLICY_RC, { force: true });
  }
}

/** Finds the tools; as root installs what is missing with apt, otherwise fails naming the apt command. */
export async function ensureTools(
  root: string,
  want: "auto" | "wrk" | "autocannon",
  isRoot: boolean,
): Promise<Tools> {
  const needs: { bin: string; pkgs: string[] }[] = [
    { bin: "nginx", pkgs: ["nginx-light", "nginx"] },
    { bin: "haproxy", pkgs: ["haproxy"] },
  ];
  if (want !== "autocannon") needs.push({ bin: "wrk", pkgs: ["wrk"] });
  const missing = needs.filter((n) => which(n.bin) === null);
  if (missing.length > 0) {
    const cmd = `apt-get update && apt-get install -y ${missing.map((m) => m.pkgs[0]).join(" ")}`;
    if (!isRoot || which("apt-get") === null) {
      const mustHave = missing.filter((m) => m.bin !== "wrk" || want === "wrk");
      if (mustHave.length > 0) {
        throw new Error(`missing ${missing.map((m) => m.bin).join(", ")}: install with\n  sudo ${cmd}`);
      }
    } else {
      process.stdout.write(
        `bench: installing ${missing.map((m) => m.bin).join(", ")} (apt-get update first)\n`,
      );
      const update = await capture("apt-get", "apt-get", ["update"]);
      if (update.code !== 0) process.stdout.write(`bench: apt-get update failed:\n${update.stderr.trim()}\n`);
      for (const m of missing) {
        for (const pkg of m.pkgs) if (await aptInstall(pkg)) break;
      }
    }
  }
  const nginx = which("nginx");
  const haproxy = which("haproxy");
  if (nginx === null || haproxy === null) {
    throw new Error(
      "nginx and haproxy are required: apt-get update && apt-get install -y nginx-light haproxy",
    );
  }
  const wrk = want === "autocannon" ? null : which("wrk");
  if (wrk === null && want === "wrk") throw new Error("wrk is required (--tool wrk): apt-get install -y wrk");
  let autocannon: string | null = null;
  if (wrk === null) {
    autocannon = join(root, "node_modules", "autocannon", "autocannon.js");
    if (!existsSync(autocannon))
      throw new Error("neither wrk nor autocannon: npm install (autocannon is a dev dependency)");
    const why = want === "autocannon" ? "--tool autocannon" : "wrk is not available";
    process.stdout.write(`bench: load from autocannon (${why}); it may be the bottleneck, wrk is lighter\n`);
  }
  return { nginx, haproxy, wrk, autocannon };
}

/** The machine and software versions, for the report header. */
export interface MachineInfo {
  date: string;
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  nginx: string;
  haproxy: string;
  loadTool: string;
  undici: string;
  httpProxy: string;
  syncgate: string;
}

function packageVersion(root: string, name: string): string {
  try {
    const json = JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as {
      version?: string;
    };
    return json.version ?? "?";
  } catch {
    return "not installed";
  }
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}

/** Collects versions by running each tool's version flag. */
export async function machineInfo(root: string, tools: Tools, date: Date): Promise<MachineInfo> {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const nginx = await capture("nginx", tools.nginx, ["-v"]);
  const haproxy = await capture("haproxy", tools.haproxy, ["-v"]);
  let loadTool: string;
  if (tools.wrk !== null) {
    const wrk = await capture("wrk", tools.wrk, ["-v"]);
    loadTool = firstLine(wrk.stdout + wrk.stderr).replace(/\s+Copyright.*$/, "");
  } else {
    loadTool = `autocannon ${packageVersion(root, "autocannon")}`;
  }
  const git = await capture("git", "git", ["-C", root, "describe", "--always", "--dirty"]);
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return {
    date: date.toISOString(),
    nproc: cpus().length, // Not availableParallelism(): the harness has pinned itself to one CPU by now.
    cpuModel,
    kernel: release(),
    node: process.version,
    nginx: firstLine(nginx.stderr + nginx.stdout).replace(/^nginx version:\s*/, ""),
    haproxy: firstLine(haproxy.stdout)
      .replace(/^HAProxy version\s*/, "HAProxy ")
      .replace(/\s+-\s+https?:\S+$/, ""),
    loadTool,
    undici: packageVersion(root, "undici"),
    httpProxy: packageVersion(root, "http-proxy"),
    syncgate: `${pkg.version} (${git.code === 0 ? git.stdout.trim() : "no git"})`,
  };
}
