// `metagrad meta-train`: meta-trains a learned optimizer on a task family
// (library: optim/learned/meta_train.hpp); Ctrl-C stops after the current epoch
// with a checkpoint that --resume continues bit for bit.
#include <cstdio>

#include "commands.hpp"
#include "interrupt.hpp"
#include "metagrad/metagrad.hpp"

namespace mg::apps {
namespace {

struct Options {
  std::string task = "quadratic", family, learned = "lstm", estimator = "tbptt", mode = "first_order", data_dir,
              fashion_dir, sampling = "gaussian", objective = "train", init, trainable;
  std::int64_t min_steps = 100, max_steps = 2000;
  optim::learned::MetaTrainOptions train;
  optim::learned::TruncatedBpttOptions tbptt;
  optim::learned::EvolutionStrategiesOptions evolution;
  std::int64_t steps = 100, unroll = 20, population = 8;
  std::uint64_t seed = 0;
  int threads = 0;
  // Which options were given: each estimator takes only its own.
  const CLI::Option *mode_option = nullptr, *meta_batch_option = nullptr, *recompute_option = nullptr,
                    *population_option = nullptr, *sigma_option = nullptr, *final_fraction_option = nullptr;
};

// The estimator the flags name, built from its own options: tbptt takes
// --mode, --meta-batch and --recompute-every; es and pes --population
// (pairs, each on its own problem: their meta-batch), --sigma and
// --meta-loss-final.
std::unique_ptr<optim::learned::MetaGradientEstimator> make_estimator(Options& o) {
  const auto refuse = [&](const CLI::Option* option, const char* flag) {
    if (option->count() > 0)
      throw Error(std::string("meta-train: ") + flag + " does not apply to the " + o.estimator + " estimator");
  };
  const auto objective = optim::learned::parse_meta_objective(o.objective);
  if (o.estimator == "tbptt") {
    o.tbptt.objective = objective;
    refuse(o.population_option, "--population");
    refuse(o.sigma_option, "--sigma");
    refuse(o.final_fraction_option, "--meta-loss-final");
    o.tbptt.mode = optim::learned::meta_mode(o.mode);
    return std::make_unique<optim::learned::TruncatedBptt>(o.tbptt);
  }
  refuse(o.mode_option, "--mode");
  refuse(o.meta_batch_option, "--meta-batch");
  refuse(o.recompute_option, "--recompute-every");
  o.train.meta_batch = o.population;
  o.evolution.persistent = o.estimator == "pes";
  o.evolution.seed = o.seed;
  o.evolution.objective = objective;
  return std::make_unique<optim::learned::EvolutionStrategies>(o.evolution);
}

void run(Options o) {
  const auto estimator = make_estimator(o);
  if (o.threads > 0) set_num_threads(o.threads);
  optim::learned::TaskOptions task_options;
  task_options.data_dir = o.data_dir;
  task_options.seed = o.seed;
  task_options.sampling =
      o.sampling == "uniform" ? optim::learned::Sampling::Uniform : optim::learned::Sampling::Gaussian;
  auto task = optim::learned::make_task(o.family.empty() ? o.task : "quadratic", task_options);
  task->steps = o.steps;
  task->unroll = o.unroll;
  std::unique_ptr<optim::learned::TaskFamily> family;
  if (!o.family.empty()) {
    optim::learned::TaskFamilyOptions family_options;
    family_options.fashion_dir = o.fashion_dir;
    family_options.cifar_dir = o.data_dir;
    family_options.seed = o.seed;
    family_options.min_steps = o.min_steps;
    family_options.max_steps = o.max_steps;
    family_options.unroll = o.unroll;
    family = optim::learned::make_task_family(o.family, family_options);
    task = family->task(0);  // what the learned optimizer is made for (hparams: its parameters)
  }
  auto learned = optim::learned::make_learned(o.learned, *task, o.seed);
  if (!o.init.empty()) optim::learned::load_initial_weights(*learned, o.init);
  if (!o.trainable.empty()) learned = optim::learned::train_only(std::move(learned), o.trainable);
  optim::learned::MetaTrainResult result;
  {
    InterruptScope interrupt;
    result = family ? optim::learned::meta_train(*family, *learned, *estimator, o.train, interrupt.requested())
                    : optim::learned::meta_train(*task, *learned, *estimator, o.train, interrupt.requested());
  }
  if (!distributed::is_main()) {
    if (result.interrupted) throw CLI::RuntimeError(130);
    return;
  }
  std::printf("%s after %lld epochs: best validation loss %.6g (epoch %lld); weights in %s/optimizer.json\n",
              result.interrupted ? "stopped" : "done", static_cast<long long>(result.epochs_done),
              result.best_validation, static_cast<long long>(result.best_epoch), o.train.out_dir.c_str());
  if (result.interrupted) {
    std::fprintf(stderr, "interrupted: checkpoint written to %s; continue with --resume\n", o.train.out_dir.c_str());
    throw CLI::RuntimeError(130);
  }
}

}  // namespace

std::string task_help() {
  std::string names;
  for (const auto& name : optim::learned::available_tasks()) names += (names.empty() ? "" : ", ") + name;
  return "Task family: " + names;
}

void add_meta_train_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("meta-train", "Meta-train a learned optimizer on a task family");
  cmd->footer(
      "The defaults (lstm, tbptt first order, adam(lr=1e-3), 1000 epochs) were measured to leave the do-nothing "
      "plateau within 10 epochs on mlp (seeds 0-4 and 11: validation loss 0.64-0.71 at epoch 100, against 2.303) "
      "and quadratic (seeds 0-4: 1.10-1.29 at epoch 100); docs/cli.md has the figures.");
  auto* task = cmd->add_option("--task", o->task, task_help())->check(CLI::IsMember(optim::learned::available_tasks()));
  cmd->add_option("--family", o->family,
                  "Meta-train on a task family instead of one task: mixed (MLPs and logistic regression on "
                  "Fashion-MNIST, CNNs on CIFAR-10 from --data-dir, rotated quadratics; horizons log-uniform in "
                  "[--min-steps, --max-steps])")
      ->check(CLI::IsMember(optim::learned::available_task_families()))
      ->excludes(task);
  cmd->add_option("--min-steps", o->min_steps, "--family: the shortest horizon (default 100)")
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--max-steps", o->max_steps, "--family: the longest horizon (default 2000)")
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--fashion-mnist-dir", o->fashion_dir,
                  "--family: Fashion-MNIST's IDX files (default: Debian's dataset-fashion-mnist)");
  cmd->add_option(
      "--learned", o->learned,
      "lstm (its output layer starts at zero: the optimizer starts by doing nothing), lstm(init=uniform) "
      "(section 5.1's start), lstm(init=code) (the authors' code's start), mlp_lopt, general (docs/general.md: "
      "it starts as adam(lr=1e-3)), or hparams(SPEC): "
      "per-tensor learned learning rates of any "
      "registry optimizer");
  cmd->add_option("--init", o->init,
                  "Start from these weights (a JSON list, as optimizer.json) instead of --learned's own start: a "
                  "later phase from an earlier one's weights (a checkpoint, --resume, takes precedence)");
  cmd->add_option("--trainable", o->trainable,
                  "Meta-train only these entries of the weight list (indices and ranges, e.g. 1696,1698,1760-1762; "
                  "docs/general.md has general's layout), the others fixed at the start's (--init's) values; "
                  "optimizer.json holds the whole list. Resume with the same --init and --trainable");
  cmd->add_option("--estimator", o->estimator,
                  "Meta-gradients by tbptt (truncated backprop), es (antithetic evolution strategies) or pes "
                  "(persistent ES, unbiased over whole runs)")
      ->check(CLI::IsMember({"tbptt", "es", "pes"}));
  cmd->add_option("--meta-objective", o->objective,
                  "What an unroll's meta-loss sums: the training batches' losses (train, default) or those of "
                  "held-out batches at the same parameters (validation)")
      ->check(CLI::IsMember({"train", "validation"}));
  o->mode_option =
      cmd->add_option("--mode", o->mode, "tbptt: first_order (optimizee gradients detached) or second_order")
          ->check(CLI::IsMember({"first_order", "second_order"}));
  o->recompute_option =
      cmd->add_option("--recompute-every", o->tbptt.recompute_every,
                      "tbptt: keep the state every S steps of an unroll and recompute the rest in backward (memory "
                      "grows with unroll/S + S instead of the unroll; same meta-gradients)")
          ->check(CLI::Range(1, 1000000));
  o->population_option =
      cmd->add_option("--population", o->population,
                      "es, pes: antithetic pairs per meta-iteration (and rank), each on its own problem, run "
                      "concurrently (default 8)")
          ->check(CLI::Range(1, 100000));
  o->final_fraction_option =
      cmd->add_option("--meta-loss-final", o->evolution.final_fraction,
                      "es, pes: the meta-loss counts only the losses of the last F of each run (default 1: the whole "
                      "run, the area under the loss curve); 0.1 is the final loss the held-out suite judges by");
  o->sigma_option = cmd->add_option("--sigma", o->evolution.sigma, "es, pes: standard deviation of the perturbations")
                        ->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", o->train.epochs, "Meta-training epochs (--meta-batch fresh problems each)")
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--steps", o->steps, "Optimizee steps per problem")->check(CLI::Range(1, 1000000));
  cmd->add_option("--unroll", o->unroll, "Steps per truncated unroll (a meta-update each)")
      ->check(CLI::Range(1, 1000000));
  o->meta_batch_option =
      cmd->add_option("--meta-batch", o->train.meta_batch,
                      "tbptt: problems per meta-iteration (and rank), run concurrently; their meta-gradients are "
                      "averaged")
          ->check(CLI::Range(1, 100000));
  cmd->add_option("--meta-optimizer", o->train.meta_optimizer, "Registry spec of the meta-optimizer");
  cmd->add_option("--clip-meta-gradients", o->train.update.clip,
                  "Clip each entry of every meta-gradient to [-C, C] before the meta-optimizer sees it (0: off)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--skip-non-finite", o->train.update.skip_non_finite,
                "A NaN or infinite meta-gradient skips its meta-update (counted as skipped_updates in "
                "meta-metrics.jsonl) instead of stopping the run");
  cmd->add_option("--eval-every", o->train.eval_every, "Validate (and checkpoint) every N epochs")
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--validation-problems", o->train.validation_problems, "Fixed validation problems")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", o->seed, "Seed of the initial weights, of every problem and of es/pes's perturbations");
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_option("--data-dir", o->data_dir, "Folder of the task's dataset (mlp: Fashion-MNIST IDX files)");
  cmd->add_option("--sampling", o->sampling, "quadratic: gaussian or uniform entries")
      ->check(CLI::IsMember({"gaussian", "uniform"}));
  cmd->add_option("--out", o->train.out_dir, "Folder for the checkpoint, meta-metrics.jsonl and optimizer.json")
      ->required();
  cmd->add_flag("--resume", o->train.resume, "Continue from the checkpoint in --out");
  cmd->add_flag("!--no-progress", o->train.progress, "No progress line");
  cmd->callback([o] { run(*o); });
}

}  // namespace mg::apps
