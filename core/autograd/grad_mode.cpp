#include "metagrad/core/autograd/grad_mode.hpp"

namespace mg::autograd {
namespace {
thread_local bool grad_enabled = true;
}

bool GradMode::is_enabled() { return grad_enabled; }
void GradMode::set_enabled(bool enabled) { grad_enabled = enabled; }

}  // namespace mg::autograd
