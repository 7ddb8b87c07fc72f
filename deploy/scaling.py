#!/usr/bin/env python3
"""Scaling evidence for `switchyard bench`: throughput against routes, against
message body size, one hub process against two sharing one Redis, and a grid
of hub processes x Redis Cluster masters with a linear capacity model.

Runs the release binary once per configuration, keeps every final JSON line
in docs/bench/scaling.json (with the command that produced it), and draws
docs/bench/scaling.png (routes, body, processes) and
docs/bench/scaling-cluster.png (the cluster grid and the model). Run through
deploy/scaling.sh, which builds the binary and provides matplotlib.

Sections: routes, body, processes, cluster. All run unless --only names some;
then the sections not run are kept from the existing scaling.json, e.g.
`deploy/scaling.sh --only cluster` redoes the cluster grid and keeps the older
figures.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "switchyard")
OUT = os.path.join(ROOT, "docs", "bench")
JSON_PATH = os.path.join(OUT, "scaling.json")

SECTIONS = ("routes", "body", "processes", "cluster")
# Derived from the "cluster" section: replaced whenever it is rerun.
CLUSTER_DERIVED = ("cluster_table", "model")
# Machines the capacity model predicts for (cores).
MODEL_CORES = (8, 32, 128)
MIB = 2**20


def bench(extra, seconds, warmup):
    cmd = [BIN, "bench", "--duration-secs", str(seconds), "--warmup-secs", str(warmup)] + extra
    print("$", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-20:])
        raise SystemExit(f"failed ({out.returncode}): {' '.join(cmd)}\n{tail}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["duplicates"] != 0 or report.get("too_old", 0) != 0 or report["delivered"] == 0:
        raise SystemExit(f"incorrect run {cmd}: {report}")
    print(f"  {report['messages_per_second']:,.0f} msg/s, p99 {report['p99_ms']:.1f} ms, "
          f"peak RSS {report['peak_rss_bytes'] / MIB:.0f} MiB", file=sys.stderr, flush=True)
    return {"command": "switchyard " + " ".join(cmd[1:]), "report": report}


def machine():
    cpus = os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 2**20:.0f} GiB"
    except OSError:
        pass
    return f"{cpus} vCPU {platform.machine()}, {mem} RAM, {platform.system()} {platform.release()}"


# ---------------------------------------------------------------- defaults


def default_processes(cpus):
    """1, 2, then doubling while it stays within half the cores: [1, 2] on
    up to 7 cores, [1, 2, 4] on 8, [1, 2, 4, 8] on 16, ..."""
    out, p = [1, 2], 4
    while p <= cpus // 2:
        out.append(p)
        p *= 2
    return out


def default_masters(cpus):
    """3 and 6, then doubling (12, 24, ...) while within three quarters of the
    cores: 12 from 16 cores, 24 from 32, ..."""
    out, m = [3, 6], 12
    while m <= cpus * 3 // 4:
        out.append(m)
        m *= 2
    return out


def int_list(minimum):
    def parse(text):
        try:
            values = [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
        if not values or any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"need integers >= {minimum}: {text!r}")
        return sorted(set(values))

    return parse


def section_list(text):
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [n for n in names if n not in SECTIONS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"sections are {', '.join(SECTIONS)}; got {text!r}")
    return [s for s in SECTIONS if s in names]


# ---------------------------------------------------------------- running


def run_section(name, args):
    s, w = args.seconds, args.warmup
    if name == "routes":
        return [bench(["--routes", str(r)], s, w) for r in args.routes]
    if name == "body":
        return [bench(["--body-size", str(b)], s, w) for b in args.bodies]
    if name == "processes":
        return [bench(["--shared-sink"], s, w), bench(["--processes", "2"], s, w)]
    if name == "cluster":
        points = []
        for m in args.masters_list:
            for p in args.processes_list:
                extra = ["--redis-cluster", str(m), "--processes", str(p),
                         "--routes", str(args.cluster_routes)]
                if args.cluster_replicas:
                    extra += ["--cluster-replicas", str(args.cluster_replicas)]
                points.append(bench(extra, s, w))
        return points
    raise ValueError(name)


def load_previous():
    try:
        with open(JSON_PATH) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return {}
    # Files written before per-section provenance: every section came from
    # the file's one date and machine.
    runs = old.setdefault("runs", {})
    for sec in SECTIONS:
        if sec in old and sec not in runs:
            runs[sec] = {"date": old.get("date"), "machine": old.get("machine")}
    return old


def save(data):
    os.makedirs(OUT, exist_ok=True)
    tmp = JSON_PATH + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, JSON_PATH)


def run(args):
    sections = args.only or list(SECTIONS)
    # With --only, start from the previous file so the sections not run
    # survive; without it every section is rerun anyway.
    data = load_previous() if args.only else {}
    data.setdefault("runs", {})
    data["date"] = datetime.date.today().isoformat()
    data["machine"] = machine()
    for name in sections:
        data[name] = run_section(name, args)
        data["runs"][name] = {"date": data["date"], "machine": data["machine"],
                              "seconds": args.seconds, "warmup": args.warmup}
        if name == "cluster":
            data["cluster_table"] = cluster_table(data["cluster"])
            data["model"] = capacity_model(data["cluster"])
        # Saved after every section: a failure later keeps what was measured.
        save(data)
    return data


# ---------------------------------------------------------------- cluster table


def busiest_node(report):
    """The Redis node with the most CPU per million delivered (a node is
    single-threaded, so this node saturates first), or None."""
    nodes = [n for n in report.get("redis_nodes") or [] if n.get("cpu_seconds_per_million") is not None]
    return max(nodes, key=lambda n: n["cpu_seconds_per_million"]) if nodes else None


def fmt(x, spec=".2f"):
    return "—" if x is None else format(x, spec)


def cluster_rows(points):
    rows = []
    for d in points:
        r = d["report"]
        parts = r.get("parts") or []
        # No parts from a one-process run: that process is the aggregate.
        per_process = [q["messages_per_second"] for q in parts] or (
            [r["messages_per_second"]] if r.get("processes", 1) == 1 else [])
        node = busiest_node(r)
        rows.append({
            "processes": r.get("processes", 1),
            "masters": r.get("redis_masters"),
            "replicas": r.get("cluster_replicas"),
            "messages_per_second": r["messages_per_second"],
            "per_process_messages_per_second": per_process,
            "hub_cpu_seconds_per_million": r.get("cpu_seconds_per_million"),
            "generator_cpu_seconds_per_million": r.get("generator_cpu_seconds_per_million"),
            "redis_cpu_seconds_per_million": r.get("redis_cpu_seconds_per_million"),
            "busiest_node": node["address"] if node else None,
            "busiest_node_cpu_seconds_per_million": node["cpu_seconds_per_million"] if node else None,
            "peak_rss_mib": r["peak_rss_bytes"] / MIB,
        })
    rows.sort(key=lambda x: (x["masters"] or 0, x["processes"]))
    return rows


def cluster_table(points):
    """Markdown table of the cluster grid, one row per (processes, masters)."""
    head = ("| processes | masters | msg/s (aggregate) | msg/s per process "
            "| hub CPU-s/M (of which generator) | Redis CPU-s/M (all nodes) "
            "| busiest node CPU-s/M | peak RSS MiB |")
    lines = [head, "|" + "---:|" * 8]
    for x in cluster_rows(points):
        masters = fmt(x["masters"], "d")
        if x["replicas"]:
            masters += f" (+{x['replicas']} replicas each)"
        per = ", ".join(f"{v:,.0f}" for v in x["per_process_messages_per_second"]) or "—"
        hub = fmt(x["hub_cpu_seconds_per_million"])
        if x["generator_cpu_seconds_per_million"] is not None:
            hub += f" ({x['generator_cpu_seconds_per_million']:.2f})"
        busiest = fmt(x["busiest_node_cpu_seconds_per_million"])
        if x["busiest_node"]:
            busiest += f" ({x['busiest_node']})"
        lines.append(f"| {x['processes']} | {masters} | {x['messages_per_second']:,.0f} | {per} "
                     f"| {hub} | {fmt(x['redis_cpu_seconds_per_million'])} | {busiest} "
                     f"| {x['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- capacity model
#
# Units. "CPU-s/M" is CPU seconds spent per million messages delivered. At
# 100,000 msg/s a million messages take 10 s, so
#     cores per 100k msg/s = CPU-s/M / 10,
# and a component costing c CPU-s/M saturates k cores at k * 1e6 / c msg/s.
#
# Per-message costs (medians over the cluster points, so one odd run does not
# move them):
#     h = median(cpu_seconds_per_million - generator_cpu_seconds_per_million)
#         hub CPU-s/M. The bench's figure includes the load generator (the
#         stand-in for the chains), which a deployed hub does not run, so it
#         is taken out; h_gen (with it) is stored alongside.
#     r = median(redis_cpu_seconds_per_million)
#         Redis CPU-s/M, summed over every node (replicas included).
#     hub_cores_per_100k = h / 10,  redis_cores_per_100k = r / 10.
#
# Per-master ceiling. A Redis node is single-threaded: at most one core, i.e.
# 1e6 CPU-s per 1e6 s. In a point with m masters whose busiest node costs b
# CPU-s/M (per million messages of the whole cluster), that node saturates
# at 1e6 / b aggregate msg/s; that is the cluster's ceiling, not one master's.
# Normalised to one master, with that point's skew kept:
#     ceiling_per_master = 1e6 / (b * m)   msg/s per master,
# taking the worst (largest) b * m over the points, so uneven slot spread
# measured anywhere is assumed everywhere. A cluster of M masters then caps at
#     M * ceiling_per_master = M * 1e6 / max(b * m).
#
# Prediction for a machine with C cores, split between hubs and Redis in the
# ratio of their measured costs:
#     hub_cores   = C * h / (h + r)
#     redis_cores = C * r / (h + r)
#     masters     = max(3, floor(redis_cores / (1 + replicas)))   (a cluster has >= 3 masters;
#                   each node gets one core)
#     hub processes = max(1, round(hub_cores))   (one per core)
#     uncapped    = C * 1e6 / (h + r)   msg/s (every core busy)
#     predicted   = min(uncapped, masters * ceiling_per_master)
# On small C the 3-master minimum may take more than redis_cores; the model
# does not take those cores from the hubs (the masters then idle most of the
# time), so treat small-C predictions as optimistic by up to that margin.


def capacity_model(points, cores=MODEL_CORES):
    hub, hub_gen, redis, skew, replicas = [], [], [], [], []
    for d in points:
        r = d["report"]
        cpu, gen = r.get("cpu_seconds_per_million"), r.get("generator_cpu_seconds_per_million")
        if cpu is not None:
            hub_gen.append(cpu)
            hub.append(cpu - (gen or 0.0))
        if r.get("redis_cpu_seconds_per_million") is not None:
            redis.append(r["redis_cpu_seconds_per_million"])
        node, m = busiest_node(r), r.get("redis_masters")
        if node and m:
            skew.append((node["cpu_seconds_per_million"] * m, node["address"], m, r.get("processes", 1)))
        replicas.append(r.get("cluster_replicas") or 0)
    if not hub or not redis:
        return {"error": "no cluster point reports both hub and Redis CPU"}
    h, h_gen, rc = statistics.median(hub), statistics.median(hub_gen), statistics.median(redis)
    reps = max(replicas) if replicas else 0
    worst = max(skew) if skew else None
    ceiling = 1e6 / worst[0] if worst and worst[0] > 0 else None
    predictions = []
    for c in cores:
        # Each Redis node gets a core of its own (a node is one thread, and
        # a busy master needs all of it); the hubs get the rest. The master
        # count is the one that gives the most: hubs' capacity
        # (C - m(1+R)) * 1e6 / h against the masters' m * ceiling.
        best = None
        for m in range(3, max(3, c // (1 + reps)) + 1):
            hub_cores = c - m * (1 + reps)
            if hub_cores < 1:
                break
            by_hubs = hub_cores * 1e6 / h
            cap = m * ceiling if ceiling else None
            predicted = min(by_hubs, cap) if cap else by_hubs
            if best is None or predicted > best["predicted_messages_per_second"]:
                best = {
                    "cores": c,
                    "hub_cores": hub_cores,
                    "hub_processes": hub_cores,
                    "redis_cores": m * (1 + reps),
                    "masters": m,
                    "replicas_per_master": reps,
                    "uncapped_messages_per_second": by_hubs,
                    "redis_cap_messages_per_second": cap,
                    "predicted_messages_per_second": predicted,
                    "bound": "redis masters" if cap is not None and cap < by_hubs else "hub cores",
                }
        if best:
            predictions.append(best)
    return {
        "points": len(points),
        "hub_cpu_seconds_per_million": h,
        "hub_cpu_seconds_per_million_with_generator": h_gen,
        "redis_cpu_seconds_per_million": rc,
        "hub_cores_per_100k": h / 10,
        "redis_cores_per_100k": rc / 10,
        "busiest_node_cpu_seconds_per_million_times_masters": worst[0] if worst else None,
        "busiest_node_worst_point": ({"address": worst[1], "masters": worst[2], "processes": worst[3]}
                                     if worst else None),
        "per_master_ceiling_messages_per_second": ceiling,
        "formulas": {
            "cores_per_100k": "CPU-s per million / 10",
            "hub": "h = median(cpu_seconds_per_million - generator_cpu_seconds_per_million)",
            "redis": "r = median(redis_cpu_seconds_per_million)  (sum over nodes)",
            "per_master_ceiling": "1e6 / max over points(busiest node CPU-s/M * masters)",
            "split": "each Redis node one core: hub_cores = C - m*(1+replicas), one hub process a core; "
                     "m (>= 3) chosen to maximise the prediction",
            "predicted": "max over m of min(hub_cores*1e6/h, m * per_master_ceiling)",
        },
        "predictions": predictions,
    }


def model_text(model):
    if not model or "error" in model:
        return f"capacity model: {(model or {}).get('error', 'no data')}"
    ceiling = model["per_master_ceiling_messages_per_second"]
    lines = [
        f"capacity model (medians over {model['points']} cluster points):",
        f"  hub   {model['hub_cpu_seconds_per_million']:.2f} CPU-s/M "
        f"({model['hub_cpu_seconds_per_million_with_generator']:.2f} with the bench generator) "
        f"= {model['hub_cores_per_100k']:.2f} cores per 100k msg/s",
        f"  Redis {model['redis_cpu_seconds_per_million']:.2f} CPU-s/M (all nodes) "
        f"= {model['redis_cores_per_100k']:.2f} cores per 100k msg/s",
        "  per-master ceiling " + (f"{ceiling:,.0f} msg/s (1e6 / busiest node CPU-s/M x masters, worst point)"
                                   if ceiling else "unknown (no redis_nodes)"),
        "",
        "| cores | hub processes (cores) | masters | Redis cores | predicted msg/s | bound |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for p in model["predictions"]:
        lines.append(f"| {p['cores']} | {p['hub_processes']} ({p['hub_cores']:.1f}) | {p['masters']} "
                     f"| {p['redis_cores']:.1f} | {p['predicted_messages_per_second']:,.0f} | {p['bound']} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- plots


def provenance(data, sections):
    seen = []
    for sec in sections:
        run = data.get("runs", {}).get(sec) or {"date": data.get("date"), "machine": data.get("machine")}
        key = f"{run.get('machine')}, {run.get('date')}"
        if key not in seen:
            seen.append(key)
    return "; ".join(seen)


def plot(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    panels = [s for s in ("routes", "body", "processes") if data.get(s)]
    if panels:
        written.append(plot_main(plt, data, panels))
    if data.get("cluster"):
        written.append(plot_cluster(plt, data))
    return written


def plot_main(plt, data, panels):
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), squeeze=False)
    axes = dict(zip(panels, axes[0]))
    k = 1000.0

    if "routes" in axes:
        ax = axes["routes"]
        xs = [d["report"]["routes"] for d in data["routes"]]
        ys = [d["report"]["messages_per_second"] / k for d in data["routes"]]
        ax.plot(xs, ys, "o-", color="tab:blue")
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("routes (origin → destination pairs)")
        ax.set_ylabel("delivered, thousand messages/s")
        ax.set_title("Throughput against routes (128-byte bodies)")
        ax.set_ylim(bottom=0, top=max(ys) * 1.15)
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.0f}k", (x, y), textcoords="offset points", xytext=(0, 6), ha="center")

    if "body" in axes:
        ax = axes["body"]
        xs = [d["report"]["body_size"] for d in data["body"]]
        ys = [d["report"]["messages_per_second"] / k for d in data["body"]]
        ax.plot(xs, ys, "o-", color="tab:green", label="messages/s")
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("message body, bytes")
        ax.set_ylabel("delivered, thousand messages/s")
        ax.set_title("Throughput against body size (12 routes)")
        ax.set_ylim(bottom=0, top=max(ys) * 1.15)
        ax2 = ax.twinx()
        mb = [d["report"]["messages_per_second"] * d["report"]["body_size"] / MIB for d in data["body"]]
        ax2.plot(xs, mb, "s--", color="tab:gray", label="body MiB/s")
        ax2.set_ylabel("body payload, MiB/s")
        ax2.set_ylim(bottom=0, top=max(mb) * 1.15)
        ax.legend(loc="upper center")
        ax2.legend(loc="center right")

    if "processes" in axes:
        ax = axes["processes"]
        labels = [f"{d['report'].get('processes', 1)} process" + ("es" if d["report"].get("processes", 1) > 1 else "")
                  for d in data["processes"]]
        ys = [d["report"]["messages_per_second"] / k for d in data["processes"]]
        bars = ax.bar(labels, ys, color=["tab:blue", "tab:orange", "tab:green", "tab:red"][:len(ys)])
        for b, y in zip(bars, ys):
            ax.annotate(f"{y:.0f}k", (b.get_x() + b.get_width() / 2, y), textcoords="offset points",
                        xytext=(0, 4), ha="center")
        ax.set_ylabel("delivered, thousand messages/s")
        ax.set_title("Hub processes sharing one Redis (12 routes)")

    fig.suptitle(f"switchyard bench, {provenance(data, panels)} "
                 "(Redis on the same machine; null sink checks every attestation)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(OUT, "scaling.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cluster(plt, data):
    rows = cluster_rows(data["cluster"])
    model = data.get("model") or {}
    has_model = bool(model.get("predictions"))
    fig, axes = plt.subplots(1, 2 if has_model else 1, figsize=(13 if has_model else 7, 4.8), squeeze=False)
    axes = axes[0]
    k = 1000.0

    ax = axes[0]
    masters = sorted({x["masters"] for x in rows if x["masters"] is not None})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    allx, top = set(), 0.0
    for i, m in enumerate(masters):
        pts = sorted((x["processes"], x["messages_per_second"] / k) for x in rows if x["masters"] == m)
        xs, ys = [p for p, _ in pts], [y for _, y in pts]
        allx.update(xs)
        top = max(top, max(ys))
        ax.plot(xs, ys, "o-", color=colors[i % len(colors)], label=f"{m} masters")
        # Labels staggered sideways per master count: lines close together
        # would otherwise print their values on top of each other.
        dx = (i - (len(masters) - 1) / 2) * 32
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.0f}k", (x, y), textcoords="offset points", xytext=(dx, 7), ha="center",
                        fontsize=8, color=colors[i % len(colors)])
    xs = sorted(allx)
    if len(xs) > 1:
        ax.set_xscale("log", base=2)
        ax.set_xlim(xs[0] / 1.35, xs[-1] * 1.35)  # room for the staggered labels
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_xlabel("hub processes")
    ax.set_ylabel("delivered, thousand messages/s (all processes)")
    routes = sorted({d["report"].get("routes") for d in data["cluster"]} - {None})
    ax.set_title(f"Hub processes × Redis Cluster masters ({', '.join(map(str, routes))} routes)")
    ax.set_ylim(bottom=0, top=top * 1.18 if top else 1)
    ax.legend(loc="lower right")

    if has_model:
        ax = axes[1]
        preds = model["predictions"]
        h, r = model["hub_cpu_seconds_per_million"], model["redis_cpu_seconds_per_million"]
        cs = [p["cores"] for p in preds]
        ax.plot(cs, [p["uncapped_messages_per_second"] / k for p in preds], ":", color="tab:gray",
                label="cores / (hub + Redis CPU per message)")
        ys = [p["predicted_messages_per_second"] / k for p in preds]
        ax.plot(cs, ys, "s--", color="tab:purple", label="predicted (capped by masters)")
        for p, y in zip(preds, ys):
            ax.annotate(f"{y:,.0f}k\n{p['hub_processes']} hubs, {p['masters']} masters", (p["cores"], y),
                        textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
        # Measured points at the cores they actually kept busy (hub without
        # the generator, plus every Redis node): msg/s * CPU-s/M / 1e6.
        mx, my = [], []
        for x in rows:
            if x["hub_cpu_seconds_per_million"] is None or x["redis_cpu_seconds_per_million"] is None:
                continue
            cost = (x["hub_cpu_seconds_per_million"] - (x["generator_cpu_seconds_per_million"] or 0)
                    + x["redis_cpu_seconds_per_million"])
            mx.append(x["messages_per_second"] * cost / 1e6)
            my.append(x["messages_per_second"] / k)
        if mx:
            ax.plot(mx, my, "o", color="tab:blue", label="measured (cores busy)")
        ax.set_xscale("log", base=2)
        ticks = sorted(set(cs) | {2 ** i for i in range(0, 8) if mx and min(mx) / 2 <= 2 ** i <= max(cs)})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_ylim(top=max(p["uncapped_messages_per_second"] / k for p in preds) * 3)
        ax.set_xlabel("cores")
        ax.set_ylabel("thousand messages/s")
        ax.set_title(f"Linear model: hub {h:.2f}, Redis {r:.2f} CPU-s per million")
        ax.legend(loc="upper left", fontsize=8)

    fig.suptitle(f"switchyard bench, {provenance(data, ['cluster'])} "
                 "(Redis Cluster on loopback; null sink checks every attestation)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(OUT, "scaling-cluster.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- main


def main():
    cpus = os.cpu_count() or 2
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=20, help="measured seconds per run")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--routes", type=int, nargs="+", default=[12, 64, 256, 1024])
    p.add_argument("--bodies", type=int, nargs="+", default=[32, 128, 512, 2048])
    p.add_argument("--only", type=section_list, default=None,
                   help=f"comma-separated sections to run ({','.join(SECTIONS)}); "
                        "the others are kept from the existing scaling.json")
    p.add_argument("--processes-list", type=int_list(1), default=default_processes(cpus),
                   help="cluster grid: hub processes, comma-separated "
                        f"(default here: {','.join(map(str, default_processes(cpus)))})")
    p.add_argument("--masters-list", type=int_list(3), default=default_masters(cpus),
                   help="cluster grid: Redis Cluster masters, comma-separated, each >= 3 "
                        f"(default here: {','.join(map(str, default_masters(cpus)))})")
    p.add_argument("--cluster-routes", type=int, default=48, help="routes in every cluster run")
    p.add_argument("--cluster-replicas", type=int, default=0,
                   help="replicas per master in the cluster runs (passed only when > 0)")
    p.add_argument("--plot-only", action="store_true",
                   help="redraw from docs/bench/scaling.json (recomputing the cluster table and model)")
    args = p.parse_args()
    if args.plot_only:
        with open(JSON_PATH) as f:
            data = json.load(f)
        if data.get("cluster"):
            data["cluster_table"] = cluster_table(data["cluster"])
            data["model"] = capacity_model(data["cluster"])
    else:
        data = run(args)
    if data.get("cluster"):
        print(data["cluster_table"])
        print()
        print(model_text(data.get("model")))
    for path in plot(data):
        print(path, file=sys.stderr)


if __name__ == "__main__":
    main()
