// The activations by type: values against PyTorch 1.13, gradients to the
// second order against finite differences, and names parsed at the edges.
#include "metagrad/nn/activation.hpp"

#include "../support/testing.hpp"
#include "metagrad/core/autograd/gradcheck.hpp"
#include "metagrad/core/ops.hpp"

namespace {

using mg::nn::Activation;

const std::vector<double> kInputs{-3.0, -1.0, -0.25, 0.0, 0.5, 2.0};

std::vector<double> activated(Activation activation) {
  const auto x = mg::Tensor::from_vector(kInputs, {6});
  return mg::nn::activate(activation, x).to_vector<double>();
}

}  // namespace

TEST_CASE("gelu is PyTorch's tanh approximation") {
  // torch.nn.functional.gelu(x, approximate="tanh") in float64, PyTorch 1.13
  mg::testing::check_close(
      activated(Activation::Gelu),
      {-0.0036373920817729943, -0.15880800939172324, -0.100324649298315, 0.0, 0.34571400982514394, 1.954597694087775},
      1e-15, 1e-17, "gelu");
}

TEST_CASE("every activation has first and second derivatives") {
  for (const Activation activation : {Activation::Relu, Activation::Sigmoid, Activation::Tanh, Activation::Gelu}) {
    CAPTURE(mg::nn::to_string(activation));
    // away from relu's kink at 0
    const std::vector<mg::Tensor> inputs{
        mg::Tensor::from_vector(std::vector<double>{-1.3, -0.4, 0.3, 1.7}, {4}).requires_grad_()};
    const auto fn = [activation](const std::vector<mg::Tensor>& x) { return mg::nn::activate(activation, x[0]); };
    CHECK_NOTHROW(mg::autograd::gradcheck(fn, inputs));
    if (activation != Activation::Relu) CHECK_NOTHROW(mg::autograd::gradgradcheck(fn, inputs));
  }
}

TEST_CASE("activation names round trip and an unknown one is refused by name") {
  for (const Activation activation : {Activation::Relu, Activation::Sigmoid, Activation::Tanh, Activation::Gelu})
    CHECK(mg::nn::parse_activation(mg::nn::to_string(activation)) == activation);
  CHECK_THROWS_WITH_AS(mg::nn::parse_activation("swish"), doctest::Contains("'swish'"), mg::Error);
}
