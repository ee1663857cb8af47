#pragma once
// Explicit Runge-Kutta steps of the gradient flow d theta/dt = -grad f(theta)
// with step h = lr (paper 3): heun, rk4, and ab3's rk4 start-up.
#include <vector>

#include "metagrad/optim/optimizer.hpp"

namespace mg::optim {

// Stage i > 0 is evaluated at theta - h * a[i - 1] * k_{i-1}; the step is
// theta - h * sum_i b[i] * k_i. Every evaluation includes coupled weight
// decay: k = grad f(point) + weight_decay * point.
struct Tableau {
  std::vector<double> a, b;
};
const Tableau& heun_tableau();
const Tableau& rk4_tableau();

// One step of every slot; the first stages k1 (with weight decay) go to
// `first_stages` when given. Needs context.gradient_at (a closure).
std::vector<Tensor> runge_kutta_step(StepContext& context, const Tableau& tableau,
                                     std::vector<Tensor>* first_stages = nullptr);

}  // namespace mg::optim
