#!/usr/bin/env python3
"""Growth table for kvmrr_bench_render's JSON output.

For each family (BM_Render52, BM_Render4G) and each pair of region counts
n -> 10n, prints the measured ratio time(10n)/time(n) next to the ratio an
n log n algorithm would show, 10*log(10n)/log(n). A measured ratio at or
below the n log n ratio means the growth over that step is no worse than
n log n. Uses the median aggregate when the run had repetitions.

    build/bench/kvmrr_bench_render --benchmark_repetitions=5 \\
        --benchmark_out=render.json --benchmark_out_format=json
    python3 bench/growth.py render.json
"""
import json
import math
import sys
from collections import defaultdict


def main(path: str) -> int:
    with open(path) as f:
        data = json.load(f)
    times = defaultdict(dict)  # family -> n -> (real time, cpu time) in us
    units = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        if "/" not in name or b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        family, arg = name.split("/")[0], name.split("/")[1]
        if not arg.isdigit():
            continue
        if int(arg) < 2 or "RoundRobin" in family:
            continue  # log(1) = 0; the round-robin diagnostic is not a growth series
        u = units[b.get("time_unit", "ns")]
        t = (b["real_time"] * u, b["cpu_time"] * u)
        # With repetitions, the median aggregate wins over single runs.
        if b.get("run_type") == "aggregate" or int(arg) not in times[family]:
            times[family][int(arg)] = t
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
    sys.exit(main(sys.argv[1]))
