#!/usr/bin/python3
"""torch.optim side of bench/optim_bench.cpp (foreach implementations)."""
import argparse
import json
import time

import torch


def median_seconds(work, repeats):
    for _ in range(3):
        work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


CASES = [("sgd-momentum", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, foreach=True)),
         ("adam", lambda p: torch.optim.Adam(p, lr=0.001, foreach=True)),
         ("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.01, foreach=True)),
         ("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.01, foreach=True))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    for n in (1 << 20, 10 * (1 << 20)):
        for name, make in CASES:
            p = torch.randn(n, requires_grad=True)
            grad = torch.randn(n)
            opt = make([p])

            def step():
                p.grad = grad
                opt.step()

            t = median_seconds(step, 20 if n > (1 << 20) else 100)
            print(json.dumps({"bench": name, "impl": "pytorch", "size": n, "threads": args.threads, "ms": t * 1e3}),
                  flush=True)


if __name__ == "__main__":
    main()
