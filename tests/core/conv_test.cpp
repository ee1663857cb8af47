// Convolution: gradients of every order against finite differences (float64
// reference loops) and the oneDNN float32 path against the float64 reference.
#include "../support/testing.hpp"

namespace {

using mg::Tensor;

struct ConvCase {
  const char* name;
  mg::Shape input, weight;
  std::int64_t stride, padding, dilation, groups;
  bool bias;
};

const ConvCase kCases[] = {
    {"plain 3x3", {2, 3, 5, 5}, {4, 3, 3, 3}, 1, 0, 1, 1, true},
    {"stride 2, padding 1", {2, 3, 6, 5}, {2, 3, 3, 3}, 2, 1, 1, 1, true},
    {"dilation 2, no bias", {1, 2, 7, 6}, {3, 2, 3, 2}, 1, 1, 2, 1, false},
    {"groups 2, stride 2", {2, 4, 6, 6}, {4, 2, 2, 2}, 2, 0, 1, 2, true},
    {"depthwise", {1, 3, 5, 4}, {6, 1, 3, 3}, 1, 2, 1, 3, false},
    {"1x1", {2, 5, 3, 3}, {2, 5, 1, 1}, 1, 0, 1, 1, true},
};

Tensor random(const mg::Shape& shape, mg::Generator& g, mg::DType dtype) { return mg::randn(shape, g, dtype); }

}  // namespace

TEST_CASE("conv2d and its backward ops pass gradcheck and gradgradcheck") {
  for (const auto& c : kCases) {
    CAPTURE(c.name);
    mg::Generator gen(1);
    const auto f64 = mg::DType::Float64;
    const Tensor x = random(c.input, gen, f64).requires_grad_();
    const Tensor w = random(c.weight, gen, f64).requires_grad_();
    const Tensor b = c.bias ? random({c.weight[0]}, gen, f64).requires_grad_() : Tensor();
    const Tensor y = mg::conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
    const Tensor gy = random(y.shape(), gen, f64).requires_grad_();
    std::vector<Tensor> inputs{x, w};
    if (c.bias) inputs.push_back(b);
    const auto forward = [&](const std::vector<Tensor>& in) {
      return mg::conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.padding, c.dilation, c.groups);
    };
    const auto backward_input = [&](const std::vector<Tensor>& in) {
      return mg::conv2d_backward_input(in[0], in[1], c.input, c.stride, c.padding, c.dilation, c.groups);
    };
    const auto backward_weight = [&](const std::vector<Tensor>& in) {
      return mg::conv2d_backward_weight(in[0], in[1], c.weight, c.stride, c.padding, c.dilation, c.groups);
    };
    CHECK_NOTHROW(mg::autograd::gradcheck(forward, inputs));
    CHECK_NOTHROW(mg::autograd::gradgradcheck(forward, inputs));
    CHECK_NOTHROW(mg::autograd::gradcheck(backward_input, {gy, w}));
    CHECK_NOTHROW(mg::autograd::gradgradcheck(backward_input, {gy, w}));
    CHECK_NOTHROW(mg::autograd::gradcheck(backward_weight, {x, gy}));
    CHECK_NOTHROW(mg::autograd::gradgradcheck(backward_weight, {x, gy}));
  }
}

namespace {

// The oneDNN float32 output and gradients of case c, its shape scaled, against the float64 reference.
void check_onednn_against_reference(const ConvCase& c, int scale) {
  const std::string name = c.name;
  CAPTURE(name);
  CAPTURE(scale);
  mg::Shape input = c.input, weight = c.weight;
  input[0] *= scale;
  input[1] *= scale;
  input[2] *= scale;
  weight[0] *= scale;
  weight[1] *= c.groups == 1 ? scale : 1;
  if (c.groups > 1) input[1] = weight[1] * c.groups;
  mg::Generator gen(2);
  const Tensor x = mg::randn(input, gen), w = mg::randn(weight, gen), b = mg::randn({weight[0]}, gen);
  auto run = [&](mg::DType dtype) {
    const Tensor xd = x.to(dtype).requires_grad_(), wd = w.to(dtype).requires_grad_(),
                 bd = b.to(dtype).requires_grad_();
    const Tensor y = mg::conv2d(xd, wd, c.bias ? bd : Tensor(), c.stride, c.padding, c.dilation, c.groups);
    mg::Generator g2(3);
    const Tensor gy = mg::randn(y.shape(), g2).to(dtype);
    const auto grads = mg::autograd::grad({y}, {xd, wd}, {gy});
    return std::vector<Tensor>{y, grads[0], grads[1]};
  };
  const auto f32 = run(mg::DType::Float32);
  const auto f64 = run(mg::DType::Float64);
  const char* names[] = {"output", "grad input", "grad weight"};
  for (int i = 0; i < 3; ++i) mg::testing::check_close(f32[i], f64[i], 1e-4, 1e-4, names[i]);
  CHECK(f32[0].is_channels_last());
}

// Stride-1 maps run on oneDNN's forward or backward-data primitive of the
// transposed convolution by their channel counts (fewer than 32 on either
// side, or not): these put each map of a convolution on each side of that
// rule, and one whose transposed padding would be negative stays where it is.
const ConvCase kStrideOneCases[] = {
    {"32 -> 32, 3x3, padding 1", {2, 32, 7, 6}, {32, 32, 3, 3}, 1, 1, 1, 1, false},
    {"40 -> 32, 3x1, no padding", {2, 40, 6, 7}, {32, 40, 3, 1}, 1, 0, 1, 1, true},
    {"16 -> 48, 5x5, padding 2", {2, 16, 9, 8}, {48, 16, 5, 5}, 1, 2, 1, 1, false},
    {"32 -> 32, 1x3, padding 1 (none transposed)", {2, 32, 5, 6}, {32, 32, 1, 3}, 1, 1, 1, 1, false},
};

}  // namespace

TEST_CASE("oneDNN float32 convolutions agree with the float64 reference") {
  for (const auto& c : kCases)
    for (int scale : {1, 4}) check_onednn_against_reference(c, scale);  // tiny, and where oneDNN picks fast kernels
}

TEST_CASE("stride-1 convolutions agree with the reference on the primitives of either direction") {
  for (const auto& c : kStrideOneCases) check_onednn_against_reference(c, 1);
}

TEST_CASE("double backward through a convolution runs on oneDNN in float32") {
  mg::Generator gen(5);
  const Tensor x = mg::randn({8, 16, 12, 12}, gen).requires_grad_();
  const Tensor w = mg::randn({16, 16, 3, 3}, gen).requires_grad_();
  const Tensor y = mg::sum(mg::tanh(mg::conv2d(x, w, Tensor(), 1, 1)));
  const auto g = mg::autograd::grad({y}, {w}, {}, false, true);
  const Tensor v = mg::randn(w.shape(), gen);
  const Tensor hvp = mg::autograd::grad({mg::sum(g[0] * v)}, {w})[0];
  // the same in float64 on the reference kernels
  const Tensor x64 = x.detach().to(mg::DType::Float64), w64 = w.detach().to(mg::DType::Float64).requires_grad_();
  const auto g64 =
      mg::autograd::grad({mg::sum(mg::tanh(mg::conv2d(x64, w64, Tensor(), 1, 1)))}, {w64}, {}, false, true);
  const Tensor hvp64 = mg::autograd::grad({mg::sum(g64[0] * v.to(mg::DType::Float64))}, {w64})[0];
  mg::testing::check_close(hvp, hvp64, 2e-3, 2e-3, "Hessian-vector product");
}

TEST_CASE("cached weight reorders follow in-place updates and never serve another tensor") {
  mg::Generator gen(6);
  const Tensor x = mg::randn({4, 16, 8, 8}, gen);
  Tensor w1 = mg::randn({16, 16, 3, 3}, gen), w2 = mg::randn({16, 16, 3, 3}, gen);
  auto reference = [&](const Tensor& w) {
    return mg::conv2d(x.to(mg::DType::Float64), w.to(mg::DType::Float64), Tensor(), 1, 1);
  };
  for (int repeat = 0; repeat < 2; ++repeat) {
    mg::testing::check_close(mg::conv2d(x, w1, Tensor(), 1, 1), reference(w1), 1e-4, 1e-4, "w1");
    mg::testing::check_close(mg::conv2d(x, w2, Tensor(), 1, 1), reference(w2), 1e-4, 1e-4, "w2");
  }
  {
    mg::NoGradGuard no_grad;
    w1.copy_(w2 * 0.5);
  }
  mg::testing::check_close(mg::conv2d(x, w1, Tensor(), 1, 1), reference(w2 * 0.5), 1e-4, 1e-4, "w1 after copy_");
}

TEST_CASE("convolution errors name the shapes") {
  const Tensor x = mg::ones({1, 3, 5, 5}), w = mg::ones({4, 2, 3, 3});
  CHECK_THROWS_WITH_AS(mg::conv2d(x, w), doctest::Contains("[4, 2, 3, 3]"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::conv2d(mg::ones({3, 5, 5}), w), doctest::Contains("4-D"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::conv2d(x, mg::ones({4, 3, 7, 7})), doctest::Contains("too small"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::conv2d(x, mg::ones({4, 3, 3, 3}), mg::ones({3})), doctest::Contains("bias"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::conv2d(x, mg::ones({4, 3, 3, 3}), Tensor(), 0), doctest::Contains("stride"), mg::Error);
}
