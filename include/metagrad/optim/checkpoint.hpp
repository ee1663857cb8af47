#pragma once
// Training checkpoints: a model, its optimizer and (optionally) its schedule,
// saved together so that a run resumes bit for bit.
#include <string>

#include "metagrad/nn/module.hpp"
#include "metagrad/optim/optimizer.hpp"
#include "metagrad/optim/schedule.hpp"

namespace mg::optim {

// A training checkpoint: model, optimizer and (optional) schedule state,
// plus any extra named tensors (RNG state, data position), in one file
// written atomically. Loading validates everything before changing anything.
void save_checkpoint(const std::string& path, const nn::Module& model, const Optimizer& optimizer,
                     const Schedule* schedule = nullptr, const nn::NamedTensors& extra = {});
nn::NamedTensors load_checkpoint(const std::string& path, nn::Module& model, Optimizer& optimizer,
                                 Schedule* schedule = nullptr);

}  // namespace mg::optim
