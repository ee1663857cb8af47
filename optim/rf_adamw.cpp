// RF-AdamW (paper 5, arXiv:2402.03496, the authors' released code): AdamW
// without the square root, the second moment scaled by the batch size B and
// starting at v = 1/B. See docs/optimizers.md section 8.2.
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

struct RfAdamW {
  static constexpr std::array<const char*, 2> kState{"exp_avg", "exp_avg_sq"};
  static bool active(std::size_t, const ParamGroup&) { return true; }
  static double initial(std::size_t i, const ParamGroup& g) {
    return i == 1 && g.word("v_init") == "ones" ? 1.0 / batch_factor(g) : 0.0;
  }
  static double batch_factor(const ParamGroup& g) { return g.flag("batch_scaling") ? g.number("batch_size") : 1.0; }

  template <class D>
  using Coefficients = MomentCoefficients<D>;

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double t, ParamState&) {
    auto c = moment_coefficients(h, t, h.flag("bias_correction"));
    c.second_scale = batch_factor(h.group) / c.bc2;  // B / bc2
    return c;
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& grad, S& s, const C& c, bool) {
    const T g = decayed_gradient<true>(p, grad, c);
    update_moments(s, g, c);
    p = p - c.step_size * s[0] / multiply_add(c.second_scale, s[1], c.eps);
  }
};

const bool registered =
    register_optimizer({"rf_adamw",
                        "root-free AdamW: m / (B*v + eps), v starting at 1/B (paper 5, authors' code)",
                        {{"lr", Key::Kind::Number, Value(1e-3), at_least(0)},
                         {"beta1", Key::Kind::Number, Value(0.9), in_unit_interval()},
                         {"beta2", Key::Kind::Number, Value(0.999), in_unit_interval()},
                         {"eps", Key::Kind::Number, Value(1e-4), at_least(0)},
                         {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
                         {"batch_size", Key::Kind::Integer, std::nullopt, at_least(1)},
                         {"bias_correction", Key::Kind::Flag, Value(false), {}},
                         {"v_init", Key::Kind::Word, Value(std::string("ones")), one_of({"ones", "zeros"})},
                         {"batch_scaling", Key::Kind::Flag, Value(true), {}}},
                        [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
                          return std::make_unique<RuleOptimizer<RfAdamW>>("rf_adamw", std::move(groups));
                        }});

}  // namespace
}  // namespace mg::optim
