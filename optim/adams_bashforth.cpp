// ab2 and ab3 (paper 3, arXiv:2409.04707, the project's reading of it):
// Adams-Bashforth multi-step methods on the gradient flow, one gradient
// evaluation a step and the previous gradients kept. ab3 starts with lower
// orders (Euler, then AB2) or with two rk4 steps. See docs/optimizers.md
// section 6.
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"
#include "runge_kutta.hpp"

namespace mg::optim {
namespace {

// d = c0*g_t + c1*g_{t-1} + c2*g_{t-2} with the constant-step coefficients
// of the highest order the stored gradients allow; theta -= lr*d.
template <int kOrder>
struct AdamsBashforth {
  static constexpr std::array<const char*, 2> kState{"prev_grad", "prev_grad2"};
  static bool active(std::size_t i, const ParamGroup&) { return static_cast<int>(i) < kOrder - 1; }
  static double initial(std::size_t, const ParamGroup&) { return 0; }

  template <class D>
  struct Coefficients {
    D lr, weight_decay, c0, c1, c2;
    bool maximize, with_decay;
    template <class E>
    Coefficients<E> as() const {
      return {E(lr), E(weight_decay), E(c0), E(c1), E(c2), maximize, with_decay};
    }
  };

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double t, ParamState&) {
    const int order = std::min(static_cast<int>(t), kOrder);
    const double c[3][3] = {{1, 0, 0}, {1.5, -0.5, 0}, {23.0 / 12, -16.0 / 12, 5.0 / 12}};
    const double* row = c[order - 1];
    return {h("lr"),
            h("weight_decay"),
            h.constant(row[0]),
            h.constant(row[1]),
            h.constant(row[2]),
            false,
            h.group.number("weight_decay") != 0};
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& grad, S& s, const C& c, bool) {
    const T g = decayed_gradient(p, grad, c);  // coupled: grad + wd*theta
    T d = multiply_add(c.c1, s[0], c.c0 * g);
    if constexpr (kOrder == 3) {
      d = multiply_add(c.c2, s[1], d);
      s[1] = s[0];
    }
    s[0] = g;
    p = multiply_add(-c.lr, d, p);
  }
};

// ab3 with startup=rk4 takes its first two steps with rk4 (which needs the
// closure), keeping their first stages as the stored gradients.
class Ab3 : public RuleOptimizer<AdamsBashforth<3>> {
 public:
  explicit Ab3(std::vector<ParamGroup> groups)
      : RuleOptimizer("ab3", std::move(groups)), rk4_startup_(param_groups().front().word("startup") == "rk4") {}
  bool requires_closure() const override {
    for (const auto& group : param_groups())
      for (const auto& [name, param] : group.params) {
        const ParamState* state = state_of(name);
        return rk4_startup_ && (state == nullptr || state->step < 2);
      }
    return false;
  }

 protected:
  std::vector<Tensor> step_all(StepContext& context) override {
    const bool starting = rk4_startup_ && !context.slots.empty() && context.slots.front().state->step <= 2;
    if (!starting) return RuleOptimizer::step_all(context);
    std::vector<Tensor> first_stages;
    std::vector<Tensor> next = runge_kutta_step(context, rk4_tableau(), &first_stages);
    for (std::size_t i = 0; i < context.slots.size(); ++i) {
      auto& tensors = context.slots[i].state->tensors;
      if (tensors.count("prev_grad")) tensors["prev_grad2"] = tensors["prev_grad"];
      tensors["prev_grad"] = first_stages[i];
    }
    return next;
  }

 private:
  bool rk4_startup_;
};

Schema schema(bool ab3) {
  Schema keys{{"lr", Key::Kind::Number, Value(1e-2), at_least(0)},
              {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)}};
  if (ab3)
    keys.push_back({"startup", Key::Kind::Word, Value(std::string("lower_order")), one_of({"lower_order", "rk4"})});
  return keys;
}

const bool ab2_registered =
    register_optimizer({"ab2", "2-step Adams-Bashforth on the gradient flow: 1.5*g_t - 0.5*g_{t-1} (paper 3)",
                        schema(false), [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
                          return std::make_unique<RuleOptimizer<AdamsBashforth<2>>>("ab2", std::move(groups));
                        }});

const bool ab3_registered = register_optimizer(
    {"ab3", "3-step Adams-Bashforth on the gradient flow; startup=lower_order or rk4 (closure) (paper 3)", schema(true),
     [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       common_setting("ab3", "startup", groups, [](const ParamGroup& g) { return g.word("startup") == "rk4"; });
       return std::make_unique<Ab3>(std::move(groups));
     }});

}  // namespace
}  // namespace mg::optim
