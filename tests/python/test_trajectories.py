"""Every optimizer of the shared table (tests/optim/optimizer_table.hpp),
research and learned ones included, steps PyTorch tensors through
metagrad.torch.Optimizer exactly as the C++ library steps its own: the
gradients the C++ run evaluated are fed back in the same order (each at a
point that must be the same, bit for bit) and every step's parameters must be
the same bit for bit. The C++ run comes from the program named by
MG_TRAJECTORIES (tests/python/trajectories.cpp)."""
import json
import os
import subprocess
import unittest

import torch

import metagrad.torch as mt

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def load_trajectories():
    output = subprocess.run([os.environ["MG_TRAJECTORIES"]], check=True, capture_output=True, text=True).stdout
    return json.loads(output)


class Replay:
    """The recorded gradient evaluations, handed out in order; each must be
    asked for at the point where C++ evaluated it."""

    def __init__(self, case, params):
        self.evaluations = iter(case["evaluations"])
        self.params = params
        self.dtype = DTYPES[case["dtype"]]

    def tensor(self, values, like):
        return torch.tensor(values, dtype=self.dtype).reshape(like.shape)

    def set_gradients(self):
        evaluation = next(self.evaluations)
        for p, point, grad in zip(self.params, evaluation["point"], evaluation["grad"]):
            assert torch.equal(p.detach(), self.tensor(point, p)), "evaluated at another point"
            p.grad = self.tensor(grad, p)


class TrajectoryTest(unittest.TestCase):
    def test_every_table_optimizer_follows_the_cpp_trajectory_bit_for_bit(self):
        cases = load_trajectories()
        self.assertGreaterEqual(len({case["spec"].split("(")[0] for case in cases}), 19)
        for case in cases:
            with self.subTest(spec=case["spec"], problem=case["problem"], dtype=case["dtype"]):
                dtype = DTYPES[case["dtype"]]
                params = [torch.tensor(v, dtype=dtype).reshape(s).requires_grad_()
                          for v, s in zip(case["initial"], case["shapes"])]
                optimizer = mt.Optimizer(list(zip(case["names"], params)), case["spec"])
                replay = Replay(case, params)

                def closure():
                    replay.set_gradients()
                    return torch.zeros(())

                for step, expected in enumerate(case["after"]):
                    replay.set_gradients()
                    optimizer.step(closure)
                    for p, values in zip(params, expected):
                        self.assertTrue(torch.equal(p.detach(), replay.tensor(values, p)),
                                        "step %d: %s against %s" % (step + 1, p.detach().flatten().tolist(), values))
                self.assertIsNone(next(replay.evaluations, None), "fewer gradient evaluations than C++ made")


if __name__ == "__main__":
    unittest.main()
