#!/usr/bin/env python3
"""Growth table for kvmrr_bench_render's JSON output.

For each family (BM_Render52, BM_Render4G, their Scratch and Cold forms)
and each pair of region counts n -> 10n, prints the measured ratio
time(10n)/time(n) next to the ratio an n log n algorithm would show,
10*log(10n)/log(n). A measured ratio at or below the n log n ratio means
the growth over that step is no worse than
n log n. With repetitions, uses their median (the median aggregate), or
with --stat min the fastest repetition (the JSON must then hold every
repetition, as bench/run.sh writes it).

    bench/run.sh build-bench render final
    python3 bench/growth.py [--stat median|min] bench/results/render_final.json
"""
import argparse
import json
import math
import sys
from collections import defaultdict


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stat", choices=["median", "min"], default="median")
    ap.add_argument("json")
    args = ap.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    times = defaultdict(dict)  # family -> n -> (real time, cpu time) in us
    units = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        aggregate = b.get("run_type") == "aggregate"
        if aggregate and (args.stat == "min" or b.get("aggregate_name") != "median"):
            continue
        parts = name.split("/")
        if len(parts) != 2 or not parts[1].isdigit():
            continue  # one argument, the region count (not the rotation diagnostics' three)
        family, arg = parts
        if int(arg) < 2 or "RoundRobin" in family:
            continue  # log(1) = 0; the round-robin diagnostic is not a growth series
        u = units[b.get("time_unit", "ns")]
        t = (b["real_time"] * u, b["cpu_time"] * u)
        n = int(arg)
        if args.stat == "min":
            if n not in times[family] or t[0] < times[family][n][0]:
                times[family][n] = t
        elif aggregate or n not in times[family]:
            # With repetitions, the median aggregate wins over single runs.
            times[family][n] = t
    print("| benchmark | n -> 10n | real time(n) us | real time(10n) us | real ratio | cpu ratio "
          "| n log n ratio | within n log n (real) |")
    print("|---|---|---|---|---|---|---|---|")
    for family, by_n in sorted(times.items()):
        for n in sorted(by_n):
            if 10 * n not in by_n:
                continue
            real = by_n[10 * n][0] / by_n[n][0]
            cpu = by_n[10 * n][1] / by_n[n][1]
            bound = 10 * math.log(10 * n) / math.log(n)
            ok = "yes" if real <= bound else "no"
            print(f"| {family} | {n} -> {10 * n} | {by_n[n][0]:.2f} | {by_n[10 * n][0]:.2f} | "
                  f"{real:.1f} | {cpu:.1f} | {bound:.1f} | {ok} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
