#!/usr/bin/env python3
"""Scaling evidence for `switchyard bench`: throughput against routes, against
message body size, and one hub process against two sharing one Redis.

Runs the release binary once per configuration, keeps every final JSON line
in docs/bench/scaling.json (with the command that produced it), and draws
docs/bench/scaling.png. Run through deploy/scaling.sh, which builds the binary
and provides matplotlib.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "switchyard")
OUT = os.path.join(ROOT, "docs", "bench")


def bench(extra, seconds, warmup):
    cmd = [BIN, "bench", "--duration-secs", str(seconds), "--warmup-secs", str(warmup)] + extra
    print("$", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True, text=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["duplicates"] != 0 or report.get("too_old", 0) != 0 or report["delivered"] == 0:
        raise SystemExit(f"incorrect run {cmd}: {report}")
    print(f"  {report['messages_per_second']:,.0f} msg/s, p99 {report['p99_ms']:.1f} ms, "
          f"peak RSS {report['peak_rss_bytes'] / 2**20:.0f} MiB", file=sys.stderr, flush=True)
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


def run(args):
    s, w = args.seconds, args.warmup
    data = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "routes": [bench(["--routes", str(r)], s, w) for r in args.routes],
        "body": [bench(["--body-size", str(b)], s, w) for b in args.bodies],
        "processes": [
            bench(["--shared-sink"], s, w),
            bench(["--processes", "2"], s, w),
        ],
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "scaling.json"), "w") as f:
        json.dump(data, f, indent=1)
    return data


def plot(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    k = 1000.0

    ax = axes[0]
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

    ax = axes[1]
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
    mb = [d["report"]["messages_per_second"] * d["report"]["body_size"] / 2**20 for d in data["body"]]
    ax2.plot(xs, mb, "s--", color="tab:gray", label="body MiB/s")
    ax2.set_ylabel("body payload, MiB/s")
    ax2.set_ylim(bottom=0, top=max(mb) * 1.15)
    ax.legend(loc="upper center")
    ax2.legend(loc="center right")

    ax = axes[2]
    labels = ["1 process", "2 processes"]
    ys = [d["report"]["messages_per_second"] / k for d in data["processes"]]
    bars = ax.bar(labels, ys, color=["tab:blue", "tab:orange"])
    for b, y in zip(bars, ys):
        ax.annotate(f"{y:.0f}k", (b.get_x() + b.get_width() / 2, y), textcoords="offset points",
                    xytext=(0, 4), ha="center")
    ax.set_ylabel("delivered, thousand messages/s")
    ax.set_title("Hub processes sharing one Redis (12 routes)")

    fig.suptitle(f"switchyard bench, {data['machine']}, {data['date']} "
                 "(Redis on the same machine; null sink checks every attestation)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "scaling.png"), dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=int, default=20, help="measured seconds per run")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--routes", type=int, nargs="+", default=[12, 64, 256, 1024])
    p.add_argument("--bodies", type=int, nargs="+", default=[32, 128, 512, 2048])
    p.add_argument("--plot-only", action="store_true", help="redraw from docs/bench/scaling.json")
    args = p.parse_args()
    if args.plot_only:
        with open(os.path.join(OUT, "scaling.json")) as f:
            data = json.load(f)
    else:
        data = run(args)
    plot(data)
    print(os.path.join(OUT, "scaling.png"), file=sys.stderr)


if __name__ == "__main__":
    main()
