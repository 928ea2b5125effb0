/**
 * `check_status prometheus` (issue 5 item 5, beyond the module): health, the proxy's per-server traffic and the
 * registry sync state in the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). HELP/TYPE once per family; label values escaped
 * (backslash, quote, newline). Per-server series follow `status=`; the state totals count every checked server,
 * so `syncgate_upstream_check_servers{state="up"}` stays true whatever URL a scraper uses. Pure.
 */
import type { CheckPeerStatus, CheckStatusInput, PeerTraffic } from "./check-status.js";

type Labels = readonly (readonly [name: string, value: string])[];

/** A label value as the exposition format wants it. */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** A sample value: Go's float syntax for the non-finite ones. */
export function formatSampleValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Accumulates families in first-use order so HELP/TYPE come once, right before their samples. */
class Exposition {
  private readonly families = new Map<string, string[]>();

  family(name: string, type: "gauge" | "counter" | "histogram", help: string): void {
    if (!this.families.has(name))
      this.families.set(name, [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`]);
  }

  sample(family: string, name: string, labels: Labels, value: number): void {
    const l = labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
    this.families.get(family)!.push(`${name}${l ? `{${l}}` : ""} ${formatSampleValue(value)}`);
  }

  text(): string {
    return [...this.families.values()].map((lines) => `${lines.join("\n")}\n`).join("");
  }
}

const P = "syncgate_";

/** Per-bucket counts → cumulative `_bucket` samples ending in `+Inf` = count. */
function histogram(e: Exposition, family: string, labels: Labels, h: PeerTraffic["latencySeconds"]): void {
  const sorted = h.buckets.filter(([le]) => Number.isFinite(le)).sort((a, b) => a[0] - b[0]);
  let acc = 0;
  for (const [le, n] of sorted) {
    acc += n;
    e.sample(family, `${family}_bucket`, [...labels, ["le", formatSampleValue(le)]], acc);
  }
  e.sample(family, `${family}_bucket`, [...labels, ["le", "+Inf"]], h.count);
  e.sample(family, `${family}_sum`, labels, h.sum);
  e.sample(family, `${family}_count`, labels, h.count);
}

/**
 * The exposition for `peers` (already filtered by `status=`) out of `input`. A server listed twice in one
 * upstream shares its health state (keyed by upstream + address), so only its first listing is exported: a
 * repeated series would make Prometheus reject the scrape.
 */
export function renderCheckMetrics(input: CheckStatusInput, peers: readonly CheckPeerStatus[]): string {
  const e = new Exposition();
  e.family(
    `${P}upstream_check_generation`,
    "gauge",
    "Configuration loads so far (1 at start, +1 per reload).",
  );
  e.sample(`${P}upstream_check_generation`, `${P}upstream_check_generation`, [], input.generation);
  const up = input.peers.filter((p) => p.up).length;
  const servers = `${P}upstream_check_servers`;
  e.family(servers, "gauge", "Checked servers by state, whatever the status= filter.");
  e.sample(servers, servers, [["state", "up"]], up);
  e.sample(servers, servers, [["state", "down"]], input.peers.length - up);

  const seen = new Set<string>();
  const unique = peers.filter((p) => {
    const key = `${p.upstream}\0${p.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const gauges: [string, string, (p: CheckPeerStatus) => number][] = [
    ["up", "Whether the server passes its health check (1) or not (0).", (p) => (p.up ? 1 : 0)],
    ["rise", "Consecutive successful checks so far (0 after a failure).", (p) => p.rise],
    ["fall", "Consecutive failed checks so far (0 after a success).", (p) => p.fall],
  ];
  for (const [suffix, help, value] of gauges) {
    const name = `${P}upstream_server_${suffix}`;
    e.family(name, "gauge", help);
    for (const p of unique) {
      const labels: Labels = [
        ["upstream", p.upstream],
        ["name", p.name],
        ["type", p.type],
        ["port", String(p.port)],
      ];
      e.sample(name, name, labels, value(p));
    }
  }

  const traffic = input.traffic;
  const withTraffic = traffic
    ? unique.flatMap((p) => {
        const t = traffic(p);
        return t ? [[p, t] as const] : [];
      })
    : [];
  if (withTraffic.length > 0) {
    const requests = `${P}upstream_server_requests_total`;
    const failures = `${P}upstream_server_failures_total`;
    const latency = `${P}upstream_server_response_seconds`;
    e.family(requests, "counter", "Requests proxied to the server.");
    e.family(failures, "counter", "Requests to the server that failed (error, timeout or bad answer).");
    e.family(latency, "histogram", "Response time of the server as the proxy saw it.");
    for (const [p, t] of withTraffic) {
      const labels: Labels = [
        ["upstream", p.upstream],
        ["name", p.name],
      ];
      e.sample(requests, requests, labels, t.requests);
      e.sample(failures, failures, labels, t.failures);
      histogram(e, latency, labels, t.latencySeconds);
    }
  }

  if (input.sync) {
    const ok = `${P}upsync_ok`;
    const last = `${P}upsync_last_sync_timestamp_seconds`;
    const refused = `${P}upsync_refused_total`;
    const count = `${P}upsync_servers`;
    e.family(ok, "gauge", "Whether the last registry sync of the upstream succeeded (1) or not (0).");
    e.family(last, "gauge", "Unix time of the last successful registry sync (absent before the first).");
    e.family(refused, "counter", "Registry updates refused (e.g. one that would empty the upstream).");
    e.family(count, "gauge", "Servers of the upstream after the last applied sync.");
    const done = new Set<string>();
    for (const s of input.sync) {
      if (done.has(s.upstream)) continue;
      done.add(s.upstream);
      const labels: Labels = [["upstream", s.upstream]];
      e.sample(ok, ok, labels, s.ok ? 1 : 0);
      if (s.lastSyncSeconds !== null) e.sample(last, last, labels, s.lastSyncSeconds);
      e.sample(refused, refused, labels, s.refused);
      e.sample(count, count, labels, s.servers);
    }
  }
  return e.text();
}
