"""metagrad.torch.Optimizer against torch.optim, and its contract: state
dicts, schedules, closures, learned optimizers by name, and bad input that
gives one clear exception and leaves the parameters untouched."""
import io
import os
import tempfile
import unittest

import torch

import metagrad
import metagrad.torch as mt

# (metagrad spec, torch optimizer, its keyword arguments): each group of the
# model below also overrides lr, and the biases' group weight_decay.
CLASSICS = [
    ("sgd(lr=0.05, momentum=0.9, weight_decay=0.001)", torch.optim.SGD,
     dict(lr=0.05, momentum=0.9, weight_decay=0.001)),
    ("sgd(lr=0.05, momentum=0.9, nesterov=true)", torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd(lr=0.05, momentum=0.5, dampening=0.3, maximize=true)", torch.optim.SGD,
     dict(lr=0.05, momentum=0.5, dampening=0.3, maximize=True)),
    ("adam(lr=0.01, weight_decay=0.001)", torch.optim.Adam, dict(lr=0.01, weight_decay=0.001)),
    ("adam(lr=0.01, beta1=0.8, beta2=0.99, amsgrad=true)", torch.optim.Adam,
     dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True)),
    ("adamw(lr=0.01, weight_decay=0.1)", torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    ("adamw(lr=0.01, amsgrad=true, eps=1e-6)", torch.optim.AdamW, dict(lr=0.01, amsgrad=True, eps=1e-6)),
    ("nadam(lr=0.01, weight_decay=0.001)", "NAdam2", dict(lr=0.01, weight_decay=0.001)),
    ("rmsprop(lr=0.01, alpha=0.9, weight_decay=0.001)", torch.optim.RMSprop,
     dict(lr=0.01, alpha=0.9, weight_decay=0.001)),
    ("rmsprop(lr=0.01, momentum=0.5, centered=true)", torch.optim.RMSprop,
     dict(lr=0.01, momentum=0.5, centered=True)),
    ("adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.001)", torch.optim.Adagrad,
     dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.001)),
]


class NAdam2(torch.optim.Optimizer):
    """torch.optim.NAdam as PyTorch 2.x computes it (metagrad's nadam and
    optimizers.md 3.6): PyTorch 1.13 multiplies mu into mu_product_next twice
    (fixed in 2.0), so 1.13's own NAdam is not the reference."""

    def __init__(self, params, lr, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, betas=betas, eps=eps,
                                      momentum_decay=momentum_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            (beta1, beta2), lr = group["betas"], group["lr"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state.update(step=0, mu_product=1.0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                t = state["step"]
                grad = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * group["momentum_decay"]))
                mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * group["momentum_decay"]))
                state["mu_product"] *= mu
                mu_product_next = state["mu_product"] * mu_next
                state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = state["v"].div(1 - beta2 ** t).sqrt().add_(group["eps"])
                p.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - state["mu_product"]))
                p.addcdiv_(state["m"], denom, value=-lr * mu_next / (1.0 - mu_product_next))


def small_model(dtype, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).to(dtype)


def batches(dtype, count=20):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 4, generator=generator, dtype=dtype), torch.randint(0, 3, (8,), generator=generator))
            for _ in range(count)]


def two_groups(model, bias_overrides):
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    return [{"params": weights, "lr": 0.02}, dict(params=biases, **bias_overrides)]


def train(model, optimizer, data):
    for x, y in data:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


def snapshot(model):
    return [p.detach().clone() for p in model.parameters()]


class AgainstTorchOptim(unittest.TestCase):
    def test_every_classic_optimizer_follows_torch_optim_with_two_groups(self):
        for dtype, tolerance in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
            data = batches(dtype)
            for spec, torch_class, kwargs in CLASSICS:
                with self.subTest(spec=spec, dtype=dtype):
                    ours, theirs = small_model(dtype), small_model(dtype)
                    bias_overrides = {"lr": 0.03, "weight_decay": 0.0}
                    train(ours, mt.Optimizer(two_groups(ours, bias_overrides), spec), data)
                    torch_class = NAdam2 if torch_class == "NAdam2" else torch_class
                    train(theirs, torch_class(two_groups(theirs, bias_overrides), **kwargs), data)
                    for a, b, start in zip(ours.parameters(), theirs.parameters(), snapshot(small_model(dtype))):
                        self.assertGreater((a - start).abs().max().item(), 1e-3)  # it trained
                        self.assertLessEqual((a - b).abs().max().item(), tolerance)

    def test_a_torch_lr_scheduler_drives_the_learning_rate(self):
        data = batches(torch.float64)
        ours, theirs = small_model(torch.float64), small_model(torch.float64)
        optimizers = (mt.Optimizer(ours.parameters(), "adam(lr=0.05)"),
                      torch.optim.Adam(theirs.parameters(), lr=0.05))
        schedules = [torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.3) for o in optimizers]
        for x, y in data:
            for model, optimizer, schedule in zip((ours, theirs), optimizers, schedules):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
                schedule.step()
        self.assertAlmostEqual(optimizers[0].param_groups[0]["lr"], 0.05 * 0.3 ** 4)
        for a, b in zip(ours.parameters(), theirs.parameters()):
            self.assertLessEqual((a - b).abs().max().item(), 1e-12)


class Contract(unittest.TestCase):
    def test_state_dict_round_trip_continues_bit_for_bit(self):
        data = batches(torch.float32, 12)
        for spec in ("adam(lr=0.01, amsgrad=true)", "sgd(lr=0.1, momentum=0.9)", "general", "mlp_lopt", "lstm",
                     "shampoo(lr=0.1)", "rllc(lr=0.01)"):
            with self.subTest(spec=spec):
                straight = small_model(torch.float32)
                train(straight, mt.Optimizer(straight.named_parameters(), spec), data)

                first = small_model(torch.float32)
                optimizer = mt.Optimizer(first.named_parameters(), spec)
                train(first, optimizer, data[:5])
                buffer = io.BytesIO()
                torch.save({"model": first.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
                buffer.seek(0)
                saved = torch.load(buffer)

                resumed = small_model(torch.float32, seed=7)
                resumed.load_state_dict(saved["model"])
                again = mt.Optimizer(resumed.named_parameters(), spec)
                again.load_state_dict(saved["optimizer"])
                self.assertEqual(again.state_dict()["state"].keys(), optimizer.state_dict()["state"].keys())
                train(resumed, again, data[5:])
                for a, b in zip(resumed.parameters(), straight.parameters()):
                    self.assertTrue(torch.equal(a, b))

    def test_a_state_that_does_not_fit_is_refused_before_anything_changes(self):
        model = small_model(torch.float64)
        optimizer = mt.Optimizer(model.parameters(), "adam(lr=0.01)")
        train(model, optimizer, batches(torch.float64, 2))
        state = optimizer.state_dict()
        state["state"][0]["exp_avg"] = torch.zeros(2, 2, dtype=torch.float64)
        before = optimizer.state_dict()
        with self.assertRaisesRegex(metagrad.Error, "exp_avg.*shape"):
            optimizer.load_state_dict(state)
        for key, fields in optimizer.state_dict()["state"].items():
            for field, tensor in fields.items():
                self.assertTrue(torch.equal(tensor, before["state"][key][field]))

    def test_closure_optimizers_evaluate_stage_points_and_return_the_loss(self):
        x = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
        optimizer = mt.Optimizer([x], "rk4(lr=0.1)")
        calls = []

        def closure():
            optimizer.zero_grad()
            loss = (x * x).sum()
            loss.backward()
            calls.append(loss.item())
            return loss

        loss = optimizer.step(closure)
        self.assertEqual(loss.item(), 5.0)
        self.assertEqual(len(calls), 4)  # the loss (which is the first stage's gradient), then three stages
        # rk4 on the gradient flow of |x|^2: x * (1 - h + h^2/2 - h^3/6 + h^4/24) with h = 2 lr
        h = 0.2
        factor = 1 - h + h ** 2 / 2 - h ** 3 / 6 + h ** 4 / 24
        self.assertLessEqual((x.detach() - torch.tensor([factor, -2 * factor], dtype=torch.float64)).abs().max(), 1e-15)

    def test_learned_optimizers_by_name_and_by_file(self):
        data = batches(torch.float32, 3)
        path = os.path.join(os.path.dirname(__file__), "..", "..", "optim", "learned", "pretrained", "mlp_lopt.json")
        for spec in ("general", "general(horizon=100)", "mlp_lopt", "lstm", "mlp_lopt(weights=%s)" % path):
            with self.subTest(spec=spec):
                model = small_model(torch.float32)
                before = snapshot(model)
                train(model, mt.Optimizer(model.parameters(), spec), data)
                self.assertTrue(any(not torch.equal(a, b) for a, b in zip(model.parameters(), before)))
        by_file, shipped = small_model(torch.float32), small_model(torch.float32)
        train(by_file, mt.Optimizer(by_file.parameters(), "mlp_lopt(weights=%s)" % path), data)
        train(shipped, mt.Optimizer(shipped.parameters(), "mlp_lopt"), data)
        for a, b in zip(by_file.parameters(), shipped.parameters()):
            self.assertTrue(torch.equal(a, b))

    def test_names_reach_wd_exclude(self):
        model = small_model(torch.float64)
        optimizer = mt.Optimizer(model.named_parameters(), "sgd(lr=0.1, weight_decay=0.5, wd_exclude=bias)")
        biases = [p.detach().clone() for name, p in model.named_parameters() if name.endswith("bias")]
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()
        for b, (name, p) in zip(biases, [(n, p) for n, p in model.named_parameters() if n.endswith("bias")]):
            self.assertTrue(torch.equal(p, b), name)
        self.assertFalse(torch.equal(model[0].weight, small_model(torch.float64)[0].weight))

    def test_the_registry_listing(self):
        listing = {entry["name"]: entry for entry in metagrad.optimizers()}
        self.assertIn("adam", listing)
        self.assertEqual(listing["adam"]["defaults"]["lr"], 0.001)
        self.assertIsNone(listing["rf_adamw"]["defaults"]["batch_size"])
        self.assertTrue(listing["general"]["spec"].startswith("general(weights=shipped"))
        self.assertEqual(len(listing), 19)
        self.assertRegex(metagrad.__version__, r"^\d+\.\d+\.\d+$")


class BadInput(unittest.TestCase):
    def assert_untouched(self, model, before):
        for a, b in zip(model.parameters(), before):
            self.assertTrue(torch.equal(a, b))

    def test_bad_parameters_are_refused_when_the_optimizer_is_made(self):
        leaf = torch.randn(4, 3).t().requires_grad_()
        with self.assertRaisesRegex(metagrad.Error, "parameter 'param0' is not contiguous"):
            mt.Optimizer([leaf], "adam")
        with self.assertRaisesRegex(metagrad.Error, "parameter 'w' is torch.int64; metagrad steps float32 or float64"):
            mt.Optimizer([("w", torch.zeros(3, dtype=torch.int64))], "sgd")
        with self.assertRaisesRegex(metagrad.Error, "parameter 'w' is torch.float16"):
            mt.Optimizer([("w", torch.zeros(3, dtype=torch.float16))], "sgd")

    def test_bad_specs_and_weight_files_are_one_clear_line(self):
        model = small_model(torch.float32)
        with self.assertRaisesRegex(metagrad.Error, "unknown key 'lrr'"):
            mt.Optimizer(model.parameters(), "adam(lrr=0.1)")
        with self.assertRaisesRegex(metagrad.Error, "unknown optimizer 'adan'"):
            mt.Optimizer(model.parameters(), "adan")
        with self.assertRaisesRegex(metagrad.Error, "mlp_lopt: weight file '/nonexistent.json' cannot be read"):
            mt.Optimizer(model.parameters(), "mlp_lopt(weights=/nonexistent.json)")
        with tempfile.NamedTemporaryFile("w", suffix=".json") as bad:
            bad.write("[1, 2, 3]")
            bad.flush()
            with self.assertRaisesRegex(metagrad.Error, "has 3 numbers, expected 1763"):
                mt.Optimizer(model.parameters(), "general(weights=%s)" % bad.name)
        with self.assertRaisesRegex(metagrad.Error, "lr"):
            mt.Optimizer([{"params": list(model.parameters()), "lr": -1.0}], "adam")

    def test_bad_gradients_leave_every_parameter_untouched(self):
        model = small_model(torch.float32)
        optimizer = mt.Optimizer(model.named_parameters(), "adam(lr=0.1)")
        torch.nn.functional.cross_entropy(model(torch.randn(5, 4)), torch.tensor([0, 1, 2, 0, 1])).backward()
        before = snapshot(model)
        good = model[2].weight.grad
        cases = [
            (torch.randn(6, 3).t(), "the gradient of '2.weight' is not contiguous"),
        ]
        for grad, message in cases:
            with self.subTest(message=message):
                model[2].weight.grad = None
                model[2].weight.grad = grad
                with self.assertRaisesRegex(metagrad.Error, message):
                    optimizer.step()
                self.assert_untouched(model, before)
        model[2].weight.grad = good
        original = model[0].weight.data
        model[0].weight.data = torch.randn(4, 6).t()  # the same shape, in memory a transposed tensor
        transposed = model[0].weight.detach().clone()
        with self.assertRaisesRegex(metagrad.Error, "parameter '0.weight' is not contiguous"):
            optimizer.step()
        self.assertTrue(torch.equal(model[0].weight, transposed))
        model[0].weight.data = original
        self.assert_untouched(model, before)

    def test_a_closure_optimizer_without_a_closure_and_fixed_keys(self):
        model = small_model(torch.float64)
        train_once = lambda: torch.nn.functional.cross_entropy(  # noqa: E731
            model(torch.randn(5, 4, dtype=torch.float64)), torch.tensor([0, 1, 2, 0, 1])).backward()
        optimizer = mt.Optimizer(model.parameters(), "heun(lr=0.1)")
        train_once()
        before = snapshot(model)
        with self.assertRaisesRegex(metagrad.Error, "heun: step\\(\\) needs a closure"):
            optimizer.step()
        self.assert_untouched(model, before)
        adam = mt.Optimizer(model.parameters(), "adam")
        adam.param_groups[0]["amsgrad"] = True
        with self.assertRaisesRegex(metagrad.Error, "'amsgrad' of group 0 is fixed"):
            adam.step()
        adam.param_groups[0]["amsgrad"] = False
        adam.param_groups[0]["lr"] = -0.5
        with self.assertRaisesRegex(metagrad.Error, "'lr' = -0.5 is out of range"):
            adam.step()
        self.assert_untouched(model, before)
        with self.assertRaisesRegex(metagrad.Error, "give every parameter group"):
            adam.add_param_group({"params": [torch.zeros(2, requires_grad=True)]})


if __name__ == "__main__":
    unittest.main()
