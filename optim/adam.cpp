// Adam (coupled weight decay, optional AMSGrad) and AdamW (decoupled), as torch.optim.
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

// amsgrad decides whether the third state exists; as a template parameter
// it leaves the fused loop without a conditional load, so it vectorises.
template <bool kDecoupled, bool kAmsgrad>
struct Adam {
  static constexpr std::array<const char*, 3> kState{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  static bool active(std::size_t i, const ParamGroup&) { return i < 2 || kAmsgrad; }
  static double initial(std::size_t, const ParamGroup&) { return 0; }

  template <class D>
  using Coefficients = MomentCoefficients<D>;

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double t, ParamState&) {
    MG_CHECK(h.flag("amsgrad") == kAmsgrad, "optimizer adam: amsgrad cannot change after construction");
    auto c = moment_coefficients(h, t);
    c.maximize = h.flag("maximize");
    return c;
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& grad, S& s, const C& c, bool) {
    const T g = decayed_gradient<kDecoupled>(p, grad, c);
    update_moments(s, g, c);
    const T& m = s[0];
    const T& v = s[1];
    T second = v;
    if constexpr (kAmsgrad) {
      s[2] = maximum(s[2], v);  // the raw (uncorrected) maximum
      second = s[2];
    }
    const T denom = sqrt_safe(second) / c.sqrt_bc2 + c.eps;  // eps after the bias correction
    p = p - c.step_size * m / denom;
  }
};

Schema adam_schema(double weight_decay) {
  return {{"lr", Key::Kind::Number, Value(1e-3), at_least(0)},
          {"beta1", Key::Kind::Number, Value(0.9), in_unit_interval()},
          {"beta2", Key::Kind::Number, Value(0.999), in_unit_interval()},
          {"eps", Key::Kind::Number, Value(1e-8), at_least(0)},
          {"weight_decay", Key::Kind::Number, Value(weight_decay), at_least(0)},
          {"amsgrad", Key::Kind::Flag, Value(false), {}},
          {"maximize", Key::Kind::Flag, Value(false), {}}};
}

template <bool kDecoupled>
std::unique_ptr<Optimizer> make_adam(const char* name, std::vector<ParamGroup> groups) {
  if (common_setting(name, "amsgrad", groups, [](const ParamGroup& g) { return g.flag("amsgrad"); }))
    return std::make_unique<RuleOptimizer<Adam<kDecoupled, true>>>(name, std::move(groups));
  return std::make_unique<RuleOptimizer<Adam<kDecoupled, false>>>(name, std::move(groups));
}

const bool adam_registered =
    register_optimizer({"adam", "Adam (Kingma & Ba), coupled L2 weight decay, optional AMSGrad (torch.optim.Adam)",
                        adam_schema(0.0), [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
                          return make_adam<false>("adam", std::move(groups));
                        }});

const bool adamw_registered =
    register_optimizer({"adamw", "Adam with decoupled weight decay (Loshchilov & Hutter; torch.optim.AdamW)",
                        adam_schema(1e-2), [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
                          return make_adam<true>("adamw", std::move(groups));
                        }});

}  // namespace
}  // namespace mg::optim
