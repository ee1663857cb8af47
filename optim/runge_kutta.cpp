// heun and rk4 (paper 3, arXiv:2409.04707, the project's reading of it):
// one-step methods for the gradient flow, evaluating the gradient at stage
// points through the closure (step) or the gradient function (differentiable
// mode). See docs/optimizers.md section 6.
#include "runge_kutta.hpp"

#include "group_rule.hpp"
#include "metagrad/optim/registry.hpp"

namespace mg::optim {

const Tableau& heun_tableau() {
  static const Tableau tableau{{1.0}, {0.5, 0.5}};
  return tableau;
}

const Tableau& rk4_tableau() {
  static const Tableau tableau{{0.5, 0.5, 1.0}, {1.0 / 6, 2.0 / 6, 2.0 / 6, 1.0 / 6}};
  return tableau;
}

namespace {

// grad + weight_decay * point, for every slot.
std::vector<Tensor> with_decay(const StepContext& context, std::vector<Tensor> grads,
                               const std::vector<Tensor>& points) {
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const Slot& slot = context.slots[i];
    if (slot.group->number("weight_decay") != 0)
      grads[i] = grads[i] + as_dtype(hyper_tensor(slot, "weight_decay"), points[i]) * points[i];
  }
  return grads;
}

}  // namespace

std::vector<Tensor> runge_kutta_step(StepContext& context, const Tableau& tableau, std::vector<Tensor>* first_stages) {
  const std::size_t n = context.slots.size();
  std::vector<Tensor> theta, h;
  std::vector<Tensor> first;
  for (const Slot& slot : context.slots) {
    theta.push_back(current_value(context, slot));
    h.push_back(hyper_tensor(slot, "lr"));
    first.push_back(context.differentiable ? slot.grad : slot.grad.detach().clone());
  }
  std::vector<Tensor> k = with_decay(context, first, theta);
  if (first_stages) *first_stages = k;
  std::vector<Tensor> next(n);
  for (std::size_t i = 0; i < n; ++i) next[i] = theta[i] - as_dtype(h[i] * tableau.b[0], theta[i]) * k[i];
  for (std::size_t stage = 1; stage < tableau.b.size(); ++stage) {
    std::vector<Tensor> points(n);
    for (std::size_t i = 0; i < n; ++i) points[i] = theta[i] - as_dtype(h[i] * tableau.a[stage - 1], theta[i]) * k[i];
    std::vector<Tensor> grads = context.gradient_at(points);
    if (!context.differentiable)
      for (auto& g : grads) g = g.clone();  // a closure may accumulate into .grad in place
    k = with_decay(context, grads, points);
    for (std::size_t i = 0; i < n; ++i) next[i] = next[i] - as_dtype(h[i] * tableau.b[stage], theta[i]) * k[i];
  }
  return next;
}

namespace {

class RungeKutta : public Optimizer {
 public:
  RungeKutta(std::string name, std::vector<ParamGroup> groups, const Tableau& tableau)
      : Optimizer(std::move(name), std::move(groups)), tableau_(tableau) {}
  bool requires_closure() const override { return true; }

 protected:
  std::vector<Tensor> step_all(StepContext& context) override { return runge_kutta_step(context, tableau_); }
  std::optional<Layout> state_layout(const std::string&, const Tensor&) const override { return std::nullopt; }

 private:
  const Tableau& tableau_;
};

Schema integrator_schema() {
  return {{"lr", Key::Kind::Number, Value(1e-2), at_least(0)},
          {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)}};
}

const bool heun_registered = register_optimizer(
    {"heun", "Heun's method on the gradient flow: 2 gradient evaluations a step, needs a closure (paper 3)",
     integrator_schema(), [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       return std::make_unique<RungeKutta>("heun", std::move(groups), heun_tableau());
     }});

const bool rk4_registered = register_optimizer(
    {"rk4", "classic 4th-order Runge-Kutta on the gradient flow: 4 evaluations a step, needs a closure (paper 3)",
     integrator_schema(), [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       return std::make_unique<RungeKutta>("rk4", std::move(groups), rk4_tableau());
     }});

}  // namespace
}  // namespace mg::optim
