#!/usr/bin/python3
"""torch.optim side of bench/optim_bench.cpp (foreach implementations)."""
import argparse
import json
import time

import torch

from torch_models import ResNet20


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
    parameter_sets = [("1M", lambda: [torch.randn(1 << 20, requires_grad=True)]),
                      ("10M", lambda: [torch.randn(10 << 20, requires_grad=True)]),
                      ("resnet20", lambda: list(ResNet20().parameters()))]
    for label, make_params in parameter_sets:
        for name, make in CASES:
            params = make_params()
            grads = [torch.randn_like(p) for p in params]
            opt = make(params)

            def step():
                for p, g in zip(params, grads):
                    p.grad = g
                opt.step()

            t = median_seconds(step, 20 if label == "10M" else 100)
            print(json.dumps({"bench": name, "impl": "pytorch", "size": label, "tensors": len(params),
                              "threads": args.threads, "ms": t * 1e3}), flush=True)


if __name__ == "__main__":
    main()
