// The `general` learned optimizer (docs/general.md): Adam's direction, a
// learned learning rate per coordinate and a learned correction.
#include "metagrad/optim/learned/general.hpp"

#include <cmath>
#include <map>
#include <string_view>
#include <vector>

#include "core/check.hpp"
#include "metagrad/nn/init.hpp"
#include "metagrad/optim/learned/lstm.hpp"
#include "metagrad/optim/registry.hpp"
#include "optim/learned/blocked_mlp.hpp"
#include "optim/learned/json_file.hpp"
#include "optim/learned/per_parameter_mlp.hpp"
#include "optim/rule.hpp"

namespace mg::optim::learned {
namespace {

using Config = GeneralConfig;
constexpr std::int64_t kMomenta = static_cast<std::int64_t>(Config::kMomentumDecays.size());
constexpr std::int64_t kPerCoordinate = 7;  // the features that differ between a tensor's coordinates

struct Weights {
  MlpWeights network;
  Tensor log_lr;  // (1, 1)
};

Weights unpack(const Tensor& phi) {
  MG_CHECK(phi.dim() == 1 && phi.numel() == Config::parameter_count(),
           "general: the weights have {} numbers, expected {}", phi.numel(), Config::parameter_count());
  std::int64_t offset = 0;
  Weights w{unpack_mlp(phi, Config::kInputs, Config::kHidden, Config::kOutputs, offset), {}};
  w.log_lr = phi.narrow(0, offset, 1).reshape({1, 1});
  return w;
}

// How a tensor is viewed for the factored statistics: R = shape[0] rows of
// C columns when it has two or more dimensions.
struct Matrix {
  bool is_matrix;
  std::int64_t rows, columns;
};
Matrix matrix_of(const Tensor& param) {
  if (param.dim() < 2) return {false, 1, 1};
  return {true, param.size(0), param.numel() / param.size(0)};
}

// The step's constants: bias corrections at k = t + 1.
struct Corrections {
  std::array<double, Config::kMomentumDecays.size()> momentum;  // 1 / (1 - B_j^k)
  double second_root, factored;                                 // sqrt(1 - b2^k), 1 - bf^k
};
Corrections corrections(std::int64_t t) {
  const auto k = static_cast<double>(t + 1);
  Corrections c{};
  for (std::size_t j = 0; j < c.momentum.size(); ++j) c.momentum[j] = 1 / (1 - std::pow(Config::kMomentumDecays[j], k));
  c.second_root = std::sqrt(1 - std::pow(Config::kSecondMomentDecay, k));
  c.factored = 1 - std::pow(Config::kFactoredDecay, k);
  return c;
}

// The inputs that every coordinate of a tensor shares: its scale, fan-in
// and kind, the step count and the progress through the horizon (12).
std::vector<double> shared_features(double scale, const Matrix& matrix, std::int64_t t, std::int64_t horizon) {
  std::vector<double> x = {std::log10(scale + 1e-8) / 4, std::log10(static_cast<double>(matrix.columns)) / 4,
                           matrix.is_matrix ? 1.0 : 0.0};
  for (double s : Config::kTimescales) x.push_back(std::tanh(static_cast<double>(t) / s - 1));
  for (double point : Config::kProgressPoints)
    x.push_back(horizon > 0 ? std::tanh(10 * (static_cast<double>(t) / static_cast<double>(horizon) - point)) : 0.0);
  x.push_back(horizon > 0 ? 1.0 : 0.0);
  return x;
}

Tensor clip(const Tensor& x) { return clamp(x, -Config::kClip, Config::kClip); }

}  // namespace

GeneralUpdate general_step(const Tensor& phi, const GeneralConfig& config, const Tensor& param, const Tensor& grad,
                           const GeneralState& state, std::int64_t t) {
  const DType dtype = param.dtype();
  const std::int64_t n = param.numel();
  const Weights w = unpack(phi.to(dtype));
  const Matrix matrix = matrix_of(param);
  const Corrections c = corrections(t);
  const Tensor g = grad.reshape({n, 1}), p = param.reshape({n, 1}), g2 = g * g;
  const Tensor decays = constant_row(Config::kMomentumDecays, dtype);
  GeneralState next;
  next.momenta = (state.momenta.defined() ? state.momenta : zeros({n, kMomenta}, dtype)) * decays + g * (1.0 - decays);
  const double b2 = Config::kSecondMomentDecay, bf = Config::kFactoredDecay;
  next.second = (state.second.defined() ? state.second : zeros({n, 1}, dtype)) * b2 + g2 * (1 - b2);
  const Tensor corrected = next.momenta * constant_row(c.momentum, dtype);
  const Tensor d = sqrt_safe(next.second) / c.second_root + Config::kEps;
  Tensor e = d;
  if (matrix.is_matrix) {
    const Tensor squares = g2.reshape({matrix.rows, matrix.columns});
    next.rows = (state.rows.defined() ? state.rows : zeros({matrix.rows}, dtype)) * bf + mean(squares, 1) * (1 - bf);
    next.columns =
        (state.columns.defined() ? state.columns : zeros({matrix.columns}, dtype)) * bf + mean(squares, 0) * (1 - bf);
    const Tensor estimate = next.rows.reshape({matrix.rows, 1}) * next.columns.reshape({1, matrix.columns}) /
                            (mean(next.rows) + 1e-30) / c.factored;
    e = sqrt_safe(estimate).reshape({n, 1}) + Config::kEps;
  }
  const Tensor scale = sqrt_safe(mean(p * p));
  const Tensor adam = corrected.narrow(1, 1, 1) / d;
  const Tensor own = cat({clip(g / d), clip(corrected / d), clip(g / e), clip(corrected.narrow(1, 1, 1) / e),
                          clip(p / (scale + Config::kEps))},
                         1);
  std::vector<double> shared = shared_features(scale.item<double>(), matrix, t, config.horizon);
  Tensor shared_row = Tensor::from_vector(shared, {1, static_cast<std::int64_t>(shared.size())}).to(dtype);
  // log10(scale) is a function of the parameter: its derivative flows.
  shared_row = cat({(log(scale + 1e-8) / (4 * std::log(10.0))).reshape({1, 1}), shared_row.narrow(1, 1, 11)}, 1);
  const Tensor x = cat({own, expand(shared_row, {n, Config::kInputs - kPerCoordinate})}, 1);
  const Tensor out = mlp_forward(w.network, x);
  const Tensor lr = exp(w.log_lr + tanh(out.narrow(1, 0, 1)) * Config::kLrReach);
  const Tensor update = lr * (adam + tanh(out.narrow(1, 1, 1)));
  return {param - update.reshape(param.shape()), next};
}

Tensor general_formula_weights(DType dtype) {
  Tensor phi = formula_weights(Config::parameter_count(), DType::Float64);
  phi.narrow(0, Config::parameter_count() - 1, 1).fill_(std::log(0.01));
  return phi.to(dtype);
}

Tensor general_initial_weights(Generator& generator, DType dtype) {
  Tensor phi = zeros({Config::parameter_count()}, DType::Float64);
  std::int64_t offset = 0;
  const MlpWeights w = unpack_mlp(phi, Config::kInputs, Config::kHidden, Config::kOutputs, offset);
  Tensor w1 = w.w1, w2 = w.w2;  // views of phi
  nn::init::truncated_normal_(w1, 1 / std::sqrt(static_cast<double>(Config::kInputs)), generator);
  nn::init::truncated_normal_(w2, 1 / std::sqrt(static_cast<double>(Config::kHidden)), generator);
  phi.narrow(0, offset, 1).fill_(std::log(1e-3));  // W3 = 0: adam(lr=1e-3)
  return phi.to(dtype);
}

Tensor general_load_weights(const std::string& path_or_shipped, DType dtype) {
  const auto values =
      weight_values(path_or_shipped, "general", static_cast<std::size_t>(Config::parameter_count()), "");
  return Tensor::from_vector(values, {Config::parameter_count()}).to(dtype);
}

namespace {

// The factored statistics' step (rows r, columns q: decayed means of g^2
// along each axis), each row and each column summed in its own order so
// that the bits do not depend on the thread count; returns r's mean.
template <class E>
double update_factored(const E* g, const Matrix& matrix, E* r, E* q) {
  const auto bf = static_cast<E>(Config::kFactoredDecay), keep_f = E(1) - bf;
  const std::int64_t rows = matrix.rows, columns = matrix.columns;
  parallel_for(0, rows, grain_for(columns), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      double sum = 0;
      for (std::int64_t j = 0; j < columns; ++j) sum += static_cast<double>(g[i * columns + j] * g[i * columns + j]);
      r[i] = r[i] * bf + static_cast<E>(sum / static_cast<double>(columns)) * keep_f;
    }
  });
  parallel_for(0, columns, grain_for(rows), [&](std::int64_t lo, std::int64_t hi) {
    std::vector<double> sums(static_cast<std::size_t>(hi - lo), 0.0);
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = lo; j < hi; ++j)
        sums[static_cast<std::size_t>(j - lo)] += static_cast<double>(g[i * columns + j] * g[i * columns + j]);
    for (std::int64_t j = lo; j < hi; ++j)
      q[j] = q[j] * bf + static_cast<E>(sums[static_cast<std::size_t>(j - lo)] / static_cast<double>(rows)) * keep_f;
  });
  double mean_rows = 0;
  for (std::int64_t i = 0; i < rows; ++i) mean_rows += r[i];
  return mean_rows / static_cast<double>(rows);
}

// The plain step of one dense tensor: the state and the sums in one
// parallel pass, then the network in blocks (blocked_mlp.hpp), each block's
// inputs written and its update applied while they are in cache. The
// numbers are general_step's up to the order of the sums (summed here in
// double) and of the network's products.
template <class E>
void fused_step(const Weights& w, const GeneralConfig& config, Tensor& param, const Tensor& grad, GeneralState& state,
                std::int64_t t) {
  const std::int64_t n = param.numel();
  const Matrix matrix = matrix_of(param);
  const Corrections c = corrections(t);
  E* p = param.data_ptr<E>();
  const E* g = grad.data_ptr<E>();
  E* m = state.momenta.data_ptr<E>();
  E* v = state.second.data_ptr<E>();
  std::array<E, kMomenta> decay{}, keep{}, correct{};
  for (std::size_t j = 0; j < decay.size(); ++j) {
    decay[j] = static_cast<E>(Config::kMomentumDecays[j]);
    keep[j] = E(1) - decay[j];
    correct[j] = static_cast<E>(c.momentum[j]);
  }
  const auto b2 = static_cast<E>(Config::kSecondMomentDecay), keep2 = E(1) - b2;
  const double squares = chunked_sums<1>(n, [&](std::int64_t lo, std::int64_t hi, std::array<double, 1>& sums) {
    for (std::int64_t i = lo; i < hi; ++i) {
      E* mi = m + i * kMomenta;
      for (std::int64_t j = 0; j < kMomenta; ++j) mi[j] = mi[j] * decay[j] + g[i] * keep[j];
      v[i] = v[i] * b2 + g[i] * g[i] * keep2;
      sums[0] += static_cast<double>(p[i]) * p[i];
    }
  })[0];
  E* r = matrix.is_matrix ? state.rows.data_ptr<E>() : nullptr;
  E* q = matrix.is_matrix ? state.columns.data_ptr<E>() : nullptr;
  double mean_rows = 0;
  if (matrix.is_matrix) mean_rows = update_factored(g, matrix, r, q);
  const double scale = std::sqrt(squares / static_cast<double>(n));
  const std::vector<double> shared = shared_features(scale, matrix, t, config.horizon);
  const auto eps = static_cast<E>(Config::kEps), root = static_cast<E>(c.second_root),
             limit = static_cast<E>(Config::kClip);
  const auto factored_scale = static_cast<E>(1 / (mean_rows + 1e-30) / c.factored);
  const auto scale_plus_eps = static_cast<E>(scale) + eps;
  const auto clip = [&](E z) { return std::min(std::max(z, -limit), limit); };
  const auto features = [&](std::int64_t begin, std::int64_t count, E* x) {
#pragma omp simd
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t i = begin + k;
      const E* mi = m + i * kMomenta;
      const E d = std::sqrt(v[i]) / root + eps;
      const E e =
          matrix.is_matrix ? std::sqrt(r[i / matrix.columns] * q[i % matrix.columns] * factored_scale) + eps : d;
      x[k] = clip(g[i] / d);
      for (std::int64_t j = 0; j < kMomenta; ++j) x[(1 + j) * count + k] = clip(mi[j] * correct[j] / d);
      x[4 * count + k] = clip(g[i] / e);
      x[5 * count + k] = clip(mi[1] * correct[1] / e);
      x[6 * count + k] = clip(p[i] / scale_plus_eps);
    }
  };
  const E log_lr = w.log_lr.item<E>(), reach = static_cast<E>(Config::kLrReach);
  const auto update = [&](std::int64_t begin, std::int64_t count, const E* o) {
#pragma omp simd
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t i = begin + k;
      const E d = std::sqrt(v[i]) / root + eps;
      const E adam = m[i * kMomenta + 1] * correct[1] / d;
      const E lr = simd_exp(log_lr + simd_tanh(o[2 * k]) * reach);
      p[i] -= lr * (adam + simd_tanh(o[2 * k + 1]));
    }
  };
  mlp_in_blocks<E>(w.network, n, kPerCoordinate, shared, features, update);
}

bool fusable(const Tensor& param, const Tensor& grad) {
  const bool supported = param.dtype() == DType::Float32 || param.dtype() == DType::Float64;
  return supported && param.is_contiguous() && grad.is_contiguous() && grad.dtype() == param.dtype();
}

const char* const kFields[] = {"momenta", "second", "rows", "columns"};

GeneralState read_state(const std::map<std::string, Tensor>& tensors) {
  const auto field = [&](const char* name) { return tensors.count(name) ? tensors.at(name) : Tensor(); };
  return {field("momenta"), field("second"), field("rows"), field("columns")};
}

void store(std::map<std::string, Tensor>& tensors, const GeneralState& s) {
  const Tensor* values[] = {&s.momenta, &s.second, &s.rows, &s.columns};
  for (std::size_t i = 0; i < std::size(kFields); ++i)
    if (values[i]->defined()) tensors[kFields[i]] = *values[i];
}

// The state a plain step writes into, zeros where it has none yet.
GeneralState allocated(const std::map<std::string, Tensor>& tensors, const Tensor& param) {
  GeneralState s = read_state(tensors);
  const DType dtype = param.dtype();
  const Matrix matrix = matrix_of(param);
  if (!s.momenta.defined()) s.momenta = zeros({param.numel(), kMomenta}, dtype);
  if (!s.second.defined()) s.second = zeros({param.numel(), 1}, dtype);
  if (matrix.is_matrix && !s.rows.defined()) s.rows = zeros({matrix.rows}, dtype);
  if (matrix.is_matrix && !s.columns.defined()) s.columns = zeros({matrix.columns}, dtype);
  return s;
}

bool contiguous_state(const GeneralState& s, DType dtype) {
  for (const Tensor* t : {&s.momenta, &s.second, &s.rows, &s.columns})
    if (t->defined() && (!t->is_contiguous() || t->dtype() != dtype)) return false;
  return true;
}

class GeneralOptimizer : public PerTensorOptimizer {
 public:
  GeneralOptimizer(std::vector<ParamGroup> groups, Tensor phi)
      : PerTensorOptimizer("general", std::move(groups), std::move(phi)) {
    unpack(phi_);  // checks the length
  }

 protected:
  // Each tensor has its own statistics.
  Tensor step_tensor(const Slot& slot, bool differentiable, std::int64_t t) override {
    auto& tensors = slot.state->tensors;
    const GeneralConfig config{static_cast<std::int64_t>(slot.group->number("horizon"))};
    if (!differentiable && fusable(slot.param, slot.grad)) {
      GeneralState state = allocated(tensors, slot.param);
      const DType dtype = slot.param.dtype();
      if (contiguous_state(state, dtype)) {
        const Weights w = unpack(weights(false, dtype));
        Tensor param = slot.param;
        if (dtype == DType::Float64)
          fused_step<double>(w, config, param, slot.grad, state, t);
        else
          fused_step<float>(w, config, param, slot.grad, state, t);
        store(tensors, state);
        return param;
      }
    }
    auto [param, next] = general_step(weights(differentiable, slot.param.dtype()), config, slot.param, slot.grad,
                                      read_state(tensors), t);
    store(tensors, next);
    return param;
  }

  std::optional<Layout> state_layout(const std::string& field, const Tensor& param) const override {
    const Matrix matrix = matrix_of(param);
    if (field == "momenta") return Layout{{param.numel(), kMomenta}, param.dtype()};
    if (field == "second") return Layout{{param.numel(), 1}, param.dtype()};
    if (field == "rows" && matrix.is_matrix) return Layout{{matrix.rows}, param.dtype()};
    if (field == "columns" && matrix.is_matrix) return Layout{{matrix.columns}, param.dtype()};
    return std::nullopt;
  }
};

Schema general_schema() {
  return {{"weights", Key::Kind::Word, Value(std::string("shipped")), {}},
          {"horizon", Key::Kind::Number, Value(0.0), at_least(0)}};
}

const bool registered = register_optimizer(
    {"general",
     "learned optimizer for problems it never saw (docs/general.md): Adam's direction with a learned per-coordinate "
     "learning rate and correction; weights=shipped (optim/learned/pretrained/general.json, compiled in), PATH of a "
     "JSON list of 1763 numbers, or formula (tests); horizon=STEPS of the run when known",
     general_schema(), [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       const std::string& weights = groups.front().word("weights");
       for (const auto& group : groups)
         MG_CHECK(group.word("weights") == weights, "general: all groups must use one weight file, not '{}' and '{}'",
                  weights, group.word("weights"));
       Tensor phi = weights == "formula" ? general_formula_weights(DType::Float64)
                                         : general_load_weights(weights, DType::Float64);
       return std::make_unique<GeneralOptimizer>(std::move(groups), std::move(phi));
     }});

}  // namespace

std::unique_ptr<Optimizer> make_general_optimizer(const Tensor& phi, const GeneralConfig& config,
                                                  const NamedParameters& params) {
  const std::vector<std::pair<std::string, std::string>> arguments = {{"weights", "given"},
                                                                      {"horizon", std::to_string(config.horizon)}};
  Values hyper = resolve(info("general").schema, arguments, "optimizer general");
  std::vector<ParamGroup> groups;
  groups.push_back({params, std::move(hyper)});
  return std::make_unique<GeneralOptimizer>(std::move(groups), phi);
}

}  // namespace mg::optim::learned
