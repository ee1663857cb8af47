// The autograd engine: higher-order gradients against PyTorch, and the
// semantics of backward()/grad() (accumulation, retained and freed graphs,
// no-grad mode, unused inputs, errors).
#include <algorithm>
#include <map>

#include "../support/testing.hpp"

namespace {

using mg::Tensor;

Tensor from_json(const nlohmann::json& values, const mg::Shape& shape) {
  return Tensor::from_vector(values.get<std::vector<double>>(), shape);
}

Tensor third_order_function(const std::string& name, const Tensor& x, const Tensor& w) {
  if (name == "tanh") return mg::sum(mg::tanh(x));
  if (name == "sigmoid") return mg::sum(mg::sigmoid(x));
  if (name == "exp") return mg::sum(mg::exp(x * 0.5));
  if (name == "log") return mg::sum(mg::log(x * x + 1.0));
  if (name == "pow") return mg::sum(mg::pow(x * x + 1.0, 1.7));
  if (name == "matmul_tanh") return mg::sum(mg::pow(mg::tanh(mg::matmul(x, w)), 2.0));
  if (name == "matmul_sigmoid_exp") return mg::sum(mg::exp(mg::matmul(mg::sigmoid(mg::matmul(x, w)), w.t())));
  if (name == "softmax_matmul") {
    const Tensor z = mg::matmul(x, w);
    return mg::sum(mg::log_softmax(z, 1) * z);
  }
  FAIL("unknown third-order case " << name);
  return {};
}

}  // namespace

TEST_CASE("Hessian-vector product of an MLP matches PyTorch to 1e-10 in float64") {
  const auto fixture = mg::testing::load_fixture("core/fixtures/autograd.json")["mlp_hvp"];
  std::map<std::string, Tensor> params;
  std::vector<Tensor> ordered, directions;
  for (const auto& name : fixture["names"]) {
    const auto shape = fixture["shapes"][name.get<std::string>()].get<mg::Shape>();
    params[name] = from_json(fixture["params"][name.get<std::string>()], shape).requires_grad_();
    ordered.push_back(params[name]);
    directions.push_back(from_json(fixture["v"][name.get<std::string>()], shape));
  }
  const Tensor x = from_json(fixture["x"], fixture["x_shape"].get<mg::Shape>());
  const Tensor target = from_json(fixture["target"], fixture["target_shape"].get<mg::Shape>());

  Tensor h = mg::tanh(mg::matmul(x, params["w1"]) + params["b1"]);
  h = mg::sigmoid(mg::matmul(h, params["w2"]) + params["b2"]);
  const Tensor out = mg::matmul(h, params["w3"]) + params["b3"];
  const Tensor loss = mg::mean(mg::pow(out - target, 2.0));
  CHECK(loss.item<double>() == doctest::Approx(fixture["loss"].get<double>()).epsilon(1e-12));

  const auto grads = mg::autograd::grad({loss}, ordered, {}, false, true);
  Tensor dot = mg::zeros({}, mg::DType::Float64);
  for (std::size_t i = 0; i < grads.size(); ++i) dot = dot + mg::sum(grads[i] * directions[i]);
  const auto hvp = mg::autograd::grad({dot}, ordered);
  std::size_t i = 0;
  for (const auto& name : fixture["names"]) {
    const std::string key = name.get<std::string>();
    mg::testing::check_close(grads[i].to_vector<double>(), fixture["grad"][key].get<std::vector<double>>(), 1e-10,
                             1e-12, "grad " + key);
    mg::testing::check_close(hvp[i].to_vector<double>(), fixture["hvp"][key].get<std::vector<double>>(), 1e-10, 1e-12,
                             "hvp " + key);
    ++i;
  }
}

TEST_CASE("third-order derivatives match PyTorch and finite differences") {
  const auto cases = mg::testing::load_fixture("core/fixtures/autograd.json")["third_order"];
  for (const auto& [name, c] : cases.items()) {
    CAPTURE(name);
    const Tensor x = from_json(c["x"], {3, 4}).requires_grad_();
    const Tensor w = from_json(c["w"], {4, 4});
    const Tensor v1 = from_json(c["v1"], {3, 4}), v2 = from_json(c["v2"], {3, 4});
    const Tensor g1 = mg::autograd::grad({third_order_function(name, x, w)}, {x}, {}, false, true)[0];
    const Tensor g2 = mg::autograd::grad({mg::sum(g1 * v1)}, {x}, {}, false, true)[0];
    const Tensor g3 = mg::autograd::grad({mg::sum(g2 * v2)}, {x})[0];
    mg::testing::check_close(g3.to_vector<double>(), c["third"].get<std::vector<double>>(), 1e-10, 1e-12, name);

    // Finite differences of the second derivative check the third.
    const auto hessian_direction = [&](const std::vector<Tensor>& in) {
      const Tensor first = mg::autograd::grad({third_order_function(name, in[0], w)}, {in[0]}, {}, true, true)[0];
      return mg::autograd::grad({mg::sum(first * v1)}, {in[0]}, {}, true, true)[0];
    };
    CHECK_NOTHROW(mg::autograd::gradgradcheck(hessian_direction, {x}));
  }
}

TEST_CASE("backward accumulates into leaves and frees the graph") {
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}).requires_grad_();
  const Tensor y = mg::sum(x * x);
  y.backward({}, true);
  CHECK(x.grad().to_vector() == std::vector<float>{2, 4, 6});
  y.backward();  // accumulates
  CHECK(x.grad().to_vector() == std::vector<float>{4, 8, 12});
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), mg::Error);
  CHECK_FALSE(x.grad().requires_grad());
  CHECK(x.grad().is_contiguous());
}

TEST_CASE("a leaf's gradient is its own contiguous tensor, even from a broadcast") {
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  const Tensor seed = mg::ones({2});
  (x * 1.0).backward(seed);
  CHECK_FALSE(x.grad().shares_storage_with(seed));
  const Tensor b = mg::zeros({1}).requires_grad_();
  mg::sum(b.expand({5})).backward();
  CHECK(b.grad().to_vector() == std::vector<float>{5});
}

TEST_CASE("matmul's gradient for a transposed weight is laid out like the weight") {
  // y = x @ w.t(), as in a Linear layer: dL/dw arrives contiguous, so
  // backward() stores it in w.grad without a strided copy.
  mg::Generator g(3);
  const Tensor x = mg::randn({4, 3}, g, mg::DType::Float64);
  const Tensor w = mg::randn({5, 3}, g, mg::DType::Float64).requires_grad_();
  const Tensor upstream = mg::randn({4, 5}, g, mg::DType::Float64);
  const Tensor grad_w = mg::autograd::grad({mg::matmul(x, w.t())}, {w}, {upstream})[0];
  CHECK(grad_w.is_contiguous());
  mg::testing::check_close(grad_w, mg::matmul(upstream.t(), x), 1e-14, 1e-14, "dL/dw");
  // and likewise for a transposed left operand
  const Tensor a = mg::randn({3, 4}, g, mg::DType::Float64).requires_grad_();
  const Tensor grad_a = mg::autograd::grad({mg::matmul(a.t(), w.t())}, {a}, {upstream})[0];
  CHECK(grad_a.is_contiguous());
  mg::testing::check_close(grad_a, mg::matmul(w.t(), upstream.t()), 1e-14, 1e-14, "dL/da");
}

TEST_CASE("create_graph makes gradients differentiable") {
  const Tensor x = Tensor::from_vector(std::vector<double>{0.5, -1.5}, {2}).requires_grad_();
  const Tensor y = mg::sum(mg::pow(x, 3.0));
  const Tensor g = mg::autograd::grad({y}, {x}, {}, false, true)[0];
  CHECK(g.requires_grad());
  const Tensor gg = mg::autograd::grad({mg::sum(g)}, {x})[0];  // d/dx 3x^2 = 6x
  CHECK(gg.to_vector<double>() == std::vector<double>{3.0, -9.0});
}

TEST_CASE("grad() leaves .grad alone, reaches non-leaf tensors and reports unused inputs") {
  const Tensor x = Tensor::from_vector(std::vector<double>{2.0}, {1}).requires_grad_();
  const Tensor unused = Tensor::from_vector(std::vector<double>{1.0}, {1}).requires_grad_();
  const Tensor h = x * 3.0;
  const Tensor y = mg::sum(h * h);
  const auto g = mg::autograd::grad({y}, {h, x}, {}, true);
  CHECK(g[0].item<double>() == 12.0);  // 2h
  CHECK(g[1].item<double>() == 36.0);  // 2h * 3
  CHECK_FALSE(x.grad().defined());
  CHECK_THROWS_WITH_AS(mg::autograd::grad({y}, {unused}, {}, true), doctest::Contains("allow_unused"), mg::Error);
  CHECK_FALSE(mg::autograd::grad({y}, {unused}, {}, true, false, true)[0].defined());
}

TEST_CASE("diamond graphs sum every path") {
  const Tensor x = Tensor::from_vector(std::vector<double>{0.3}, {1}).requires_grad_();
  const Tensor a = mg::exp(x);
  const Tensor y = mg::sum(a * mg::tanh(a) + a);  // y = e^x tanh(e^x) + e^x
  y.backward();
  const double e = std::exp(0.3), t = std::tanh(e);
  CHECK(x.grad().item<double>() == doctest::Approx(e * t + e * e * (1 - t * t) + e).epsilon(1e-14));
}

// The engine adds a slice's gradient into its part of the input's sum in
// place. In one of these orders p's sum first holds add's gradient, which
// q's sum shares until q's own term arrives: adding the slice's into it in
// place would leak into q's gradient.
TEST_CASE("slices' gradients add into their part of the input's gradient, touching no other sum") {
  const Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {4}).requires_grad_();
  const Tensor c = Tensor::from_vector(std::vector<double>{0.5, -1, 2, 0.25}, {4});
  const Tensor d = Tensor::from_vector(std::vector<double>{10, 20}, {2});
  const Tensor e = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {4});
  for (const bool add_last : {false, true}) {
    CAPTURE(add_last);
    const Tensor p = x * 2.0, q = x * 3.0;
    const Tensor by_add = mg::sum((p + q) * c);
    const Tensor late = mg::sum(q * e) + mg::sum(p.narrow(0, 1, 2) * d) + mg::sum(p.narrow(0, 2, 2) * d);
    const Tensor loss = add_last ? late + by_add : by_add + late;
    const Tensor g = mg::autograd::grad({loss}, {x})[0];
    // dp = c + [0, d0, d1 + d0, d1], dq = c + e; dx = 2 dp + 3 dq
    CHECK(g.to_vector<double>() == std::vector<double>{5.5, 21.0, 79.0, 53.25});
  }
  // With create_graph the same gradient comes out as a differentiable tensor.
  const Tensor p = x * 2.0;
  const Tensor y = mg::sum(mg::pow(p.narrow(0, 0, 3), 2.0)) + mg::sum(p.narrow(0, 1, 3) * c.narrow(0, 0, 3));
  const Tensor g = mg::autograd::grad({y}, {x}, {}, true, true)[0];
  CHECK(g.requires_grad());
  CHECK(g.to_vector<double>() ==
        std::vector<double>{8.0, 17.0, 22.0, 4.0});  // 2 (2 p [first three] + c shifted by one)
}

// A sum begun by a slice's gradient leaves the rest of the input unwritten
// until another slice writes exactly that part; anything else fills it with
// zeros first. Against the same gradients with create_graph, where every
// slice's gradient is a tensor of its own (exact: each element is a sum of
// at most two products).
TEST_CASE("a gradient sum begun by a slice is zero wherever no slice wrote, whichever slices follow") {
  struct Part {
    std::int64_t dim, start, end, step;
  };
  const std::vector<std::vector<Part>> patterns = {
      {{0, 0, 2, 1}},                              // rows 2 and 3 never written
      {{0, 0, 2, 1}, {0, 2, 4, 1}},                // the two parts exactly
      {{0, 1, 3, 1}, {0, 0, 1, 1}, {0, 3, 4, 1}},  // two unwritten parts, each written once
      {{0, 1, 3, 1}, {0, 0, 1, 1}},                // row 3 never written
      {{0, 0, 2, 1}, {0, 1, 3, 1}},                // overlapping
      {{0, 0, 2, 1}, {0, 0, 4, 1}},                // then the whole
      {{0, 0, 4, 2}, {0, 1, 2, 1}},                // strided
      {{1, 0, 1, 1}, {1, 1, 3, 1}},                // along columns
      {{1, 0, 1, 1}, {0, 1, 4, 1}},                // along the other dim
  };
  mg::Generator gen(2);
  const Tensor x = mg::randn({4, 3}, gen, mg::DType::Float64).requires_grad_();
  for (std::size_t k = 0; k < patterns.size(); ++k)
    for (const bool reversed : {false, true}) {
      CAPTURE(k);
      CAPTURE(reversed);
      const Tensor y = x * 1.0;
      std::vector<Tensor> terms;
      for (const Part& part : patterns[k]) {
        const Tensor slice = y.slice(part.dim, part.start, part.end, part.step);
        terms.push_back(mg::sum(slice * mg::randn(slice.shape(), gen, mg::DType::Float64)));
      }
      if (reversed) std::reverse(terms.begin(), terms.end());
      Tensor loss = terms[0];
      for (std::size_t i = 1; i < terms.size(); ++i) loss = loss + terms[i];
      const Tensor in_place = mg::autograd::grad({loss}, {x}, {}, true)[0];
      const Tensor separate = mg::autograd::grad({loss}, {x}, {}, false, true)[0];
      CHECK(in_place.to_vector<double>() == separate.to_vector<double>());
    }
}

// ResNet's option-A shortcut reads a channels-last activation through a
// strided slice; the activation's gradient must stay channels-last, or the
// batch norm before it falls off its fused backward.
TEST_CASE("a slice's gradient takes its input's layout") {
  mg::Generator gen(4);
  const Tensor x = mg::randn({2, 3, 4, 4}, gen).channels_last().requires_grad_();
  const Tensor y = x * 1.0;
  REQUIRE(y.is_channels_last());
  const Tensor s = y.slice(2, 0, 4, 2).slice(3, 1, 4, 2);
  const Tensor loss = mg::sum(s * mg::randn(s.shape(), gen));
  const Tensor in_place = mg::autograd::grad({loss}, {y}, {}, true)[0];
  const Tensor with_graph = mg::autograd::grad({loss}, {y}, {}, false, true)[0];
  CHECK(in_place.is_channels_last());
  CHECK(with_graph.is_channels_last());
  CHECK(in_place.to_vector<float>() == with_graph.to_vector<float>());
}

TEST_CASE("no-grad mode records nothing and detach cuts history") {
  const Tensor x = mg::ones({2}).requires_grad_();
  {
    mg::NoGradGuard guard;
    CHECK_FALSE((x * 2.0).requires_grad());
  }
  CHECK((x * 2.0).requires_grad());
  const Tensor d = (x * 2.0).detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(x.is_leaf());
  CHECK_FALSE((x * 2.0).is_leaf());
}

TEST_CASE("backward errors name what is wrong") {
  const Tensor x = mg::ones({2, 3}).requires_grad_();
  const Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("[2, 3]"), mg::Error);
  CHECK_THROWS_WITH_AS(y.backward(mg::ones({3, 2})), doctest::Contains("[3, 2]"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::ones({1}).backward(), doctest::Contains("does not require grad"), mg::Error);
  CHECK_THROWS_AS(mg::zeros({2}, mg::DType::Int64).requires_grad_(), mg::Error);
}

TEST_CASE("grad's options by name give what its positional arguments give, second order included") {
  const auto f64 = mg::DType::Float64;
  const mg::Tensor x = mg::Tensor::from_vector(std::vector<double>{1.5, -2}, {2}).to(f64).requires_grad_();
  const mg::Tensor y = mg::sum(x * x * x);
  const auto positional = mg::autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  const auto named = mg::autograd::grad({y}, {x}, mg::autograd::GradOptions{.create_graph = true});
  CHECK(named[0].to_vector<double>() == positional[0].to_vector<double>());  // 3 x^2
  CHECK(named[0].to_vector<double>() == std::vector<double>{6.75, 12});
  const auto second = mg::autograd::grad({mg::sum(named[0])}, {x});  // 6 x
  CHECK(second[0].to_vector<double>() == std::vector<double>{9, -12});
}
