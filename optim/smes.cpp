// SMES (paper 4, arXiv:2405.18498): Adam's bias-corrected moments with the
// second moment raised to `exponent`, eps outside the power. exponent 0.5 is
// Adam (bit for bit, the same arithmetic), 0 bias-corrected EMA momentum, 1
// a root-free Adam. See docs/optimizers.md section 7.
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

// glibc's libmvec has vector pow; declaring it lets gcc vectorise the fused
// loop of a general exponent (as core/kernels/vector_math.hpp does for exp).
extern "C" {
__attribute__((simd("notinbranch"))) float powf(float, float) noexcept;
__attribute__((simd("notinbranch"))) double pow(double, double) noexcept;
}

namespace mg::optim {
namespace {

// How the second moment is raised: Adam's sqrt(v)/sqrt(bc2) at 0.5 (the
// same arithmetic as adam), two square roots at 0.25 (the default; cheaper
// than pow), pow otherwise.
enum class Root { Adam, Fourth, General };

Root root_of(double exponent) {
  if (exponent == 0.5) return Root::Adam;
  if (exponent == 0.25) return Root::Fourth;
  return Root::General;
}

// kDecoupled applies weight decay to the parameter first (AdamW). As
// template parameters they leave the fused loop without branches.
template <bool kDecoupled, Root kRoot>
struct Smes {
  static constexpr std::array<const char*, 2> kState{"exp_avg", "exp_avg_sq"};
  static bool active(std::size_t, const ParamGroup&) { return true; }
  static double initial(std::size_t, const ParamGroup&) { return 0; }

  template <class D>
  using Coefficients = MomentCoefficients<D>;

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double t, ParamState&) {
    auto c = moment_coefficients(h, t);
    c.exponent = h.group.number("exponent");
    return c;
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& grad, S& s, const C& c, bool) {
    const T g = decayed_gradient<kDecoupled>(p, grad, c);
    update_moments(s, g, c);
    T denom;
    if constexpr (kRoot == Root::Adam)
      denom = sqrt_safe(s[1]) / c.sqrt_bc2 + c.eps;
    else if constexpr (kRoot == Root::Fourth)
      denom = sqrt_safe(sqrt_safe(s[1] / c.bc2)) + c.eps;
    else
      denom = power_safe(s[1] / c.bc2, c.exponent) + c.eps;  // pow(0, 0) = 1; pow(0, e < 0) = inf: no update
    p = p - c.step_size * s[0] / denom;
  }
};

template <bool kDecoupled>
std::unique_ptr<Optimizer> make_smes(std::vector<ParamGroup> groups) {
  const Root root = root_of(groups.front().number("exponent"));
  common_setting("smes", "exponent (0.5, 0.25 or another)", groups,
                 [&](const ParamGroup& g) { return root_of(g.number("exponent")) == root; });
  switch (root) {
    case Root::Adam:
      return std::make_unique<RuleOptimizer<Smes<kDecoupled, Root::Adam>>>("smes", std::move(groups));
    case Root::Fourth:
      return std::make_unique<RuleOptimizer<Smes<kDecoupled, Root::Fourth>>>("smes", std::move(groups));
    case Root::General:
      break;
  }
  return std::make_unique<RuleOptimizer<Smes<kDecoupled, Root::General>>>("smes", std::move(groups));
}

const bool registered = register_optimizer(
    {"smes",
     "second-moment exponential scaling: Adam with v^exponent (paper 4; 0 = EMA momentum, 0.5 = Adam, 1 = root-free)",
     {{"lr", Key::Kind::Number, Value(1e-3), at_least(0)},
      {"beta1", Key::Kind::Number, Value(0.9), in_unit_interval()},
      {"beta2", Key::Kind::Number, Value(0.999), in_unit_interval()},
      {"eps", Key::Kind::Number, Value(1e-8), at_least(0)},
      {"exponent", Key::Kind::Number, Value(0.25), {}},
      {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
      {"decoupled_weight_decay", Key::Kind::Flag, Value(false), {}}},
     [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       if (common_setting("smes", "decoupled_weight_decay", groups,
                          [](const ParamGroup& g) { return g.flag("decoupled_weight_decay"); }))
         return make_smes<true>(std::move(groups));
       return make_smes<false>(std::move(groups));
     }});

}  // namespace
}  // namespace mg::optim
