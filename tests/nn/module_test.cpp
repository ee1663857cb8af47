// Module mechanics: names, modes, state dicts, functional calls; and the
// layers and losses against PyTorch and finite differences.
#include "../support/testing.hpp"

namespace {

using mg::Tensor;
namespace F = mg::nn::functional;

class TwoLayer : public mg::nn::Module {
 public:
  TwoLayer() {
    first = register_module("first", std::make_shared<mg::nn::Linear>(mg::nn::LinearOptions(3, 4)));
    second = register_module("second", std::make_shared<mg::nn::Linear>(mg::nn::LinearOptions(4, 2).bias(false)));
    scale = mg::ones({2});
    register_parameter("scale", &scale);
    steps = mg::zeros({}, mg::DType::Int64);
    register_buffer("steps", &steps);
  }
  Tensor forward(const Tensor& x) override { return second->forward(mg::tanh(first->forward(x))) * scale; }
  std::string type_name() const override { return "TwoLayer"; }
  std::shared_ptr<mg::nn::Linear> first, second;
  Tensor scale, steps;
};

std::vector<double> values(const nlohmann::json& j) { return j.get<std::vector<double>>(); }

}  // namespace

TEST_CASE("modules name their parameters and buffers with dotted paths") {
  TwoLayer model;
  std::vector<std::string> names;
  for (auto& [name, p] : model.named_parameters()) {
    names.push_back(name);
    CHECK(p.requires_grad());
  }
  CHECK(names == std::vector<std::string>{"scale", "first.weight", "first.bias", "second.weight"});
  CHECK(model.named_buffers().size() == 1);
  CHECK(model.state_dict().size() == 5);
  CHECK(model.named_children().size() == 2);
  model.eval();
  CHECK_FALSE(model.first->is_training());
  model.train();
  CHECK(model.second->is_training());
  int visited = 0;
  model.apply([&](mg::nn::Module&) { ++visited; });
  CHECK(visited == 3);
}

TEST_CASE("zero_grad clears gradients; load_state_dict validates everything before copying") {
  TwoLayer model, other;
  mg::Generator g(1);
  mg::sum(model(mg::randn({5, 3}, g))).backward();
  CHECK(model.first->weight.grad().defined());
  model.zero_grad();
  CHECK_FALSE(model.first->weight.grad().defined());

  model.load_state_dict(other.state_dict());
  CHECK(model.first->weight.to_vector() == other.first->weight.to_vector());

  const auto before = model.first->bias.to_vector();
  auto state = other.state_dict();
  REQUIRE(state[1].first == "steps");
  state[1].second = mg::zeros({3});  // wrong shape
  CHECK_THROWS_WITH_AS(model.load_state_dict(state), doctest::Contains("steps"), mg::Error);
  state.erase(state.begin() + 1);
  CHECK_THROWS_WITH_AS(model.load_state_dict(state), doctest::Contains("missing"), mg::Error);
  state.emplace_back("extra", mg::zeros({1}));
  CHECK_THROWS_WITH_AS(model.load_state_dict(state), doctest::Contains("extra"), mg::Error);
  CHECK(model.first->bias.to_vector() == before);
}

TEST_CASE("functional_call runs with replacement parameters and restores the module") {
  TwoLayer model;
  mg::Generator g(2);
  const Tensor x = mg::randn({5, 3}, g);
  const Tensor fast = (model.first->weight * 2.0).detach().requires_grad_();
  const Tensor original = model.first->weight;
  const Tensor y = mg::nn::functional_call(model, {{"first.weight", fast}}, x);
  CHECK(model.first->weight.shares_storage_with(original));
  mg::Tensor expected;
  {
    mg::NoGradGuard no_grad;
    model.first->weight.copy_(fast);
    expected = model(x);
    model.first->weight.copy_(original * 0.5);
  }
  mg::testing::check_close(y, expected, 1e-6, 1e-6, "output with fast weights");
  mg::sum(y).backward();
  CHECK(fast.grad().defined());
  CHECK_THROWS_WITH_AS(mg::nn::functional_call(model, {{"nope", fast}}, x), doctest::Contains("TwoLayer"), mg::Error);
}

TEST_CASE("layers and losses pass gradcheck and gradgradcheck in float64") {
  mg::Generator g(3);
  const auto f64 = mg::DType::Float64;
  const Tensor x = mg::randn({4, 3}, g, f64).requires_grad_();
  const Tensor w = mg::randn({2, 3}, g, f64).requires_grad_();
  const Tensor b = mg::randn({2}, g, f64).requires_grad_();
  const Tensor logits = mg::randn({4, 5}, g, f64).requires_grad_();
  const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{0, 4, 2, 2}, {4});
  const Tensor target = mg::rand({4, 5}, g, f64);
  const std::vector<std::pair<const char*, mg::autograd::Function>> cases = {
      {"linear", [&](const std::vector<Tensor>& in) { return F::linear(in[0], in[1], in[2]); }},
      {"cross_entropy", [&](const std::vector<Tensor>& in) { return F::cross_entropy(in[3], labels); }},
      {"cross_entropy smoothing",
       [&](const std::vector<Tensor>& in) { return F::cross_entropy(in[3], labels, F::Reduction::Sum, 0.2); }},
      {"nll_loss", [&](const std::vector<Tensor>& in) { return F::nll_loss(mg::log_softmax(in[3], 1), labels); }},
      {"mse_loss", [&](const std::vector<Tensor>& in) { return F::mse_loss(in[3], target); }},
      {"bce_with_logits",
       [&](const std::vector<Tensor>& in) {
         return F::binary_cross_entropy_with_logits(in[3], target, F::Reduction::None);
       }},
  };
  for (const auto& [name, fn] : cases) {
    CAPTURE(name);
    CHECK_NOTHROW(mg::autograd::gradcheck(fn, {x, w, b, logits}));
    CHECK_NOTHROW(mg::autograd::gradgradcheck(fn, {x, w, b, logits}));
  }
  mg::nn::LSTMCell cell(3, 2);
  const auto lstm = [&](const std::vector<Tensor>& in) {
    const auto s = cell.forward(in[0], {in[1], in[2]});
    return std::vector<Tensor>{s.h, s.c};
  };
  for (auto* p : {&cell.weight_ih, &cell.weight_hh, &cell.bias_ih, &cell.bias_hh}) {
    mg::NoGradGuard no_grad;
    *p = p->to(f64).requires_grad_();
  }
  const Tensor h = mg::randn({4, 2}, g, f64).requires_grad_(), c = mg::randn({4, 2}, g, f64).requires_grad_();
  CHECK_NOTHROW(mg::autograd::gradcheck(lstm, {x, h, c, cell.weight_ih, cell.bias_hh}));
  CHECK_NOTHROW(mg::autograd::gradgradcheck(lstm, {x, h, c, cell.weight_hh}));
}

TEST_CASE("losses and the LSTM cell match PyTorch") {
  const auto fixture = mg::testing::load_fixture("nn/fixtures/nn.json");
  const auto& l = fixture["losses"];
  const Tensor logits = Tensor::from_vector(values(l["logits"]), {5, 4}).to(mg::DType::Float32);
  const Tensor labels = Tensor::from_vector(l["labels"].get<std::vector<std::int64_t>>(), {5});
  const Tensor pred = Tensor::from_vector(values(l["pred"]), {3, 4}).to(mg::DType::Float32);
  const Tensor target = Tensor::from_vector(values(l["target"]), {3, 4}).to(mg::DType::Float32);
  const Tensor z = Tensor::from_vector(values(l["z"]), {6}).to(mg::DType::Float32);
  const Tensor y = Tensor::from_vector(values(l["y"]), {6}).to(mg::DType::Float32);
  auto approx = [](const nlohmann::json& v) { return doctest::Approx(v.get<double>()).epsilon(1e-6); };
  CHECK(F::cross_entropy(logits, labels).item<double>() == approx(l["cross_entropy"]));
  CHECK(F::cross_entropy(logits, labels, F::Reduction::Sum).item<double>() == approx(l["cross_entropy_sum"]));
  CHECK(F::cross_entropy(logits, labels, F::Reduction::Mean, 0.1).item<double>() ==
        approx(l["cross_entropy_smoothing"]));
  CHECK(F::nll_loss(mg::log_softmax(logits, 1), labels).item<double>() == approx(l["nll_loss"]));
  CHECK(F::mse_loss(pred, target).item<double>() == approx(l["mse_loss"]));
  CHECK(F::binary_cross_entropy_with_logits(z, y).item<double>() == approx(l["bce_with_logits"]));

  const auto& c = fixture["lstm_cell"];
  mg::nn::LSTMCell cell(3, 4);
  mg::nn::NamedTensors state;
  for (auto& [name, t] : cell.state_dict())
    state.emplace_back(name, Tensor::from_vector(values(c["params"][name]), t.shape()).to(mg::DType::Float32));
  cell.load_state_dict(state);
  const auto f32 = [&](const char* key, mg::Shape shape) {
    return Tensor::from_vector(values(c[key]), shape).to(mg::DType::Float32);
  };
  const auto next = cell.forward(f32("x", {2, 3}), {f32("h", {2, 4}), f32("c", {2, 4})});
  mg::testing::check_close(next.h.to_vector<double>(), values(c["h1"]), 1e-5, 1e-6, "h");
  mg::testing::check_close(next.c.to_vector<double>(), values(c["c1"]), 1e-5, 1e-6, "c");
}

TEST_CASE("loss and layer errors name what is wrong") {
  const Tensor logits = mg::zeros({3, 4});
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, Tensor::from_vector(std::vector<std::int64_t>{0, 4, 1}, {3})),
                       doctest::Contains("[0, 4)"), mg::Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, mg::zeros({3})), doctest::Contains("int64"), mg::Error);
  CHECK_THROWS_WITH_AS(F::mse_loss(logits, mg::zeros({4, 3})), doctest::Contains("[4, 3]"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::nn::Linear(mg::nn::LinearOptions(3, 2)).forward(mg::zeros({2, 4})),
                       doctest::Contains("[2, 4]"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::nn::Conv2d(mg::nn::Conv2dOptions(3, 4, 3).groups(2)), doctest::Contains("groups"),
                       mg::Error);
  CHECK_THROWS_WITH_AS(mg::nn::Dropout(1.5), doctest::Contains("1.5"), mg::Error);
}

TEST_CASE("layer options reach the layers, and pooling's options build the same layers as positional arguments") {
  namespace nn = mg::nn;
  mg::Generator data(3);
  const Tensor image = mg::randn({2, 4, 9, 9}, data);
  const auto check_same = [](nn::Module& from_options, nn::Module& positional, const Tensor& x) {
    const auto a = from_options.named_parameters(), b = positional.named_parameters();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].first == b[i].first);
      CHECK(a[i].second.shape() == b[i].second.shape());
    }
    mg::testing::check_close(from_options(x), positional(x), 0, 0, from_options.type_name());
  };

  // A convolution with every setting away from its default, each to a different value: the layer
  // computes the functional convolution with those settings.
  mg::Generator g1(5), spare(6);
  nn::Conv2d conv(nn::Conv2dOptions(4, 6, 3).stride(2).padding(1).dilation(3).groups(2).bias(false), g1);
  CHECK(conv.named_parameters().size() == 1);
  CHECK(conv.weight.shape() == mg::Shape{6, 2, 3, 3});
  mg::testing::check_close(conv(image), F::conv2d(image, conv.weight, Tensor(), 2, 1, 3, 2), 0, 0, "conv2d");
  CHECK(conv.parameter_count() == 6 * 2 * 3 * 3);
  CHECK(nn::Conv2d(nn::Conv2dOptions(4, 6, 3), spare).parameter_count() == 6 * 4 * 3 * 3 + 6);  // bias by default

  nn::Linear linear(nn::LinearOptions(5, 3).bias(false), g1);
  const Tensor rows = mg::randn({4, 5}, data);
  CHECK(!linear.bias.defined());
  mg::testing::check_close(linear(rows), F::linear(rows, linear.weight, Tensor()), 0, 0, "linear");
  CHECK(linear.parameter_count() == 15);
  CHECK(nn::Linear(nn::LinearOptions(5, 3), spare).parameter_count() == 18);

  // momentum 0.3: the running mean moves 0.3 of the way to the batch mean
  nn::BatchNorm2d norm(nn::BatchNorm2dOptions(4).momentum(0.3).eps(1e-3));
  CHECK(norm.eps == 1e-3);
  norm(image);
  mg::testing::check_close(norm.running_mean, mg::mean(image, std::vector<std::int64_t>{0, 2, 3}) * 0.3, 1e-6, 1e-7,
                           "running mean");
  CHECK(norm.parameter_count() == 8);  // weight and bias; the running statistics are buffers

  nn::MaxPool2d max_pool(nn::MaxPool2dOptions(3).stride(2).padding(1)), max_pool_positional(3, 2, 1);
  check_same(max_pool, max_pool_positional, image);
  nn::AvgPool2d avg_pool(nn::AvgPool2dOptions(3).stride(2).padding(1)), avg_pool_positional(3, 2, 1);
  check_same(avg_pool, avg_pool_positional, image);
  CHECK(avg_pool.parameter_count() == 0);
  CHECK(nn::AvgPool2d(nn::AvgPool2dOptions(3))(image).shape() == mg::Shape{2, 4, 3, 3});  // stride = kernel

  // Bad values are caught by the layer, with the same message as before.
  CHECK_THROWS_WITH_AS(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).groups(2)), doctest::Contains("groups"), mg::Error);
}

TEST_CASE("dropout is seeded, scales kept values and is the identity in eval mode") {
  mg::nn::Dropout a(0.25, 7), b(0.25, 7);
  const Tensor x = mg::ones({1000});
  const Tensor ya = a(x), yb = b(x);
  CHECK(ya.to_vector() == yb.to_vector());
  const double kept = mg::sum(mg::gt(ya, mg::zeros({}))).item<double>();
  CHECK(kept == doctest::Approx(750).epsilon(0.06));
  CHECK(mg::max(ya).item() == doctest::Approx(1.0f / 0.75f));
  a.eval();
  CHECK(a(x).to_vector() == x.to_vector());
}

TEST_CASE("initialisers have the documented scale") {
  mg::Generator g(9);
  Tensor w = mg::zeros({256, 512});
  mg::nn::init::kaiming_normal_(w, 0.0, mg::nn::init::FanMode::FanIn, g);
  const double std = std::sqrt(mg::mean(w * w).item<double>());
  CHECK(std == doctest::Approx(std::sqrt(2.0 / 512)).epsilon(0.02));
  mg::nn::init::xavier_uniform_(w, 1.0, g);
  const double bound = std::sqrt(6.0 / (256 + 512));
  CHECK(mg::max(mg::abs(w)).item<double>() <= bound);
  CHECK(mg::max(mg::abs(w)).item<double>() > 0.99 * bound);
  CHECK(mg::nn::init::fan_in(mg::zeros({8, 3, 5, 5})) == 75);
  CHECK(mg::nn::init::fan_out(mg::zeros({8, 3, 5, 5})) == 200);
}

TEST_CASE("a stacked LSTM runs its cells in sequence and is differentiable") {
  mg::Generator g(12);
  mg::nn::LSTM lstm(3, 4, 2, true, g);
  const Tensor x = mg::randn({5, 2, 3}, g);
  const auto [out, states] = lstm.forward(x);
  CHECK(out.shape() == mg::Shape{5, 2, 4});
  REQUIRE(states.size() == 2);
  // the same computation cell by cell
  auto cells = lstm.named_children();
  auto* first = dynamic_cast<mg::nn::LSTMCell*>(cells[0].second.get());
  auto* second = dynamic_cast<mg::nn::LSTMCell*>(cells[1].second.get());
  REQUIRE((first != nullptr && second != nullptr));
  mg::nn::LstmState s1, s2;
  for (std::int64_t t = 0; t < 5; ++t) {
    s1 = first->forward(x.select(0, t), s1);
    s2 = second->forward(s1.h, s2);
    mg::testing::check_close(out.select(0, t), s2.h, 0, 0, "step " + std::to_string(t));
  }
  mg::testing::check_close(states[1].c, s2.c, 0, 0, "final cell state");
  CHECK(lstm.named_parameters().size() == 8);
  CHECK(lstm.named_parameters()[4].first == "1.weight_ih");
  mg::sum(out).backward();
  CHECK(first->weight_ih.grad().defined());
  CHECK_THROWS_WITH_AS(lstm.forward(mg::zeros({5, 3})), doctest::Contains("(T, N, input)"), mg::Error);
}

TEST_CASE("batch_norm's options by name give what its positional arguments give") {
  mg::Generator g(4);
  const mg::Tensor x = mg::randn({4, 3, 2, 2}, g), weight = mg::rand({3}, g), bias = mg::randn({3}, g);
  const mg::Tensor positional = mg::nn::functional::batch_norm(x, mg::Tensor(), mg::Tensor(), weight, bias, true, 0.1,
                                                               1e-3, {mg::Tensor(), true});
  const mg::Tensor named = mg::nn::functional::batch_norm(
      x, {.weight = weight, .bias = bias, .training = true, .eps = 1e-3, .then = {.relu = true}});
  CHECK(named.to_vector<double>() == positional.to_vector<double>());
  CHECK(mg::min(named).item<double>() == 0);  // the ReLU applied
}
