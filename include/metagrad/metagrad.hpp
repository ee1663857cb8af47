#pragma once
// The whole public API of metagrad.
#include "metagrad/core/allocator.hpp"
#include "metagrad/core/autograd/engine.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/autograd/gradcheck.hpp"
#include "metagrad/core/autograd/node.hpp"
#include "metagrad/core/dtype.hpp"
#include "metagrad/core/error.hpp"
#include "metagrad/core/generator.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/core/tensor.hpp"
#include "metagrad/core/threading.hpp"
#include "metagrad/core/version.hpp"
