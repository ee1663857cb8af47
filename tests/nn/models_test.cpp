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
  mg::nn::MLP mlp({784, 20, 10}, mg::nn::Activation::Sigmoid);
  CHECK(count(mlp) == 15910);  // the learned-optimizer paper's optimizee
  CHECK(mlp.named_parameters()[2].first == "fc2.weight");
  mg::Generator g(0);
  CHECK(resnet(mg::randn({2, 3, 32, 32}, g)).shape() == mg::Shape{2, 10});
  CHECK(mlp(mg::randn({3, 1, 28, 28}, g)).shape() == mg::Shape{3, 10});
  CHECK_THROWS_WITH_AS(mg::nn::MLP({4}), doctest::Contains("at least an input and an output"), mg::Error);
}

namespace {

// Batch norms with statistics and affine parameters of their own, so that
// folding them into the convolutions changes something.
void randomize_batch_norms(mg::nn::Module& model, mg::Generator& g) {
  mg::NoGradGuard no_grad;
  model.apply([&](mg::nn::Module& m) {
    if (auto* bn = dynamic_cast<mg::nn::BatchNorm2d*>(&m)) {
      const std::int64_t c = bn->weight.numel();
      bn->running_mean.copy_(mg::randn({c}, g) * 0.5);
      bn->running_var.copy_(mg::rand({c}, g) + 0.5);
      bn->weight.copy_(mg::randn({c}, g) * 0.5 + 1.0);
      bn->bias.copy_(mg::randn({c}, g) * 0.2);
    }
  });
}

// A 3x3 convolution (padding 1) and a batch norm with random statistics, in eval mode.
struct EvalConvBn {
  mg::nn::Conv2d conv;
  mg::nn::BatchNorm2d bn;
  EvalConvBn(std::int64_t in, std::int64_t out, std::int64_t stride, mg::Generator& g)
      : conv(mg::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1), g), bn(out) {
    randomize_batch_norms(bn, g);
    conv.eval();
    bn.eval();
  }
};

}  // namespace

// Inference with no gradient wanted runs conv_bn fused (batch norm folded
// into the convolution, the residual sum and ReLU as post-ops or one pass
// after it); with gradients on, the same modules run layer by layer.
TEST_CASE("fused inference (batch norm folded, sum and ReLU fused) equals the layers one by one") {
  mg::Generator g(5);
  mg::nn::SmallCnn cnn(3, 10, g);
  mg::nn::ResNet20 resnet(3, 10, g);
  for (mg::nn::Module* model : {static_cast<mg::nn::Module*>(&cnn), static_cast<mg::nn::Module*>(&resnet)}) {
    CAPTURE(model->type_name());
    randomize_batch_norms(*model, g);
    model->eval();
    const Tensor x = mg::randn({4, 3, 16, 16}, g);
    const Tensor layered = model->forward(x).detach();  // grad mode on: unfused
    mg::NoGradGuard no_grad;
    mg::testing::check_close(model->forward(x), layered, 1e-4, 1e-4, "fused forward");
  }
}

// float32 runs each on one of three paths: oneDNN's forward with the
// epilogue fused (stride 2; and 32 channels), or, where the transposed
// convolution's backward-data is the faster kernel (stride 1, few
// channels), that kernel and then the epilogue as a pass of its own.
TEST_CASE("conv_bn: every combination of residual and ReLU, float32 (oneDNN) and float64 (reference)") {
  struct Shape {
    std::int64_t in, out, stride, size;
  };
  for (const mg::DType dtype : {mg::DType::Float32, mg::DType::Float64})
    for (const auto& shape : {Shape{4, 6, 2, 9}, Shape{4, 6, 1, 5}, Shape{32, 32, 1, 5}}) {
      CAPTURE(mg::dtype_name(dtype));
      CAPTURE(shape.in);
      CAPTURE(shape.stride);
      mg::Generator g(9);
      EvalConvBn pair(shape.in, shape.out, shape.stride, g);
      auto& [conv, bn] = pair;
      const Tensor x = mg::randn({2, shape.in, shape.size, shape.size}, g).to(dtype);
      if (dtype == mg::DType::Float64) {
        mg::NoGradGuard no_grad;
        for (Tensor* t : {&conv.weight, &conv.bias, &bn.weight, &bn.bias, &bn.running_mean, &bn.running_var})
          *t = t->to(mg::DType::Float64);
      }
      const Tensor residual = mg::randn({2, shape.out, 5, 5}, g).to(dtype);
      for (const bool relu : {false, true})
        for (const bool with_residual : {false, true}) {
          CAPTURE(relu);
          CAPTURE(with_residual);
          const Tensor r = with_residual ? residual : Tensor();
          const Tensor layered = mg::nn::conv_bn(conv, bn, x, relu, r).detach();
          mg::NoGradGuard no_grad;
          const Tensor fused = mg::nn::conv_bn(conv, bn, x, relu, r);
          mg::testing::check_close(fused, layered, dtype == mg::DType::Float32 ? 1e-4 : 1e-12, 1e-5, "conv_bn");
        }
    }
  CHECK_THROWS_WITH_AS(mg::conv2d_inference(mg::randn({1, 1, 3, 3}).requires_grad_(), mg::randn({1, 1, 1, 1}), Tensor(),
                                            1, 0, Tensor(), false),
                       doctest::Contains("requires a gradient"), mg::Error);
}

TEST_CASE("fused inference folds again when the weights or statistics change, in place or replaced") {
  mg::Generator g(11);
  EvalConvBn pair(3, 5, 1, g);
  auto& [conv, bn] = pair;
  const Tensor x = mg::randn({2, 3, 6, 6}, g);
  const auto check_fused = [&](const char* after) {
    CAPTURE(after);
    Tensor layered;
    {
      mg::GradModeGuard grad_mode(true);  // unfused
      layered = mg::nn::conv_bn(conv, bn, x, true).detach();
    }
    mg::NoGradGuard no_grad;
    mg::testing::check_close(mg::nn::conv_bn(conv, bn, x, true), layered, 1e-4, 1e-5, "conv_bn");
  };
  check_fused("first call");
  check_fused("second call, nothing changed");
  mg::NoGradGuard no_grad;  // the changes themselves record nothing
  bn.running_var.copy_(bn.running_var * 3.0);
  check_fused("running_var changed in place");
  conv.weight.copy_(conv.weight * -0.5);
  check_fused("conv weight changed in place");
  bn.running_mean = bn.running_mean + 1.0;
  check_fused("running_mean replaced");
  bn.bias.copy_(bn.bias + 2.0);
  check_fused("bias changed in place");
}
