// RLLC (paper 1, arXiv:2402.15262, the project's reading of it): k memory
// units per tensor, M <- M U + g u^T, and a learning law L (theta -= lr*M L)
// corrected retrospectively by the least-squares fit of the new gradient on
// the memory (L += law_lr * pinv(M^T M) M^T g), summed over all tensors
// (scope=global) or per tensor. See docs/optimizers.md section 4.
//
// M is kept as a (k, n) matrix per tensor (state "memory"); Gram matrices and
// solves are float64 whatever the parameters' dtype. In differentiable mode
// the pseudo-inverse's first derivative is exact (Golub & Pereyra's formula
// for a locally constant rank); its second derivative is not formed.
#include <cmath>

#include "group_rule.hpp"
#include "metagrad/core/linalg.hpp"
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

constexpr auto f64 = DType::Float64;

// The memory's propagator U (k x k), input gain u (k) and initial law (k).
struct Memory {
  std::int64_t k;
  std::vector<double> propagator, input_gain, law_init;
};

// e_1 of length k >= 1 (the schema checks k).
std::vector<double> unit(std::int64_t k) {
  std::vector<double> e{1.0};
  e.resize(static_cast<std::size_t>(std::max<std::int64_t>(k, 1)), 0.0);
  return e;
}

Memory preset(const ParamGroup& g) {
  const std::string& memory = g.word("memory");
  const double beta = g.number("beta");
  Memory m;
  if (memory == "momentum") {
    m = {1, {beta}, {1}, {1}};
  } else if (memory == "momentum_grad") {
    m = {2, {beta, 0, 0, 0}, {1, 1}, {1, 0}};
  } else if (memory == "jordan") {
    const auto k = static_cast<std::int64_t>(g.number("k"));
    m = {k, std::vector<double>(static_cast<std::size_t>(k * k), 0.0), unit(k), unit(k)};
    for (std::int64_t i = 0; i < k; ++i) {
      m.propagator[static_cast<std::size_t>(i * k + i)] = beta;
      if (i + 1 < k) m.propagator[static_cast<std::size_t>(i * k + i + 1)] = 1;
    }
  } else if (memory == "complex") {
    const double r = g.number("r"), phi = g.number("phi");
    m = {2, {r * std::cos(phi), r * std::sin(phi), -r * std::sin(phi), r * std::cos(phi)}, {1, 0}, {1, 0}};
  } else if (memory == "multi") {
    const auto& decays = g.numbers("decays");
    const auto k = static_cast<std::int64_t>(decays.size());
    m = {k, std::vector<double>(static_cast<std::size_t>(k * k), 0.0), std::vector<double>(decays.size(), 1.0),
         std::vector<double>(decays.size(), 1.0 / static_cast<double>(k))};
    for (std::int64_t i = 0; i < k; ++i) m.propagator[static_cast<std::size_t>(i * k + i)] = decays[i];
  } else {  // custom
    const auto& gain = g.numbers("input_gain");
    const auto k = static_cast<std::int64_t>(gain.size());
    MG_CHECK(k >= 1, "optimizer rllc: memory=custom needs input_gain (k numbers, e.g. input_gain=1:0)");
    MG_CHECK(static_cast<std::int64_t>(g.numbers("propagator").size()) == k * k,
             "optimizer rllc: memory=custom needs propagator with k*k = {} numbers (row-major), got {}", k * k,
             g.numbers("propagator").size());
    m = {k, g.numbers("propagator"), gain, unit(k)};
  }
  if (!g.numbers("law_init").empty()) {
    MG_CHECK(static_cast<std::int64_t>(g.numbers("law_init").size()) == m.k,
             "optimizer rllc: law_init has {} numbers but memory={} has k = {} units", g.numbers("law_init").size(),
             memory, m.k);
    m.law_init = g.numbers("law_init");
  }
  return m;
}

Tensor matrix(const std::vector<double>& values, std::int64_t rows, std::int64_t cols) {
  return Tensor::from_vector(values, {rows, cols});
}

// pinv(G) r for a symmetric k x k Gram matrix (float64), cutting eigenvalues
// at pinv_rtol * max; with a graph, differentiable to first order.
Tensor pinv_solve(const Tensor& gram, const Tensor& r, double rtol) {
  const std::int64_t k = gram.size(0);
  const SymmetricEigen eigen = eigh(gram);
  const auto values = eigen.values.to_vector<double>();
  const double largest = values.back();
  if (!(largest > 0)) return zeros_like(r);
  std::vector<double> inverse(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) inverse[i] = values[i] > rtol * largest ? 1 / values[i] : 0.0;
  const Tensor& q = eigen.vectors;
  const Tensor pinv = matmul(q * Tensor::from_vector(inverse, {1, k}), q.t());  // constant
  if (!gram.requires_grad()) return matmul(pinv, r);
  // d pinv = -P dG P + P^2 dG (I - G P) + (I - P G) dG P^2 (G symmetric);
  // dG = gram - gram.detach() is 0 in value and carries the derivative.
  const Tensor fixed = gram.detach(), delta = gram - fixed, eye = identity_matrix(k);
  const Tensor p2 = matmul(pinv, pinv);
  const Tensor differential = -matmul(matmul(pinv, delta), pinv) +
                              matmul(matmul(p2, delta), eye - matmul(fixed, pinv)) +
                              matmul(matmul(eye - matmul(pinv, fixed), delta), p2);
  return matmul(pinv + differential, r);
}

class Rllc : public Optimizer {
 public:
  explicit Rllc(std::vector<ParamGroup> groups)
      : Optimizer("rllc", std::move(groups)), memory_(preset(param_groups().front())) {
    const std::int64_t k = memory_.k;
    propagator_t_ = matrix(memory_.propagator, k, k).t().contiguous();
    input_gain_ = matrix(memory_.input_gain, k, 1);
    global_ = param_groups().front().word("scope") == "global";
  }

 protected:
  std::vector<Tensor> step_all(StepContext& context) override {
    if (context.slots.empty()) return {};
    const ParamGroup& first = *context.slots.front().group;
    std::vector<Tensor> grads;
    for (const Slot& slot : context.slots) grads.push_back(decayed(slot));
    if (global_) {
      auto law = context.global->find("law");
      if (law == context.global->end()) {
        (*context.global)["law"] = initial_law();
      } else {
        Tensor gram = zeros({memory_.k, memory_.k}, f64), r = zeros({memory_.k, 1}, f64);
        for (std::size_t i = 0; i < context.slots.size(); ++i)
          accumulate(context.slots[i].state->tensors.at("memory"), grads[i], gram, r);
        law->second = law->second + hyper_tensor(context.slots.front(), "law_lr") * correction(first, gram, r);
      }
    }
    std::vector<Tensor> updated;
    for (std::size_t i = 0; i < context.slots.size(); ++i)
      updated.push_back(step_tensor(context, context.slots[i], grads[i]));
    return updated;
  }

  std::optional<Layout> state_layout(const std::string& field, const Tensor& param) const override {
    if (field == "memory") return Layout{{memory_.k, param.numel()}, param.dtype()};
    if (field == "law" && !global_) return Layout{{memory_.k, 1}, f64};
    return std::nullopt;
  }
  std::optional<Layout> global_layout(const std::string& field) const override {
    if (field == "law" && global_) return Layout{{memory_.k, 1}, f64};
    return std::nullopt;
  }

 private:
  Tensor initial_law() const { return matrix(memory_.law_init, memory_.k, 1); }

  // The gradient as a (1, n) row, with coupled weight decay.
  static Tensor decayed(const Slot& slot) {
    Tensor g = slot.grad.reshape({1, slot.param.numel()});
    if (slot.group->number("weight_decay") != 0)
      g = g + as_dtype(hyper_tensor(slot, "weight_decay"), g) * slot.param.reshape({1, slot.param.numel()});
    return g;
  }

  // gram += M M^T, r += M g^T, in float64.
  static void accumulate(const Tensor& memory, const Tensor& g, Tensor& gram, Tensor& r) {
    const Tensor m = memory.to(f64);
    gram = gram + matmul(m, m.t());
    r = r + matmul(m, g.to(f64).t());
  }

  // The law's correction x: least-squares coefficients (pinv) or M^T g.
  static Tensor correction(const ParamGroup& group, const Tensor& gram, const Tensor& r) {
    if (group.word("law_update") == "transpose") return r;
    const std::int64_t k = gram.size(0);
    Tensor symmetric = 0.5 * (gram + gram.t());
    if (group.number("ridge") > 0) symmetric = symmetric + group.number("ridge") * identity_matrix(k);
    return pinv_solve(symmetric, r, group.number("pinv_rtol"));
  }

  // The law (per-tensor scope: corrected here), the memory and the parameter.
  Tensor step_tensor(const StepContext& context, const Slot& slot, const Tensor& g) const {
    auto& tensors = slot.state->tensors;
    Tensor law;
    if (global_) {
      law = context.global->at("law");
    } else {
      auto it = tensors.find("law");
      if (it == tensors.end()) {
        law = initial_law();
      } else {
        Tensor gram = zeros({memory_.k, memory_.k}, f64), r = zeros({memory_.k, 1}, f64);
        accumulate(tensors.at("memory"), g, gram, r);
        law = it->second + hyper_tensor(slot, "law_lr") * correction(*slot.group, gram, r);
      }
      tensors["law"] = law;
    }
    auto memory = tensors.find("memory");
    const Tensor u = input_gain_.to(slot.param.dtype());
    Tensor m = matmul(u, g);  // g u^T, as rows
    if (memory != tensors.end()) m = matmul(propagator_t_.to(slot.param.dtype()), memory->second) + m;
    tensors["memory"] = m;
    const Tensor direction = matmul(law.t().to(slot.param.dtype()), m).reshape(slot.param.shape());
    return slot.param - as_dtype(hyper_tensor(slot, "lr"), slot.param) * direction;
  }

  Memory memory_;
  Tensor propagator_t_, input_gain_;
  bool global_;
};

const bool registered = register_optimizer(
    {"rllc",
     "RLLC: memory units with a learning law corrected by least squares on the next gradient (paper 1)",
     {{"lr", Key::Kind::Number, Value(1e-2), at_least(0)},
      {"law_lr", Key::Kind::Number, Value(1e-2), at_least(0)},
      {"memory", Key::Kind::Word, Value(std::string("momentum_grad")),
       one_of({"momentum", "momentum_grad", "jordan", "complex", "multi", "custom"})},
      {"beta", Key::Kind::Number, Value(0.9), {}},
      {"k", Key::Kind::Integer, Value(2.0), at_least(1)},
      {"r", Key::Kind::Number, Value(0.9), {}},
      {"phi", Key::Kind::Number, Value(0.5), {}},
      {"decays", Key::Kind::Numbers, Value(std::vector<double>{0.9, 0.5}), {}},
      {"propagator", Key::Kind::Numbers, Value(std::vector<double>{}), {}},
      {"input_gain", Key::Kind::Numbers, Value(std::vector<double>{}), {}},
      {"law_init", Key::Kind::Numbers, Value(std::vector<double>{}), {}},
      {"scope", Key::Kind::Word, Value(std::string("global")), one_of({"global", "per_tensor"})},
      {"law_update", Key::Kind::Word, Value(std::string("pinv")), one_of({"pinv", "transpose"})},
      {"pinv_rtol", Key::Kind::Number, Value(1e-6), at_least(0)},
      {"ridge", Key::Kind::Number, Value(0.0), at_least(0)},
      {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)}},
     [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       for (const char* key : {"memory", "scope", "law_update"})
         common_setting("rllc", key, groups,
                        [&](const ParamGroup& g) { return g.word(key) == groups.front().word(key); });
       for (const char* key : {"k", "beta", "r", "phi"})
         common_setting("rllc", key, groups,
                        [&](const ParamGroup& g) { return g.number(key) == groups.front().number(key); });
       return std::make_unique<Rllc>(std::move(groups));
     }});

}  // namespace
}  // namespace mg::optim
