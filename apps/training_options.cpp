// The flags `train` and `compare` share: the task, the data, the run length
// and how it is shown. Each means the same in both subcommands.
#include "commands.hpp"
#include "training.hpp"

namespace mg::apps {

void add_training_options(CLI::App& cmd, TrainConfig& config) {
  cmd.add_option("--model", config.model, "mlp, cnn or resnet20")->check(CLI::IsMember({"mlp", "cnn", "resnet20"}));
  cmd.add_option("--dataset", config.dataset, "fashion-mnist, mnist, cifar10, cifar100 or synthetic")
      ->check(CLI::IsMember({"fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic"}));
  cmd.add_option("--data-dir", config.data_dir,
                 "Folder of the dataset's files (fashion-mnist defaults to Debian's dataset-fashion-mnist)");
  cmd.add_option("--schedule", config.schedule, "Learning-rate schedule spec, stepped once per epoch");
  cmd.add_option("--epochs", config.epochs, "Epochs")->check(CLI::Range(1, 100000));
  cmd.add_option("--batch-size", config.batch_size, "Batch size")->check(CLI::Range(1, 1 << 20));
  cmd.add_option("--seed", config.seed, "Seed of initialisation, data order and augmentation");
  cmd.add_option("--threads", config.threads, "Threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd.add_flag("--augment", config.augment, "Random crops (and flips for CIFAR)");
  cmd.add_option("--limit", config.limit, "Use only the first N training examples")->check(CLI::Range(0, 1 << 30));
  cmd.add_flag("!--no-progress", config.progress, "No progress bar or lines");
  cmd.add_option("--budget", config.budget,
                 "epochs: train --epochs epochs; evals: stop at the gradient evaluations of --epochs epochs of "
                 "one-evaluation steps (multi-stage optimizers such as heun take fewer steps)")
      ->check(CLI::IsMember({"epochs", "evals"}));
}

}  // namespace mg::apps
