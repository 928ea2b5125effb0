#!/usr/bin/env node
// Makes sure a real etcd (Debian's etcd-server, 3.4) is there for the etcd watch tests: as root with apt-get it
// installs the package quietly; otherwise it fails naming the command to run. Run before the unit tests.
import { execFileSync } from "node:child_process";
import { accessSync, constants } from "node:fs";

const BIN = process.env.SYNCGATE_ETCD ?? "/usr/bin/etcd";
const HINT = "sudo apt-get install etcd-server";

function present() {
  try {
    accessSync(BIN, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function hasAptGet() {
  try {
    execFileSync("sh", ["-c", "command -v apt-get"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

if (!present()) {
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (!root || !hasAptGet()) {
    console.error(`etcd is needed by the etcd tests and ${BIN} is missing: run \`${HINT}\``);
    process.exit(1);
  }
  console.error("installing etcd-server for the etcd tests (apt-get install -y etcd-server)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const apt = (args) => execFileSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
  try {
    apt(["install", "-y", "-qq", "--no-install-recommends", "etcd-server"]);
  } catch {
    // A fresh machine may have no package lists yet.
    apt(["update", "-qq"]);
    apt(["install", "-y", "-qq", "--no-install-recommends", "etcd-server"]);
  }
  if (!present()) {
    console.error(`apt-get install etcd-server did not provide ${BIN}: run \`${HINT}\``);
    process.exit(1);
  }
}
