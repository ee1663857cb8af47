#!/usr/bin/python3
"""PyTorch side of `metagrad bench`: the same workloads, one JSON object each.

Run it "tuned" (PERFORMANCE.md): LD_PRELOAD tcmalloc and the OpenMP OpenBLAS,
as bench/run_nn.sh does.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_models import ResNet20, SmallCnn, mlp


WORKLOADS = {
    "cnn-train": (SmallCnn, (3, 32, 32), True),
    "cnn-infer": (SmallCnn, (3, 32, 32), False),
    "cnn-hvp": (SmallCnn, (3, 32, 32), "hvp"),
    "resnet20-train": (ResNet20, (3, 32, 32), True),
    "resnet20-infer": (ResNet20, (3, 32, 32), False),
    "mlp-train": (lambda: mlp([784, 256, 256, 10], nn.ReLU), (784,), True),
    "mlp-small-train": (lambda: mlp([784, 20, 10], nn.Sigmoid), (784,), True),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    make, shape, train = WORKLOADS[args.workload]
    model = make()
    x = torch.randn(args.batch, *shape)
    labels = torch.randint(0, 10, (args.batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train(bool(train))
    params = list(model.parameters())
    directions = [torch.randn_like(p) for p in params]

    def step():
        if train == "hvp":  # a Hessian-vector product of the training loss
            grads = torch.autograd.grad(F.cross_entropy(model(x), labels), params, create_graph=True)
            torch.autograd.grad(grads, params, directions)
        elif train:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), labels).backward()
            optimizer.step()
        else:
            with torch.no_grad():
                model(x)

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    ms = times[len(times) // 2]
    print(json.dumps({"workload": args.workload, "threads": args.threads, "batch": args.batch,
                      "images_per_s": args.batch / ms * 1e3, "ms_per_step": ms,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


if __name__ == "__main__":
    main()
