#pragma once
// One update rule, two ways to run it. A rule is a struct with
//   kState            the names of its per-parameter state tensors;
//   active(i, group)  whether state i is used with these hyperparameters
//                     (e.g. no momentum buffer without momentum);
//   initial(i, group) the starting value of state i (usually 0);
//   kScalarState      (optional) names of 0-dim float64 state it keeps;
//   Coefficients<D>   its per-step scalars, with as<E>() converting them,
//                     and the flags maximize and with_decay;
//   coefficients(h, t, state) computing them from hyperparameters (D =
//                     double, or Tensor in differentiable mode) at step t;
//                     a rule may keep 0-dim scalar state in `state` (NAdam);
//   apply(p, g, state, c, first)  the elementwise update, generic in the
//                     element type (float, double or Tensor).
// RuleOptimizer runs apply over float or double elements in one fused,
// vectorised pass when the tensors are dense (plain training), and over
// Tensors, building a graph, in differentiable mode. The formula is
// written once, following torch.optim's sequence of roundings (see
// multiply_add).
#include <array>
#include <cmath>
#include <type_traits>

#include "core/check.hpp"
#include "core/kernels/multiply_add.hpp"
#include "core/parallel.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/optim/optimizer.hpp"

// Rules' apply() must be inlined into the fused loop for it to vectorise.
#define MG_RULE_INLINE [[gnu::always_inline]] inline

namespace mg::optim {

// Elementwise helpers that read the same for numbers and tensors.
inline float maximum(float a, float b) { return a > b || a != a ? a : b; }
inline double maximum(double a, double b) { return a > b || a != a ? a : b; }
inline float sqrt_safe(float x) { return std::sqrt(x); }
inline double sqrt_safe(double x) { return std::sqrt(x); }
// sqrt whose derivative at 0 is 0 instead of inf * 0 = NaN (meta-gradients).
inline Tensor sqrt_safe(const Tensor& x) {
  const Tensor zero = scalar_tensor(0.0, x.dtype());
  const Tensor positive = gt(x, zero);
  return where(positive, sqrt(where(positive, x, scalar_tensor(1.0, x.dtype()))), zero);
}
// a * b + c rounded once, as torch's add(alpha=) and addcmul kernels round
// it: the rules follow torch.optim op by op with it and are then bit-exact
// with it, in both the fused and the differentiable path.
using kernels::multiply_add;
inline Tensor multiply_add(const Tensor& a, const Tensor& b, const Tensor& c) { return fma(a, b, c); }
// pow whose derivative at 0 is 0 (an exponent below 1 would give inf * 0 =
// NaN), with pow(0, 0) = 1 and pow(0, e < 0) = inf as std::pow has them.
inline float power_safe(float x, double exponent) { return std::pow(x, static_cast<float>(exponent)); }
inline double power_safe(double x, double exponent) { return std::pow(x, exponent); }
inline Tensor power_safe(const Tensor& x, double exponent) {
  const Tensor positive = gt(x, scalar_tensor(0.0, x.dtype()));
  return where(positive, pow(where(positive, x, scalar_tensor(1.0, x.dtype())), exponent),
               scalar_tensor(std::pow(0.0, exponent), x.dtype()));
}
inline double power(double base, double exponent) { return std::pow(base, exponent); }
inline Tensor power(const Tensor& base, double exponent) { return pow(base, exponent); }

// The gradient as the update sees it: negated when maximizing, with weight
// decay either coupled (grad.add(param, alpha=weight_decay)) or, when
// kDecoupled, applied to p first (p.mul_(1 - lr * weight_decay)). C needs
// maximize, with_decay and weight_decay, and decay_factor when decoupled.
template <bool kDecoupled = false, class T, class C>
MG_RULE_INLINE T decayed_gradient(T& p, const T& grad, const C& c) {
  T g = grad;
  if (c.maximize) g = -g;
  if (c.with_decay) {
    if constexpr (kDecoupled)
      p = p * c.decay_factor;
    else
      g = multiply_add(c.weight_decay, p, g);
  }
  return g;
}

// Adam's moment estimates, in state slots 0 (first) and 1 (second):
// m.mul_(beta1).add_(g, alpha=1 - beta1) and
// v.mul_(beta2).addcmul_(g, g, value=1 - beta2).
template <class T, class S, class C>
MG_RULE_INLINE void update_moments(S& s, const T& g, const C& c) {
  s[0] = multiply_add(c.one_minus_beta1, g, c.beta1 * s[0]);
  s[1] = multiply_add(c.one_minus_beta2 * g, g, c.beta2 * s[1]);
}

// A boolean setting that selects a rule's template instance (e.g. amsgrad);
// every group must agree on it.
template <class Get>
bool common_setting(const char* optimizer, const char* setting, const std::vector<ParamGroup>& groups, Get get) {
  const bool value = get(groups.front());
  for (const auto& g : groups)
    MG_CHECK(get(g) == value, "optimizer {}: all groups must agree on {}", optimizer, setting);
  return value;
}

// Hyperparameters as D: plain numbers, or tensors (with optional overrides)
// in differentiable mode.
template <class D>
struct Hyper;

template <>
struct Hyper<double> {
  const ParamGroup& group;
  double operator()(const char* key) const { return group.number(key); }
  bool flag(const char* key) const { return group.flag(key); }
  double constant(double value) const { return value; }
};

// As tensors, the coefficients are computed in float64, as the fused path
// computes them in double, and rounded to the parameters' dtype once at the
// end (CoefficientIn): both paths then see the same numbers.
template <>
struct Hyper<Tensor> {
  const ParamGroup& group;
  const std::map<std::string, Tensor>& overrides;
  static constexpr DType dtype = DType::Float64;
  Tensor operator()(const char* key) const {
    if (auto it = overrides.find(key); it != overrides.end()) return it->second.to(dtype);
    return scalar_tensor(group.number(key), dtype);
  }
  bool flag(const char* key) const { return group.flag(key); }
  Tensor constant(double value) const { return scalar_tensor(value, dtype); }
};

template <DType kDType>
struct CoefficientIn : Tensor {
  explicit CoefficientIn(const Tensor& t) : Tensor(t.to(kDType)) {}
};

// A scalar state value kept as a 0-dim tensor: read as D (1 when absent)...
inline double scalar_state(ParamState& state, const char* key, const Hyper<double>&) {
  auto it = state.tensors.find(key);
  return it == state.tensors.end() ? 1.0 : it->second.item<double>();
}
inline Tensor scalar_state(ParamState& state, const char* key, const Hyper<Tensor>& h) {
  auto it = state.tensors.find(key);
  return it == state.tensors.end() ? scalar_tensor(1.0, h.dtype) : it->second;
}
// ...and written back.
inline void set_scalar_state(ParamState& state, const char* key, double value) {
  state.tensors[key] = Tensor::from_vector(std::vector<double>{value}, {});
}
inline void set_scalar_state(ParamState& state, const char* key, const Tensor& value) { state.tensors[key] = value; }

// The per-step scalars of the Adam family (adam, adamw, smes, rf_adamw):
// Adam's moments with bias corrections bc1 = 1 - beta1^t, bc2 = 1 - beta2^t
// (both 1 without bias correction), decoupled decay 1 - lr*wd, and the
// step size lr/bc1. second_scale and exponent are for the rules that need
// them (rf_adamw's B/bc2, smes's power).
template <class D>
struct MomentCoefficients {
  D beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay, decay_factor, step_size, sqrt_bc2, bc2,
      second_scale;
  double exponent = 0;
  bool maximize = false, with_decay = false;
  template <class E>
  MomentCoefficients<E> as() const {
    return {E(beta1),        E(beta2),        E(one_minus_beta1), E(one_minus_beta2), E(eps),
            E(weight_decay), E(decay_factor), E(step_size),       E(sqrt_bc2),        E(bc2),
            E(second_scale), exponent,        maximize,           with_decay};
  }
};

template <class D>
MomentCoefficients<D> moment_coefficients(const Hyper<D>& h, double t, bool bias_correction = true) {
  using std::sqrt;
  const D lr = h("lr"), b1 = h("beta1"), b2 = h("beta2"), wd = h("weight_decay");
  const D bc1 = bias_correction ? 1 - power(b1, t) : h.constant(1);
  const D bc2 = bias_correction ? 1 - power(b2, t) : h.constant(1);
  MomentCoefficients<D> c{b1, b2, 1 - b1, 1 - b2, h("eps"), wd, 1 - lr * wd, lr / bc1, sqrt(bc2), bc2, bc2};
  c.with_decay = h.group.number("weight_decay") != 0;
  return c;
}

template <class Rule>
class RuleOptimizer : public Optimizer {
 public:
  using Optimizer::Optimizer;

 protected:
  static constexpr std::size_t kStates = Rule::kState.size();

  std::optional<Layout> state_layout(const std::string& field, const Tensor& param) const override {
    for (const char* name : Rule::kState)
      if (field == name) return Layout{param.shape(), param.dtype()};
    if constexpr (requires { Rule::kScalarState; })
      for (const char* name : Rule::kScalarState)
        if (field == name) return Layout{{}, DType::Float64};
    return std::nullopt;
  }

  // Creates the active state tensors that do not exist yet; true when it
  // created any (a rule's "first step", e.g. SGD's buffer = gradient).
  static bool init_state(const ParamGroup& group, const Tensor& param, ParamState& state) {
    NoGradGuard no_grad;
    bool created = false;
    for (std::size_t i = 0; i < kStates; ++i)
      if (Rule::active(i, group) && !state.tensors.count(Rule::kState[i])) {
        state.tensors[Rule::kState[i]] = full(param.shape(), Rule::initial(i, group), param.dtype());
        created = true;
      }
    return created;
  }

  // The active state tensors in kState order (undefined where inactive).
  static std::array<Tensor, kStates> state_tensors(const ParamGroup& group, ParamState& state) {
    std::array<Tensor, kStates> s{};
    for (std::size_t i = 0; i < kStates; ++i)
      if (Rule::active(i, group)) s[i] = state.tensors.at(Rule::kState[i]);
    return s;
  }

  void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) override {
    if (!fusable(param, grad, state)) {
      // Strided or mixed layouts: the same rule on tensors, written back.
      ParamState next = state;
      const Tensor p = update_differentiable(group, {}, param.detach(), grad.detach(), next);
      param.copy_(p);
      for (auto& [key, t] : next.tensors) {
        auto it = state.tensors.find(key);
        if (it == state.tensors.end())
          state.tensors[key] = t;
        else
          it->second.copy_(t);
      }
      return;
    }
    const bool first = init_state(group, param, state);
    const auto c = Rule::coefficients(Hyper<double>{group}, static_cast<double>(state.step), state);
    const auto s = state_tensors(group, state);
    if (param.dtype() == DType::Float32)
      fused<float>(param, grad, s, c.template as<float>(), first);
    else
      fused<double>(param, grad, s, c.template as<double>(), first);
  }

  Tensor update_differentiable(const ParamGroup& group, const std::map<std::string, Tensor>& hyper, const Tensor& param,
                               const Tensor& grad, ParamState& state) override {
    const bool first = init_state(group, param, state);
    auto s = state_tensors(group, state);
    const auto c = Rule::coefficients(Hyper<Tensor>{group, hyper}, static_cast<double>(state.step), state);
    Tensor p = param;
    if (param.dtype() == DType::Float32)
      Rule::apply(p, grad, s, c.template as<CoefficientIn<DType::Float32>>(), first);
    else
      Rule::apply(p, grad, s, c.template as<CoefficientIn<DType::Float64>>(), first);
    for (std::size_t i = 0; i < kStates; ++i)
      if (s[i].defined()) state.tensors[Rule::kState[i]] = s[i];
    return p;
  }

 private:
  static bool fusable(const Tensor& param, const Tensor& grad, const ParamState& state) {
    if (!is_floating(param.dtype()) || !param.is_contiguous() || grad.strides() != param.strides() ||
        grad.dtype() != param.dtype())
      return false;
    for (const auto& [key, t] : state.tensors)
      if (t.dim() > 0 && (t.strides() != param.strides() || t.dtype() != param.dtype())) return false;
    return true;
  }

  // State element i of every state tensor, by reference: a rule touches only
  // the states its flags use, so absent ones are never loaded.
  template <class E>
  struct StateAt {
    E* const* base;
    std::int64_t i;
    E& operator[](std::size_t k) const { return base[k][i]; }
  };

  // The coefficients with the flags every rule has, maximize and with_decay,
  // fixed at compile time (the static members hide C's).
  template <class C, bool kMaximize, bool kWithDecay>
  struct Unswitched : C {
    static constexpr bool maximize = kMaximize, with_decay = kWithDecay;
  };

  // Calls f with std::true_type or std::false_type.
  template <class F>
  static void with_constant(bool value, F&& f) {
    if (value)
      f(std::true_type{});
    else
      f(std::false_type{});
  }

  // One direct pass over the elements, each loaded and stored once. The
  // coefficients are copied to locals; `first`, maximize and with_decay are
  // compile-time constants, so gcc finds no branch left in the loop and
  // vectorises it (it gives up on some loop-invariant branches once a body
  // has grown past its unswitching limit).
  template <class E, class C>
  static void fused(Tensor& param, const Tensor& grad, const std::array<Tensor, kStates>& s, const C& coefficients,
                    bool first_step) {
    E* p = param.data_ptr<E>();
    const E* g = grad.data_ptr<E>();
    std::array<E*, kStates> st{};
    for (std::size_t i = 0; i < kStates; ++i) st[i] = s[i].defined() ? s[i].template data_ptr<E>() : nullptr;
    const auto run = [&](auto first_constant, auto maximize_constant, auto decay_constant) {
      parallel_for(0, param.numel(), kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
        constexpr bool first = decltype(first_constant)::value;
        const Unswitched<C, decltype(maximize_constant)::value, decltype(decay_constant)::value> c{coefficients};
        const std::array<E*, kStates> states = st;
        E* __restrict params = p;
        const E* __restrict grads = g;
#pragma omp simd
        for (std::int64_t i = lo; i < hi; ++i) {
          StateAt<E> state{states.data(), i};
          Rule::apply(params[i], grads[i], state, c, first);
        }
      });
    };
    with_constant(first_step, [&](auto first) {
      with_constant(coefficients.maximize, [&](auto maximize) {
        with_constant(coefficients.with_decay, [&](auto decay) { run(first, maximize, decay); });
      });
    });
  }
};

}  // namespace mg::optim
