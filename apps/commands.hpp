#pragma once
// Each subcommand of the `metagrad` program lives in its own file and adds
// itself to the app here.
#include <CLI/CLI.hpp>
#include <string>

namespace mg::apps {

void add_info_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_optimizers_command(CLI::App& app);
void add_meta_train_command(CLI::App& app);
void add_meta_eval_command(CLI::App& app);
void add_reproduce_command(CLI::App& app);
void add_data_command(CLI::App& app);

// The --task help of meta-train and meta-eval: every task family, by name.
std::string task_help();

struct TrainConfig;
// Adds the flags every subcommand that trains takes (--model, --dataset,
// --epochs, --no-progress, ...), writing into `config`.
void add_training_options(CLI::App& cmd, TrainConfig& config);

}  // namespace mg::apps
