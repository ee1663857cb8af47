#pragma once
// The learned layer in one include: tasks, learned optimizers (factories
// of optimizers), meta-gradient estimators and the meta-training loop, each
// in its own header.
#include "metagrad/optim/learned/estimator.hpp"
#include "metagrad/optim/learned/evaluate.hpp"
#include "metagrad/optim/learned/evolution.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"
#include "metagrad/optim/learned/meta_train.hpp"
#include "metagrad/optim/learned/task.hpp"
#include "metagrad/optim/learned/truncated_bptt.hpp"
