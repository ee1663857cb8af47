#!/usr/bin/python3
"""PyTorch side of bench/core_bench.cpp: the same work, the same JSON lines."""
import argparse
import json
import time

import torch


def median_seconds(work):
    for _ in range(3):
        work()
    times = []
    while (sum(times) < 0.3 or len(times) < 5) and len(times) < 200:
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def report(bench, size, threads, seconds, rate, unit):
    print(json.dumps({"bench": bench, "impl": "pytorch", "size": size, "threads": threads,
                      "ms": seconds * 1e3, unit: rate}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=["matmul", "elementwise"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with torch.no_grad():
        if args.only in (None, "matmul"):
            for n in (128, 256, 512, 1024, 2048):
                a, b = torch.randn(n, n), torch.randn(n, n)
                t = median_seconds(lambda: torch.matmul(a, b))
                report("matmul", n, args.threads, t, 2.0 * n ** 3 / t * 1e-9, "gflops")
        if args.only in (None, "elementwise"):
            for n in (1 << 20, 1 << 24):
                a, b = torch.randn(n), torch.randn(n)
                for name, fn, nbytes in (("add", lambda: a + b, 12), ("mul", lambda: a * b, 12),
                                         ("exp", lambda: torch.exp(a), 8), ("sum", lambda: torch.sum(a), 4)):
                    t = median_seconds(fn)
                    report(name, n, args.threads, t, nbytes * n / t * 1e-9, "gbps")


if __name__ == "__main__":
    main()
