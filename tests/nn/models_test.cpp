// The model zoo against PyTorch: the small CNN's forward pass, loss,
// gradients, Hessian-vector product and running statistics.
#include <map>

#include "../support/testing.hpp"

namespace {

using mg::Tensor;

// ((a*i + b) mod m - m/2) * scale, as the fixture generator makes them.
Tensor formula(const mg::Shape& shape, std::int64_t a, std::int64_t b, std::int64_t m, double scale) {
  std::vector<float> values(static_cast<std::size_t>(mg::Tensor::empty(shape).numel()));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(static_cast<double>((a * static_cast<std::int64_t>(i) + b) % m - m / 2) * scale);
  return Tensor::from_vector(values, shape);
}

std::vector<double> values(const nlohmann::json& j) { return j.get<std::vector<double>>(); }

}  // namespace

TEST_CASE("the small CNN matches PyTorch: forward, gradients, Hessian-vector product, running stats") {
  const auto fixture = mg::testing::load_fixture("nn/fixtures/nn.json")["small_cnn"];
  mg::nn::SmallCnn model;
  {
    mg::NoGradGuard no_grad;
    for (auto& [name, p] : model.named_parameters()) {
      REQUIRE(fixture["shapes"][name].get<mg::Shape>() == p.shape());
      p.copy_(formula(p.shape(), 37, 11, 101, 1.0 / 200));
    }
  }
  const Tensor x = formula(fixture["x_shape"].get<mg::Shape>(), 29, 3, 89, 1.0 / 40);
  const Tensor labels = Tensor::from_vector(fixture["labels"].get<std::vector<std::int64_t>>(), {4});
  const Tensor logits = model(x);
  mg::testing::check_close(logits.to_vector<double>(), values(fixture["logits"]), 1e-4, 1e-5, "logits");
  const Tensor loss = mg::nn::functional::cross_entropy(logits, labels);
  CHECK(loss.item<double>() == doctest::Approx(fixture["loss"].get<double>()).epsilon(1e-5));

  const auto named = model.named_parameters();
  std::vector<Tensor> params;
  for (auto& [name, p] : named) params.push_back(p);
  const auto grads = mg::autograd::grad({loss}, params, {}, false, true);
  Tensor dot = mg::zeros({});
  for (std::size_t i = 0; i < params.size(); ++i)
    dot = dot + mg::sum(grads[i] * formula(params[i].shape(), 53, 7, 97, 1.0 / 100));
  const auto hvp = mg::autograd::grad({dot}, params);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string& name = named[i].first;
    mg::testing::check_close(grads[i].to_vector<double>(), values(fixture["grads"][name]), 1e-3, 1e-5, "grad " + name);
    mg::testing::check_close(hvp[i].to_vector<double>(), values(fixture["hvp"][name]), 2e-3, 1e-4, "hvp " + name);
  }
  for (auto& [name, buffer] : model.named_buffers())
    mg::testing::check_close(buffer.to_vector<double>(), values(fixture["buffers_after"][name]), 1e-5, 1e-6,
                             "buffer " + name);
  model.eval();
  const Tensor eval_logits = model(x);
  mg::testing::check_close(eval_logits.to_vector<double>(), values(fixture["eval_logits"]), 1e-4, 1e-5, "eval logits");
  {
    mg::NoGradGuard no_grad;  // inference takes the fused batch-norm path: the same numbers
    const Tensor fused = model(x);
    mg::testing::check_close(fused.to_vector<double>(), values(fixture["eval_logits"]), 1e-4, 1e-5,
                             "eval logits without a graph");
    mg::testing::check_close(fused, eval_logits.detach(), 1e-5, 1e-6, "fused against composite eval batch norm");
  }
}

TEST_CASE("the zoo's parameter names and counts") {
  auto count = [](const mg::nn::Module& m) {
    std::int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
  };
  mg::nn::ResNet20 resnet;
  CHECK(count(resnet) == 269722);  // the 0.27M of He et al.
  const auto names = resnet.named_parameters();
  CHECK(names.front().first == "conv1.weight");
  CHECK(names[3].first == "layer1.0.conv1.weight");
  CHECK(names.back().first == "fc.bias");
  mg::nn::SmallCnn cnn;
  CHECK(count(cnn) == 3 * 32 * 9 + 32 * 32 * 9 + 32 * 64 * 9 + 64 * 64 * 9 + 2 * (32 + 32 + 64 + 64) + 650);
  mg::nn::MLP mlp({784, 20, 10}, "sigmoid");
  CHECK(count(mlp) == 15910);  // the learned-optimizer paper's optimizee
  CHECK(mlp.named_parameters()[2].first == "fc2.weight");
  mg::Generator g(0);
  CHECK(resnet(mg::randn({2, 3, 32, 32}, g)).shape() == mg::Shape{2, 10});
  CHECK(mlp(mg::randn({3, 1, 28, 28}, g)).shape() == mg::Shape{3, 10});
  CHECK_THROWS_WITH_AS(mg::nn::MLP({4, 2}, "gelu"), doctest::Contains("gelu"), mg::Error);
}
