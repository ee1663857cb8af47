#!/usr/bin/python3
"""Writes `general` weights (docs/general.md's layout) that make it Adam with
a learning-rate schedule, for a meta-training start and a reference point:
with the run's length known (horizon=T), four hidden units follow the
progress features tanh(10 (t/T - tau)), tau = 0.25, 0.5, 0.75, 0.9, and
o1 = -c * sum_j (1 + tanh(10 (t/T - tau_j))), so the learning rate
exp(log_lr + 3 tanh(o1)) falls smoothly from exp(log_lr) to about 14% of it
at the horizon (c = 0.1); the correction output o2 is 0. With no horizon
(horizon=0: the progress features are 0) it is Adam at exp(log_lr).

With --scale-units, three more hidden units carry the tensor's features
through unchanged (log10(C)/4, log10(s + 1e-8)/4 + 2.5 and the matrix flag,
each positive), their weights into o1 at 0: the same optimizer, bit for bit,
from which meta-training can learn a learning rate that depends on a
tensor's fan-in and scale (`meta-train --trainable`, the entries W3[4..6][0]).

With --time-units as well, two more units carry the step-count features
tanh(t/100 - 1) + 1 and tanh(t/1000 - 1) + 1 (W3[7..8][0], at 0), so that the
learning rate can learn to fall with the step count itself, not only with
t/T: a run longer than any the family has reaches later steps.

    make_start.py LR [C] [--scale-units [--time-units]] > weights.json
"""
import json
import math
import sys

INPUTS, HIDDEN, OUTPUTS = 19, 32, 2
PROGRESS = 14  # the first of the four progress features; x[18] is the constant 1
LOG_SCALE, LOG_FAN_IN, MATRIX = 7, 8, 9  # the tensor's features
STEPS_100, STEPS_1000 = 11, 12  # tanh(t/100 - 1), tanh(t/1000 - 1)


def weights(lr, c, scale_units=False, time_units=False):
    w1 = [[0.0] * HIDDEN for _ in range(INPUTS)]
    b1 = [0.0] * HIDDEN
    w2 = [[0.0] * HIDDEN for _ in range(HIDDEN)]
    b2 = [0.0] * HIDDEN
    w3 = [[0.0] * OUTPUTS for _ in range(HIDDEN)]
    b3 = [0.0] * OUTPUTS
    for j in range(4):
        w1[PROGRESS + j][j] = 1.0  # h1_j = relu(1 + tanh(10 (t/T - tau_j))) = 1 + tanh(...)
        b1[j] = 1.0
        w2[j][j] = 1.0  # h2_j = h1_j
        w3[j][0] = -c  # o1 = -c * sum_j h2_j
    if scale_units:
        for unit, feature, bias in ((4, LOG_FAN_IN, 0.0), (5, LOG_SCALE, 2.5), (6, MATRIX, 0.0)):
            w1[feature][unit] = 1.0
            b1[unit] = bias
            w2[unit][unit] = 1.0  # h2 = h1 = the feature (+ bias), positive; W3[unit][0] = 0
    if time_units:
        for unit, feature in ((7, STEPS_100), (8, STEPS_1000)):
            w1[feature][unit] = 1.0
            b1[unit] = 1.0
            w2[unit][unit] = 1.0
    flat = [v for row in w1 for v in row] + b1 + [v for row in w2 for v in row] + b2
    flat += [v for row in w3 for v in row] + b3 + [math.log(lr)]
    assert len(flat) == 1763
    return flat


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    lr = float(args[0])
    c = float(args[1]) if len(args) > 1 else 0.1
    print(json.dumps(weights(lr, c, "--scale-units" in sys.argv, "--time-units" in sys.argv)))
