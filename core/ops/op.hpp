#pragma once
// What every op definition file needs: the public op declarations, the
// recording helpers of the autograd engine, and argument checks.
#include "core/check.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/autograd/node.hpp"
#include "metagrad/core/ops.hpp"

namespace mg {

using autograd::BackwardArgs;
using autograd::Grads;
using autograd::record;
using autograd::Save;

}  // namespace mg
