// `metagrad train`: trains a model on a dataset with any optimizer spec.
#include <cstdio>

#include "commands.hpp"
#include "interrupt.hpp"
#include "metagrad/core/distributed.hpp"
#include "training.hpp"

namespace mg::apps {

void add_train_command(CLI::App& app) {
  auto config = std::make_shared<TrainConfig>();
  auto* train_cmd = app.add_subcommand("train", "Train a model and report per-epoch loss and accuracy");
  add_training_options(*train_cmd, *config);
  train_cmd->add_option("--optimizer", config->optimizer, "Optimizer spec, e.g. 'sgd(lr=0.1, momentum=0.9)'");
  train_cmd->add_option("--checkpoint", config->checkpoint_dir, "Folder for checkpoints (each epoch, and on Ctrl-C)");
  train_cmd->add_flag("--resume", config->resume, "Continue from the checkpoint in --checkpoint");
  train_cmd->add_option("--metrics", config->metrics_path, "Write per-epoch metrics as JSON lines to this file");
  train_cmd->callback([config] {
    TrainResult result;
    {
      InterruptScope interrupt;
      result = train(*config, interrupt.requested());
    }
    if (result.interrupted) {
      if (!distributed::is_main()) throw CLI::RuntimeError(130);
      std::fprintf(stderr, "interrupted: %s\n",
                   config->checkpoint_dir.empty()
                       ? "no --checkpoint folder was given, so nothing was saved"
                       : ("checkpoint written to " + config->checkpoint_dir + "; continue with --resume").c_str());
      throw CLI::RuntimeError(130);
    }
    if (!result.epochs.empty() && distributed::is_main())
      std::printf("final test accuracy %.2f%% (loss %.4f); waited for data %.1f%% of the training loop\n",
                  100 * result.epochs.back().test_accuracy, result.epochs.back().test_loss,
                  100 * result.data_wait_fraction);
  });
}

}  // namespace mg::apps
