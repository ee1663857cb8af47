// The op table: every op against PyTorch's golden values (forward and
// backward, float32 and float64, contiguous and strided inputs) and through
// gradcheck / gradgradcheck in float64. Adding an op adds one row here and one
// case in fixtures/generate_op_fixtures.py.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "../support/testing.hpp"
#include "metagrad/core/allocator.hpp"

namespace {

using mg::Tensor;
using Inputs = std::vector<Tensor>;
using OpFn = std::function<Tensor(const Inputs&)>;

const std::map<std::string, OpFn>& op_table() {
  static const std::map<std::string, OpFn> table = {
      {"add", [](const Inputs& x) { return x[0] + x[1]; }},
      {"add_broadcast", [](const Inputs& x) { return x[0] + x[1]; }},
      {"add_broadcast_rank", [](const Inputs& x) { return x[0] + x[1]; }},
      {"sub", [](const Inputs& x) { return x[0] - x[1]; }},
      {"sub_broadcast", [](const Inputs& x) { return x[0] - x[1]; }},
      {"mul", [](const Inputs& x) { return x[0] * x[1]; }},
      {"mul_broadcast", [](const Inputs& x) { return x[0] * x[1]; }},
      {"div", [](const Inputs& x) { return x[0] / x[1]; }},
      {"div_broadcast", [](const Inputs& x) { return x[0] / x[1]; }},
      {"mul_scalar", [](const Inputs& x) { return x[0] * 2.5; }},
      {"rsub_scalar", [](const Inputs& x) { return 1.5 - x[0]; }},
      {"rdiv_scalar", [](const Inputs& x) { return 2.0 / x[0]; }},
      {"pow_scalar", [](const Inputs& x) { return mg::pow(x[0], 3.0); }},
      {"pow_fractional", [](const Inputs& x) { return mg::pow(x[0], 2.5); }},
      {"pow_negative", [](const Inputs& x) { return mg::pow(x[0], -1.5); }},
      {"pow_tensor", [](const Inputs& x) { return mg::pow(x[0], x[1]); }},
      {"pow_tensor_broadcast", [](const Inputs& x) { return mg::pow(x[0], x[1]); }},
      {"maximum", [](const Inputs& x) { return mg::maximum(x[0], x[1]); }},
      {"minimum", [](const Inputs& x) { return mg::minimum(x[0], x[1]); }},
      {"gt", [](const Inputs& x) { return mg::gt(x[0], x[1]); }},
      {"le", [](const Inputs& x) { return mg::le(x[0], x[1]); }},
      {"eq", [](const Inputs& x) { return mg::eq(x[0], x[1]); }},
      {"ne", [](const Inputs& x) { return mg::ne(x[0], x[1]); }},
      {"lt", [](const Inputs& x) { return mg::lt(x[0], x[1]); }},
      {"ge", [](const Inputs& x) { return mg::ge(x[0], x[1]); }},
      {"where", [](const Inputs& x) { return mg::where(mg::gt(x[0], mg::zeros({}, x[0].dtype())), x[1], x[2]); }},
      {"fma", [](const Inputs& x) { return mg::fma(x[0], x[1], x[2]); }},
      {"lstm_cell", [](const Inputs& x) { return mg::lstm_cell(x[0], x[1], x[2]); }},
      {"neg", [](const Inputs& x) { return -x[0]; }},
      {"exp", [](const Inputs& x) { return mg::exp(x[0]); }},
      {"log", [](const Inputs& x) { return mg::log(x[0]); }},
      {"sqrt", [](const Inputs& x) { return mg::sqrt(x[0]); }},
      {"abs", [](const Inputs& x) { return mg::abs(x[0]); }},
      {"sign", [](const Inputs& x) { return mg::sign(x[0]); }},
      {"tanh", [](const Inputs& x) { return mg::tanh(x[0]); }},
      {"sigmoid", [](const Inputs& x) { return mg::sigmoid(x[0]); }},
      {"relu", [](const Inputs& x) { return mg::relu(x[0]); }},
      {"clamp", [](const Inputs& x) { return mg::clamp(x[0], -0.5, 0.5); }},
      {"sum_all", [](const Inputs& x) { return mg::sum(x[0]); }},
      {"sum_dim", [](const Inputs& x) { return mg::sum(x[0], 1); }},
      {"sum_dims_keepdim",
       [](const Inputs& x) {
         return mg::sum(x[0], {0, 2}, true);
       }},
      {"mean_all", [](const Inputs& x) { return mg::mean(x[0]); }},
      {"mean_dim", [](const Inputs& x) { return mg::mean(x[0], -1); }},
      {"max_all", [](const Inputs& x) { return mg::max(x[0]); }},
      {"max_dim", [](const Inputs& x) { return mg::max(x[0], 1); }},
      {"min_dim_keepdim", [](const Inputs& x) { return mg::min(x[0], 0, true); }},
      {"min_all", [](const Inputs& x) { return mg::min(x[0]); }},
      {"argmax_dim", [](const Inputs& x) { return mg::argmax(x[0], 1); }},
      {"argmax_all", [](const Inputs& x) { return mg::argmax(x[0]); }},
      {"argmin_dim", [](const Inputs& x) { return mg::argmin(x[0], 0); }},
      {"sum_to",
       [](const Inputs& x) {
         return mg::sum_to(x[0], {3, 1});
       }},
      {"matmul_2d", [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"matmul_batched", [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"matmul_broadcast", [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"matmul_batch_broadcast", [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"matmul_mat_vec", [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"matmul_vec_mat", [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"matmul_dot", [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"softmax", [](const Inputs& x) { return mg::softmax(x[0], 1); }},
      {"log_softmax", [](const Inputs& x) { return mg::log_softmax(x[0], 0); }},
      {"logsumexp", [](const Inputs& x) { return mg::logsumexp(x[0], 1); }},
      {"logsumexp_keepdim", [](const Inputs& x) { return mg::logsumexp(x[0], 0, true); }},
      {"reshape",
       [](const Inputs& x) {
         return x[0].reshape({3, 4}) * mg::arange(0.0, 12.0, 1.0, x[0].dtype()).reshape({3, 4});
       }},
      {"transpose", [](const Inputs& x) { return x[0].transpose(0, 2); }},
      {"permute",
       [](const Inputs& x) {
         return x[0].permute({2, 0, 1});
       }},
      {"narrow", [](const Inputs& x) { return x[0].narrow(1, 1, 2); }},
      {"slice_step", [](const Inputs& x) { return x[0].slice(1, 0, 4, 2); }},
      {"select", [](const Inputs& x) { return x[0].select(1, 2); }},
      {"expand",
       [](const Inputs& x) {
         return x[0].expand({2, 3, 4});
       }},
      {"squeeze_unsqueeze", [](const Inputs& x) { return x[0].squeeze(1).unsqueeze(0); }},
      {"flatten", [](const Inputs& x) { return x[0].flatten(1); }},
      {"clone", [](const Inputs& x) { return x[0].clone() * 2.0; }},
      {"contiguous", [](const Inputs& x) { return x[0].transpose(0, 1).contiguous(); }},
      {"cat_dim0",
       [](const Inputs& x) {
         return mg::cat({x[0], x[1]}, 0);
       }},
      {"cat_dim1",
       [](const Inputs& x) {
         return mg::cat({x[0], x[1]}, 1);
       }},
      {"stack",
       [](const Inputs& x) {
         return mg::stack({x[0], x[1]}, 1);
       }},
      {"index_select_dim0", [](const Inputs& x) { return mg::index_select(x[0], 0, x[1]); }},
      {"index_select_dim1", [](const Inputs& x) { return mg::index_select(x[0], 1, x[1]); }},
      {"gather_dim1", [](const Inputs& x) { return mg::gather(x[0], 1, x[1]); }},
      {"gather_dim0", [](const Inputs& x) { return mg::gather(x[0], 0, x[1]); }},
      {"index_add", [](const Inputs& x) { return mg::index_add(x[0], 0, x[1], x[2]); }},
      {"scatter_add", [](const Inputs& x) { return mg::scatter_add(x[0], 1, x[1], x[2]); }},
      {"conv2d", [](const Inputs& x) { return mg::conv2d(x[0], x[1], x[2], 1, 1); }},
      {"conv2d_strided_groups", [](const Inputs& x) { return mg::conv2d(x[0], x[1], Tensor(), 2, 1, 1, 2); }},
      {"conv2d_dilated", [](const Inputs& x) { return mg::conv2d(x[0], x[1], Tensor(), 1, 0, 2); }},
      {"max_pool2d", [](const Inputs& x) { return mg::max_pool2d(x[0], 2); }},
      {"max_pool2d_overlapping", [](const Inputs& x) { return mg::max_pool2d(x[0], 3, 2, 1); }},
      {"avg_pool2d", [](const Inputs& x) { return mg::avg_pool2d(x[0], 2); }},
      {"avg_pool2d_padded", [](const Inputs& x) { return mg::avg_pool2d(x[0], 3, 2, 1); }},
      {"adaptive_avg_pool2d", [](const Inputs& x) { return mg::adaptive_avg_pool2d(x[0], 3, 2); }},
      {"global_avg_pool2d", [](const Inputs& x) { return mg::adaptive_avg_pool2d(x[0], 1, 1); }},
      {"batch_norm_train", [](const Inputs& x) { return mg::batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true); }},
      {"batch_norm_train_2d",
       [](const Inputs& x) { return mg::batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-3); }},
      {"batch_norm_eval", [](const Inputs& x) { return mg::batch_norm(x[0], x[3], x[4], x[1], x[2], false); }},
      {"batch_norm_train_residual_relu",
       [](const Inputs& x) { return mg::batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true, 0.1, 1e-5, {x[3], true}); }},
      {"batch_norm_train_residual_relu_channels_last",
       [](const Inputs& x) {
         return mg::batch_norm(x[0].channels_last(), Tensor(), Tensor(), x[1], x[2], true, 0.1, 1e-5,
                               {x[3].channels_last(), true});
       }},
      {"batch_norm_train_relu_2d",
       [](const Inputs& x) { return mg::batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true, 0.1, 1e-5, {{}, true}); }},
      {"batch_norm_eval_residual_relu",
       [](const Inputs& x) { return mg::batch_norm(x[0], x[3], x[4], x[1], x[2], false, 0.1, 1e-5, {x[5], true}); }},
      {"mlp_layer", [](const Inputs& x) { return mg::tanh(mg::matmul(x[0], x[1]) + x[2]); }},
      {"cross_entropy_like", [](const Inputs& x) { return -mg::mean(mg::gather(mg::log_softmax(x[0], 1), 1, x[1])); }},
  };
  return table;
}

const nlohmann::json& fixture_cases() {
  static const nlohmann::json cases = mg::testing::load_fixture("core/fixtures/ops.json")["cases"];
  return cases;
}

// The case's inputs in `dtype` (indices stay int64); float inputs require grad.
Inputs make_inputs(const nlohmann::json& spec, mg::DType dtype, bool strided) {
  Inputs inputs;
  for (const auto& input : spec["inputs"]) {
    const auto shape = input["shape"].get<mg::Shape>();
    Tensor t;
    if (input["dtype"] == "int64") {
      t = Tensor::from_vector(input["values"].get<std::vector<std::int64_t>>(), shape);
    } else {
      t = Tensor::from_vector(input["values"].get<std::vector<double>>(), shape).to(dtype);
    }
    if (strided) t = mg::testing::non_contiguous(t);
    if (input["dtype"] == "float") t.requires_grad_();
    inputs.push_back(t);
  }
  return inputs;
}

std::vector<Tensor> float_inputs(const Inputs& inputs) {
  std::vector<Tensor> out;
  for (const auto& t : inputs)
    if (t.requires_grad()) out.push_back(t);
  return out;
}

}  // namespace

TEST_CASE("the op table and the PyTorch fixtures name the same cases") {
  for (const auto& [name, fn] : op_table()) CHECK_MESSAGE(fixture_cases().contains(name), name);
  for (const auto& [name, value] : fixture_cases().items()) CHECK_MESSAGE(op_table().count(name) == 1, name);
}

TEST_CASE("ops match PyTorch forward and backward") {
  struct Precision {
    mg::DType dtype;
    const char* key;
    double rtol, atol;
  };
  const Precision precisions[] = {{mg::DType::Float32, "float32", 1e-5, 1e-6},
                                  {mg::DType::Float64, "float64", 1e-12, 1e-12}};
  for (const auto& [name, fn] : op_table()) {
    const auto& spec = fixture_cases()[name];
    for (const auto& p : precisions) {
      for (bool strided : {false, true}) {
        const std::string context = name + " " + p.key + (strided ? " strided" : " contiguous");
        CAPTURE(context);
        const auto& expected = spec[p.key];
        const Inputs inputs = make_inputs(spec, p.dtype, strided);
        const Tensor out = fn(inputs);
        REQUIRE(out.shape() == expected["shape"].get<mg::Shape>());
        mg::testing::check_close(out.to_vector<double>(), expected["output"].get<std::vector<double>>(), p.rtol, p.atol,
                                 context + " output");
        if (!expected.contains("grads")) {
          CHECK_FALSE(out.requires_grad());
          continue;
        }
        const Tensor grad_output =
            Tensor::from_vector(spec["grad_output"].get<std::vector<double>>(), out.shape()).to(out.dtype());
        const auto wrt = float_inputs(inputs);
        const auto grads = mg::autograd::grad({out}, wrt, {grad_output}, false, false, true);
        for (std::size_t i = 0; i < wrt.size(); ++i) {
          const auto expected_grad = expected["grads"][i].get<std::vector<double>>();
          const auto actual =
              grads[i].defined() ? grads[i].to_vector<double>() : std::vector<double>(expected_grad.size(), 0.0);
          mg::testing::check_close(actual, expected_grad, p.rtol, p.atol, context + " grad " + std::to_string(i));
        }
      }
    }
  }
}

TEST_CASE("ops pass gradcheck and gradgradcheck in float64") {
  for (const auto& [name, fn] : op_table()) {
    const auto& spec = fixture_cases()[name];
    if (!spec["float64"].contains("grads")) continue;
    for (bool strided : {false, true}) {
      const std::string context = name + (strided ? " strided" : " contiguous");
      CAPTURE(context);
      const Inputs inputs = make_inputs(spec, mg::DType::Float64, strided);
      CHECK_NOTHROW(mg::autograd::gradcheck(fn, inputs));
      CHECK_NOTHROW(mg::autograd::gradgradcheck(fn, inputs));
    }
  }
}

TEST_CASE("fma rounds a * b + c once, as torch.addcmul does on FMA hardware") {
  // (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24 exactly, a float32 number; rounding the
  // product first loses the 2^-24 (a tie, rounded to even). Likewise in
  // float64 with 1 + 2^-27.
  const Tensor a32 = Tensor::from_vector(std::vector<float>{1.0f + 0x1p-12f}, {1});
  const Tensor a64 = Tensor::from_vector(std::vector<double>{1.0 + 0x1p-27}, {1});
  const Tensor minus_one32 = mg::full({1}, -1.0), minus_one64 = mg::full({1}, -1.0, mg::DType::Float64);
  CHECK((a32 * a32 + minus_one32).item<float>() == 0x1p-11f);
  CHECK((a64 * a64 + minus_one64).item<double>() == 0x1p-26);
#ifdef __FMA__
  CHECK(mg::fma(a32, a32, minus_one32).item<float>() == 0x1p-11f + 0x1p-24f);
  CHECK(mg::fma(a64, a64, minus_one64).item<double>() == 0x1p-26 + 0x1p-54);
#else
  CHECK(mg::fma(a32, a32, minus_one32).item<float>() == 0x1p-11f);  // no FMA: two roundings, like torch's
#endif
}

TEST_CASE("batch norm with residual and ReLU: the fused passes equal the ops one by one") {
  // Channels-last input and gradient take the fused kernels both ways (a
  // gradient in NCHW too, copied); the reference is the NCHW graph of
  // batch_norm, +, relu. The kernels' loops are compiled for 16, 32 and 64
  // channels (eight at a time) and for any other count: 16 and 12 take both.
  for (const auto& [dtype, channels] : {std::pair{mg::DType::Float32, 16}, std::pair{mg::DType::Float64, 16},
                                        std::pair{mg::DType::Float32, 12}, std::pair{mg::DType::Float64, 12}}) {
    for (const bool with_residual : {false, true}) {
      CAPTURE(mg::dtype_name(dtype));
      CAPTURE(channels);
      CAPTURE(with_residual);
      mg::Generator gen(7);
      const mg::Shape shape{8, channels, 5, 3};
      const Tensor x = mg::randn(shape, gen).to(dtype);
      const Tensor w = (mg::randn({channels}, gen) + 1.0).to(dtype), b = mg::randn({channels}, gen).to(dtype);
      const Tensor r = with_residual ? mg::randn(shape, gen).to(dtype) : Tensor();
      const Tensor g = mg::randn(shape, gen).to(dtype);
      const auto run = [&](bool fused, bool nchw_gradient = false) {
        const auto layout = [&](const Tensor& t) {
          return t.defined() ? (fused ? t.channels_last() : t.contiguous()).detach().requires_grad_() : t;
        };
        const Tensor xs = layout(x), rs = layout(r), ws = w.detach().requires_grad_(), bs = b.detach().requires_grad_();
        Tensor mean = mg::zeros({channels}, dtype), var = mg::ones({channels}, dtype);
        Tensor y;
        if (fused) {
          y = mg::batch_norm(xs, mean, var, ws, bs, true, 0.1, 1e-5, {rs, true});
        } else {
          y = mg::batch_norm(xs, mean, var, ws, bs, true, 0.1, 1e-5);
          y = mg::relu(with_residual ? y + rs : y);
        }
        std::vector<Tensor> wrt{xs, ws, bs};
        if (with_residual) wrt.push_back(rs);
        auto grads = mg::autograd::grad({y}, wrt, {fused && !nchw_gradient ? g.channels_last() : g.contiguous()});
        grads.insert(grads.begin(), {y, mean, var});
        return grads;
      };
      const auto fused = run(true), reference = run(false), nchw_gradient = run(true, true);
      const double tol = dtype == mg::DType::Float32 ? 1e-5 : 1e-12;
      const char* names[] = {"output",      "running mean", "running var",  "grad x",
                             "grad weight", "grad bias",    "grad residual"};
      for (std::size_t i = 0; i < fused.size(); ++i) {
        mg::testing::check_close(fused[i], reference[i], tol, tol, names[i]);
        mg::testing::check_close(nchw_gradient[i], reference[i], tol, tol, names[i]);
      }
      CHECK(fused[0].is_channels_last());
    }
  }
  const Tensor x = mg::randn({4, 3, 2, 2});
  CHECK_THROWS_WITH_AS(
      mg::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5, {mg::randn({4, 3, 2, 1})}),
      doctest::Contains("the residual must have the input's shape [4, 3, 2, 2]"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5,
                                      {mg::randn({4, 3, 2, 2}, mg::default_generator(), mg::DType::Float64)}),
                       doctest::Contains("and dtype float32"), mg::Error);
}

// The op table's LSTM case has three columns; its kernels split the columns
// between threads. Here 2,500 columns against the ops one by one, and the
// same bits on 1 and 2 threads.
TEST_CASE("lstm_cell over many columns equals the ops one by one, with the same bits on any thread count") {
  const std::int64_t hidden = 3, n = 2500;
  for (const auto dtype : {mg::DType::Float32, mg::DType::Float64}) {
    CAPTURE(mg::dtype_name(dtype));
    mg::Generator gen(11);
    const Tensor z = mg::randn({4 * hidden, n}, gen).to(dtype), b = mg::randn({4 * hidden, 1}, gen).to(dtype);
    const Tensor c = mg::randn({hidden, n}, gen).to(dtype), g = mg::randn({2 * hidden, n}, gen).to(dtype);
    const auto run = [&](bool fused) {
      const Tensor zs = z.detach().requires_grad_(), bs = b.detach().requires_grad_(), cs = c.detach().requires_grad_();
      Tensor y;
      if (fused) {
        y = mg::lstm_cell(zs, bs, cs);
      } else {
        const Tensor a = zs + bs;
        const auto gate = [&](std::int64_t k) { return a.narrow(0, k * hidden, hidden); };
        const Tensor next = mg::sigmoid(gate(1)) * cs + mg::sigmoid(gate(0)) * mg::tanh(gate(2));
        y = mg::cat({mg::sigmoid(gate(3)) * mg::tanh(next), next}, 0);
      }
      const auto grads = mg::autograd::grad({y}, {zs, bs, cs}, {g});
      return std::vector<Tensor>{y, grads[0], grads[1], grads[2]};
    };
    const auto fused = run(true), reference = run(false);
    const double tol = dtype == mg::DType::Float32 ? 1e-5 : 1e-12;
    const char* names[] = {"output", "grad gates", "grad bias", "grad c"};
    for (std::size_t i = 0; i < fused.size(); ++i) mg::testing::check_close(fused[i], reference[i], tol, tol, names[i]);
    const int threads = mg::get_num_threads();
    mg::set_num_threads(1);
    const auto one = run(true);
    mg::set_num_threads(2);
    const auto two = run(true);
    mg::set_num_threads(threads);
    for (std::size_t i = 0; i < one.size(); ++i)
      CHECK_MESSAGE(one[i].to_vector<double>() == two[i].to_vector<double>(), names[i]);
  }
}

// The float32 cell evaluates its gates with its own vectorised exp and tanh
// on AVX-512 (kernels/fast_math.hpp). Over gate values from -40 to 40, the
// specials and tiny ones, its outputs and gradients stay within a few float
// ulps of the same cell in float64, and NaN stays NaN.
TEST_CASE("lstm_cell in float32 agrees with float64 to a few ulps over the whole range of its gates") {
  std::vector<double> grid;  // float numbers, so both cells see the same inputs
  for (double v = -40; v <= 40; v += 0.0137) grid.push_back(static_cast<float>(v));
  for (double v : {0.0, -0.0, 1e-30, -1e-30, 1e-5, -1e-5, 0.6249, 0.6251, -0.6251, 88.0, -88.0, 200.0, -200.0})
    grid.push_back(v);
  grid.push_back(std::numeric_limits<double>::infinity());
  grid.push_back(-std::numeric_limits<double>::infinity());
  grid.push_back(std::numeric_limits<double>::quiet_NaN());
  const auto n = static_cast<std::int64_t>(grid.size());
  const Tensor line = Tensor::from_vector(grid, {1, n});
  const Tensor reversed = Tensor::from_vector(std::vector<double>(grid.rbegin(), grid.rend()), {1, n});
  // Each gate row sweeps the grid in its own order; c is finite.
  const Tensor z64 = mg::cat({line, reversed, line * 0.7, -line}, 0);
  const Tensor c64 = mg::clamp(line * 0.3, -5.0, 5.0);
  const Tensor b64 = mg::zeros({4, 1}, mg::DType::Float64);
  const Tensor g64 = mg::cat({mg::ones({1, n}, mg::DType::Float64), mg::full({1, n}, -0.5, mg::DType::Float64)}, 0);
  const auto run = [&](mg::DType dtype) {
    const Tensor z = z64.to(dtype).requires_grad_(), c = c64.to(dtype).requires_grad_();
    const Tensor y = mg::lstm_cell(z, b64.to(dtype), c);
    auto grads = mg::autograd::grad({y}, {z, c}, {g64.to(dtype)});
    return std::vector<Tensor>{y, grads[0], grads[1]};
  };
  const auto single = run(mg::DType::Float32), reference = run(mg::DType::Float64);
  const char* names[] = {"[h'; c']", "grad gates", "grad c"};
  for (std::size_t i = 0; i < single.size(); ++i)
    mg::testing::check_close(single[i], reference[i], 1e-6, 1e-6, names[i]);
  CHECK(std::isnan(single[0].to_vector<double>()[static_cast<std::size_t>(n - 1)]));

  // With c = 0 and the other gate saturated at exactly 1, c' is one
  // activation alone: sigmoid(z_i) with z_g = inf, tanh(z_g) with z_i = inf.
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor zero_row = mg::zeros({1, n}, mg::DType::Float64), inf_row = mg::full({1, n}, inf, mg::DType::Float64);
  const auto activation = [&](const Tensor& z, mg::DType dtype) {
    return mg::lstm_cell(z.to(dtype), b64.to(dtype), mg::zeros({1, n}, dtype)).narrow(0, 1, 1).to_vector<double>();
  };
  for (const bool tanh_gate : {false, true}) {
    CAPTURE(tanh_gate);
    std::vector<Tensor> gate_rows = {line, zero_row, inf_row, zero_row};
    if (tanh_gate) std::swap(gate_rows[0], gate_rows[2]);
    const Tensor z = mg::cat(gate_rows, 0);
    const auto got = activation(z, mg::DType::Float32), expected = activation(z, mg::DType::Float64);
    for (std::size_t k = 0; k < got.size(); ++k) {
      if (std::isnan(expected[k])) {
        CHECK(std::isnan(got[k]));
        continue;
      }
      const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::abs(expected[k]), 1e-37)) - 23);
      CHECK_MESSAGE(std::abs(got[k] - expected[k]) <= 4 * ulp, "z = ", grid[k], ": ", got[k], " vs ", expected[k]);
    }
  }
}

// Handed over, the gates' memory takes the activations the backward needs;
// kept by the caller, they stay as they were. Both give the same values and
// gradients, to the second order (finite differences, float64).
TEST_CASE("lstm_cell keeps its activations in gates handed over to it, with the same gradients at every order") {
  const std::int64_t hidden = 3, n = 1000;
  mg::Generator gen(5);
  const Tensor w = mg::randn({4 * hidden, 2}, gen).requires_grad_(), x = mg::randn({2, n}, gen).requires_grad_();
  const Tensor b = mg::randn({4 * hidden, 1}, gen).requires_grad_(), c = mg::randn({hidden, n}, gen).requires_grad_();
  const Tensor g = mg::randn({2 * hidden, n}, gen);
  const auto held_bytes = [] { return mg::allocator_stats().bytes_in_use; };
  const std::vector<float> gate_values = mg::matmul(w, x).to_vector<float>();
  const std::size_t before = held_bytes();
  const Tensor handed = mg::lstm_cell(mg::matmul(w, x), b, c);
  const std::size_t handed_bytes = held_bytes() - before;
  Tensor kept;
  {
    const Tensor gates = mg::matmul(w, x);
    kept = mg::lstm_cell(gates, b, c);
    CHECK(gates.to_vector<float>() == gate_values);
  }
  // The kept op holds a buffer of activations beside the gates.
  CHECK(held_bytes() - before - handed_bytes >= handed_bytes + sizeof(float) * gate_values.size());
  CHECK(handed.to_vector<float>() == kept.to_vector<float>());
  const auto first = mg::autograd::grad({handed}, {w, x, b, c}, {g});
  const auto first_kept = mg::autograd::grad({kept}, {w, x, b, c}, {g});
  for (std::size_t i = 0; i < first.size(); ++i) CHECK(first[i].to_vector<float>() == first_kept[i].to_vector<float>());

  const Inputs inputs = {w.detach().to(mg::DType::Float64).narrow(1, 0, 1).requires_grad_(),
                         x.detach().to(mg::DType::Float64).narrow(0, 0, 1).narrow(1, 0, 4).requires_grad_(),
                         b.detach().to(mg::DType::Float64).requires_grad_(),
                         c.detach().to(mg::DType::Float64).narrow(1, 0, 4).requires_grad_()};
  const auto cell = [](const Inputs& in) { return mg::lstm_cell(mg::matmul(in[0], in[1]), in[2], in[3]); };
  CHECK_NOTHROW(mg::autograd::gradcheck(cell, inputs));
  CHECK_NOTHROW(mg::autograd::gradgradcheck(cell, inputs));
}

TEST_CASE("max_pool2d with no gradient wanted gives the maxima of the indexed path, NaN included") {
  struct Geometry {
    std::int64_t kernel, stride, padding;
  };
  for (const auto dtype : {mg::DType::Float32, mg::DType::Float64})
    for (const bool channels_last : {false, true})
      for (const auto& g : {Geometry{2, 2, 0}, Geometry{3, 2, 1}, Geometry{3, 1, 1}}) {
        CAPTURE(mg::dtype_name(dtype));
        CAPTURE(channels_last);
        CAPTURE(g.kernel);
        mg::Generator gen(3);
        std::vector<double> values = mg::randn({3, 20, 7, 6}, gen, mg::DType::Float64).to_vector<double>();
        for (std::size_t i = 0; i < values.size(); i += 37) values[i] = std::nan("");
        Tensor x = Tensor::from_vector(values, {3, 20, 7, 6}).to(dtype);
        if (channels_last) x = x.channels_last();
        const Tensor indexed =
            mg::max_pool2d_with_indices(x.detach().requires_grad_(), g.kernel, g.stride, g.padding).first.detach();
        Tensor plain;
        {
          mg::NoGradGuard no_grad;
          plain = mg::max_pool2d(x, g.kernel, g.stride, g.padding);
        }
        REQUIRE(plain.shape() == indexed.shape());
        const auto a = plain.to_vector<double>(), b = indexed.to_vector<double>();
        std::size_t nan_count = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
          nan_count += std::isnan(b[i]) ? 1 : 0;
          CHECK((a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))));
        }
        CHECK(nan_count > 0);
      }
}

// float32 pools run channels-last kernels (sixteen channels a step, then
// one at a time; the gradient written window by window when windows tile
// the input), float64 ones the general kernels: on the same values they
// give the same maxima, indices and gradients, exactly, with NaNs and with
// rows and columns no window covers.
TEST_CASE("max_pool2d's channels-last kernels equal the general ones: values, indices and gradients") {
  struct Geometry {
    std::int64_t kernel, stride, padding;
  };
  for (const auto& g : {Geometry{2, 2, 0}, Geometry{3, 3, 0}, Geometry{3, 2, 1}, Geometry{2, 1, 0}}) {
    CAPTURE(g.kernel);
    CAPTURE(g.stride);
    mg::Generator gen(4);
    std::vector<double> values = mg::randn({3, 20, 7, 6}, gen, mg::DType::Float64).to_vector<double>();
    for (std::size_t i = 0; i < values.size(); i += 41) values[i] = std::nan("");
    const Tensor x = Tensor::from_vector(values, {3, 20, 7, 6}).to(mg::DType::Float32);
    const auto run = [&](mg::DType dtype) {
      const Tensor leaf = x.to(dtype).requires_grad_();
      const auto [y, indices] = mg::max_pool2d_with_indices(leaf, g.kernel, g.stride, g.padding);
      mg::Generator grad_gen(5);
      const Tensor gy = mg::randn(y.shape(), grad_gen).to(dtype);
      const Tensor gx = mg::autograd::grad({y}, {leaf}, {gy})[0];
      return std::tuple{y.to_vector<double>(), indices.to_vector<std::int64_t>(), gx.to_vector<double>(),
                        gx.is_channels_last()};
    };
    const auto [y_fast, i_fast, gx_fast, fast_layout] = run(mg::DType::Float32);
    const auto [y_general, i_general, gx_general, general_layout] = run(mg::DType::Float64);
    CHECK(fast_layout);
    CHECK_FALSE(general_layout);
    REQUIRE(y_fast.size() == y_general.size());
    for (std::size_t i = 0; i < y_fast.size(); ++i)
      CHECK((y_fast[i] == y_general[i] || (std::isnan(y_fast[i]) && std::isnan(y_general[i]))));
    CHECK(i_fast == i_general);
    // Overlapping windows add gradients, rounded in each dtype; tiles copy them.
    const double tolerance = g.kernel == g.stride ? 0.0 : 1e-6;
    for (std::size_t i = 0; i < gx_fast.size(); ++i)
      CHECK(std::abs(gx_fast[i] - gx_general[i]) <= tolerance * (1.0 + std::abs(gx_general[i])));
  }
}
