#!/usr/bin/python3
"""A PyTorch model trained on Fashion-MNIST with three metagrad optimizers
beside torch.optim.Adam (docs/tutorials/06-pytorch.md): metagrad's adam (the
same algorithm as torch's, in metagrad's fused C++ step), nadam, and the
shipped learned optimizer `general`, untuned, told the run's length.

    apt-get install dataset-fashion-mnist python3-torch
    python3 examples/python/torch_fashion_mnist.py [--limit N] [--epochs E]
"""
import argparse
import gzip
import time

import numpy as np
import torch

import metagrad
import metagrad.torch

DATA = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def load(split):
    """Images as float32 in [0, 1], flattened, and labels, from the IDX files."""
    with gzip.open("%s/%s-images-idx3-ubyte.gz" % (DATA, split)) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open("%s/%s-labels-idx1-ubyte.gz" % (DATA, split)) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(images.astype(np.float32) / 255), torch.from_numpy(labels.astype(np.int64))


def model():
    torch.manual_seed(0)  # every optimizer starts from the same weights
    return torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))


def train(make_optimizer, train_set, test_set, epochs, batch_size=128):
    net = model()
    images, labels = train_set
    steps = epochs * (len(images) // batch_size)
    optimizer = make_optimizer(net, steps)
    order = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    for _ in range(epochs):
        permutation = torch.randperm(len(images), generator=order)
        for i in range(len(images) // batch_size):
            batch = permutation[i * batch_size:(i + 1) * batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        logits = net(test_set[0])
        test_loss = torch.nn.functional.cross_entropy(logits, test_set[1]).item()
        accuracy = (logits.argmax(1) == test_set[1]).float().mean().item()
    return loss.item(), test_loss, accuracy, seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=60000, help="training images (default: all 60000)")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    train_images, train_labels = load("train")
    train_set = (train_images[:args.limit], train_labels[:args.limit])
    test_set = load("t10k")
    optimizers = [
        ("torch.optim.Adam(lr=1e-3)", lambda net, steps: torch.optim.Adam(net.parameters(), lr=1e-3)),
        ("metagrad adam(lr=1e-3)", lambda net, steps: metagrad.torch.Optimizer(net.parameters(), "adam(lr=1e-3)")),
        ("metagrad nadam(lr=2e-3)", lambda net, steps: metagrad.torch.Optimizer(net.parameters(), "nadam(lr=2e-3)")),
        # The learned optimizer: no learning rate to tune; knowing the run's
        # length lets it schedule its steps.
        ("metagrad general", lambda net, steps: metagrad.torch.Optimizer(
            net.named_parameters(), "general(horizon=%d)" % steps)),
    ]
    print("metagrad %s, %d training images, %d epoch(s)" % (metagrad.__version__, len(train_set[0]), args.epochs))
    print("%-26s %10s %10s %9s %8s" % ("optimizer", "train loss", "test loss", "accuracy", "seconds"))
    for name, make in optimizers:
        train_loss, test_loss, accuracy, seconds = train(make, train_set, test_set, args.epochs)
        print("%-26s %10.4f %10.4f %8.1f%% %8.1f" % (name, train_loss, test_loss, 100 * accuracy, seconds))


if __name__ == "__main__":
    main()
