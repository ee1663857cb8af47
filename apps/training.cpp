#include "training.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "metagrad/data/loader.hpp"
#include "metagrad/metagrad.hpp"

namespace mg::apps {
namespace {

namespace F = nn::functional;
using Clock = std::chrono::steady_clock;

struct Datasets {
  std::shared_ptr<data::Dataset> train, test;
};

Datasets load_datasets(const TrainConfig& c) {
  if (c.dataset == "fashion-mnist" || c.dataset == "mnist") {
    const std::string dir = data::locate_dataset(c.dataset, c.data_dir);
    return {data::mnist_like(dir, true, c.dataset), data::mnist_like(dir, false, c.dataset)};
  }
  if (c.dataset == "cifar10" || c.dataset == "cifar100") {
    const std::string dir = data::locate_dataset(c.dataset, c.data_dir);
    return c.dataset == "cifar10" ? Datasets{data::cifar10(dir, true), data::cifar10(dir, false)}
                                  : Datasets{data::cifar100(dir, true), data::cifar100(dir, false)};
  }
  if (c.dataset == "synthetic")
    return {data::synthetic(4096, {1, 28, 28}, 10, c.seed, 0), data::synthetic(1024, {1, 28, 28}, 10, c.seed, 1)};
  throw Error("unknown dataset '" + c.dataset + "' (expected fashion-mnist, mnist, cifar10, cifar100 or synthetic)");
}

std::shared_ptr<nn::Module> make_model(const std::string& name, const Shape& input, std::int64_t classes,
                                       Generator& g) {
  if (name == "mlp") {
    std::int64_t features = 1;
    for (std::int64_t d : input) features *= d;
    return std::make_shared<nn::MLP>(std::vector<std::int64_t>{features, 256, classes}, nn::Activation::Relu, g);
  }
  if (name == "cnn") return std::make_shared<nn::SmallCnn>(input[0], classes, g);
  if (name == "resnet20") return std::make_shared<nn::ResNet20>(input[0], classes, g);
  throw Error("unknown model '" + name + "' (expected mlp, cnn or resnet20)");
}

void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

double count_correct(const Tensor& logits, const Tensor& labels) {
  return sum(eq(argmax(logits, 1), labels)).item<double>();
}

// Running sums over the batches of one epoch (over every rank's shard).
struct Sums {
  double loss = 0, correct = 0, seen = 0;
  void add(double mean_loss, double correct_count, double n) {
    loss += mean_loss * n;
    correct += correct_count;
    seen += n;
  }
};

// Each rank evaluates its shard of the test set; the sums are the job's.
std::pair<double, double> evaluate(nn::Module& model, data::DataLoader& loader, const distributed::Ranks& ranks) {
  NoGradGuard no_grad;
  model.eval();
  Sums sums;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    const Tensor logits = model.forward(batch->inputs);
    sums.add(F::cross_entropy(logits, batch->labels).item<double>(), count_correct(logits, batch->labels),
             static_cast<double>(batch->labels.numel()));
  }
  model.train();
  const std::vector<double> total = ranks.sum({sums.loss, sums.correct, sums.seen});
  return {total[0] / total[2], total[1] / total[2]};
}

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), terminal_(::isatty(::fileno(stderr)) != 0) {}
  void update(int epoch, int epochs, std::int64_t batch, std::int64_t batches, double loss, double images_per_s,
              double eta_s) {
    if (!enabled_) return;
    if (terminal_) {
      const int width = 24, filled = static_cast<int>(width * batch / std::max<std::int64_t>(batches, 1));
      std::fprintf(stderr, "\repoch %d/%d [%s%s] %lld/%lld loss %.4f %.0f img/s ETA %.0fs  ", epoch, epochs,
                   std::string(static_cast<std::size_t>(filled), '#').c_str(),
                   std::string(static_cast<std::size_t>(width - filled), '.').c_str(), static_cast<long long>(batch),
                   static_cast<long long>(batches), loss, images_per_s, eta_s);
    } else if (batch % std::max<std::int64_t>(batches / 5, 1) == 0 || batch == batches) {
      std::fprintf(stderr, "epoch %d/%d step %lld/%lld loss %.4f %.0f img/s ETA %.0fs\n", epoch, epochs,
                   static_cast<long long>(batch), static_cast<long long>(batches), loss, images_per_s, eta_s);
    }
  }
  void finish_line() {
    if (enabled_ && terminal_) std::fputc('\n', stderr);
  }

 private:
  bool enabled_, terminal_;
};

std::string checkpoint_path(const TrainConfig& c) { return c.checkpoint_dir + "/checkpoint.mgt"; }

}  // namespace

namespace {

// An epoch's record by name, as the metrics log and to_json store it.
nlohmann::json record_of(const EpochMetrics& m) {
  return {{"epoch", m.epoch},
          {"step", m.step},
          {"gradient_evaluations", m.evaluations},
          {"train_loss", m.train_loss},
          {"train_accuracy", m.train_accuracy},
          {"test_loss", m.test_loss},
          {"test_accuracy", m.test_accuracy},
          {"lr", m.lr},
          {"images_per_s", std::round(m.images_per_s * 10) / 10},
          {"wall_s", std::round(m.wall_s * 1000) / 1000}};
}

EpochMetrics metrics_of(const nlohmann::json& j) {
  return {j.at("epoch").get<int>(),
          j.at("step").get<std::int64_t>(),
          j.at("gradient_evaluations").get<std::int64_t>(),
          j.at("train_loss").get<double>(),
          j.at("train_accuracy").get<double>(),
          j.at("test_loss").get<double>(),
          j.at("test_accuracy").get<double>(),
          j.at("lr").get<double>(),
          j.at("images_per_s").get<double>(),
          j.at("wall_s").get<double>()};
}

}  // namespace

std::string to_json(const TrainResult& r) {
  nlohmann::json epochs = nlohmann::json::array(), curve = nlohmann::json::array();
  for (const auto& e : r.epochs) {
    nlohmann::json record = record_of(e);
    record["images_per_s"] = e.images_per_s;  // exact, for the rank that reports it
    record["wall_s"] = e.wall_s;
    epochs.push_back(record);
  }
  for (const auto& p : r.loss_curve)
    curve.push_back({{"step", p.step}, {"evaluations", p.evaluations}, {"loss", p.loss}});
  return nlohmann::json{{"epochs", epochs},
                        {"loss_curve", curve},
                        {"interrupted", r.interrupted},
                        {"data_wait_fraction", r.data_wait_fraction}}
      .dump();
}

TrainResult train_result_from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text);
  TrainResult r;
  for (const auto& e : j.at("epochs")) r.epochs.push_back(metrics_of(e));
  for (const auto& p : j.at("loss_curve"))
    r.loss_curve.push_back(
        {p.at("step").get<std::int64_t>(), p.at("evaluations").get<std::int64_t>(), p.at("loss").get<double>()});
  r.interrupted = j.at("interrupted").get<bool>();
  r.data_wait_fraction = j.at("data_wait_fraction").get<double>();
  return r;
}

TrainResult train(const TrainConfig& c, const std::atomic<bool>& stop) {
  require(c.epochs >= 1 && c.batch_size >= 1, "--epochs and --batch-size must be positive");
  if (c.threads > 0) set_num_threads(c.threads);
  Datasets sets = load_datasets(c);
  if (c.limit > 0 && c.limit < sets.train->size()) sets.train = data::subset(sets.train, c.limit);
  data::LoaderOptions options;
  options.batch_size = c.batch_size;
  options.seed = c.seed;
  options.random_crop = c.augment && sets.train->input_shape().size() == 3 && sets.train->input_shape()[1] >= 16;
  options.horizontal_flip = options.random_crop && c.dataset.rfind("cifar", 0) == 0;
  const distributed::Ranks ranks(c.data_parallel);  // the ranks this run's batches are split over
  options.shard = ranks.rank();
  options.shards = ranks.size();
  options = data::normalized_for(c.dataset, options);
  data::DataLoader train_loader(sets.train, options);
  data::LoaderOptions test_options = options;
  test_options.shuffle = false;
  test_options.random_crop = test_options.horizontal_flip = false;
  test_options.batch_size = 500;
  data::DataLoader test_loader(sets.test, test_options);

  Generator init(c.seed);
  auto model = make_model(c.model, sets.train->input_shape(), sets.train->classes(), init);
  std::optional<nn::DataParallel> parallel;
  if (ranks.parallel()) parallel.emplace(*model);
  const std::int64_t run_steps = static_cast<std::int64_t>(c.epochs) * train_loader.batches_per_epoch();
  auto optimizer = optim::make(optim::with_horizon(c.optimizer, run_steps), model->named_parameters());
  auto schedule = optim::make_schedule(c.schedule, *optimizer);

  require(c.budget == "epochs" || c.budget == "evals", "--budget must be epochs or evals, not '" + c.budget + "'");
  int start_epoch = 0;
  std::int64_t start_batch = 0, step = 0, evaluations = 0;
  const std::int64_t max_evaluations =
      c.budget == "evals" ? static_cast<std::int64_t>(c.epochs) * train_loader.batches_per_epoch() : 0;
  const auto budget_spent = [&] { return max_evaluations > 0 && evaluations >= max_evaluations; };
  Sums sums;
  optim::LoopPosition position;
  if (c.resume) {
    require(!c.checkpoint_dir.empty(), "--resume needs --checkpoint DIR");
    position = optim::LoopPosition(optim::load_checkpoint(checkpoint_path(c), *model, *optimizer, schedule.get()),
                                   {"epoch", "batch", "step", "evaluations", "loss_sum", "correct", "seen"},
                                   checkpoint_path(c));
    start_epoch = static_cast<int>(position.number("epoch"));
    start_batch = static_cast<std::int64_t>(position.number("batch"));
    step = static_cast<std::int64_t>(position.number("step"));
    evaluations = static_cast<std::int64_t>(position.number("evaluations"));
    sums = {position.number("loss_sum"), position.number("correct"), position.number("seen")};
  }
  if (!c.checkpoint_dir.empty()) std::filesystem::create_directories(c.checkpoint_dir);
  optim::MetricsLog metrics;  // rank 0 alone reports and saves
  if (!c.metrics_path.empty() && ranks.is_main())
    metrics = optim::MetricsLog(c.metrics_path, c.resume, "step", static_cast<double>(step));

  auto save = [&](int epoch, std::int64_t batch) {
    if (c.checkpoint_dir.empty()) return;
    if (ranks.is_main())
      optim::save_checkpoint(checkpoint_path(c), *model, *optimizer, schedule.get(),
                             position.tensors({{"epoch", epoch},
                                               {"batch", static_cast<double>(batch)},
                                               {"step", static_cast<double>(step)},
                                               {"evaluations", static_cast<double>(evaluations)},
                                               {"loss_sum", sums.loss},
                                               {"correct", sums.correct},
                                               {"seen", sums.seen}}));
    // No rank goes on, or exits, before rank 0's checkpoint is complete (a
    // failure there ends the job from rank 0).
    ranks.barrier();
  };

  TrainResult result;
  Progress progress(c.progress && ranks.is_main());
  double loop_seconds = 0;
  for (int epoch = start_epoch; epoch < c.epochs && !budget_spent(); ++epoch) {
    model->train();
    train_loader.start_epoch(epoch, epoch == start_epoch ? start_batch : 0);
    const auto epoch_start = Clock::now();
    std::int64_t images = 0;
    double recent_loss = 0;
    int recent = 0;
    while (true) {
      const auto loop_start = Clock::now();
      auto batch = train_loader.next();
      if (!batch) break;
      // The loss and gradients on this batch; multi-stage optimizers call it
      // again at their stage points (same batch), and the first call's
      // logits are the ones at the current parameters.
      // Under MPI each rank holds a shard of the batch: its loss is
      // weighted by its share and the gradients summed over ranks.
      Tensor logits, loss;
      const std::int64_t shard_size = batch->labels.numel();
      const auto forward_backward = [&] {
        optimizer->zero_grad();
        const Tensor stage_logits = model->forward(batch->inputs);
        const Tensor stage_loss = F::cross_entropy(stage_logits, batch->labels);
        if (!logits.defined()) {
          logits = stage_logits;
          loss = stage_loss;
        }
        nn::DataParallel::weighted(stage_loss, shard_size, batch->global_size).backward();
        if (parallel) parallel->finish();
        return stage_loss;
      };
      const std::int64_t evaluations_before = optimizer->gradient_evaluations();
      if (optimizer->requires_closure()) {
        optimizer->step(forward_backward);
      } else {
        forward_backward();
        optimizer->step();
      }
      evaluations += optimizer->gradient_evaluations() - evaluations_before;
      // One small all-reduce per step: the batch's loss and accuracy, and
      // whether any rank was asked to stop, so that all stop together.
      const std::vector<double> agreed =
          ranks.sum({nn::DataParallel::weighted(loss, shard_size, batch->global_size).item<double>(),
                     count_correct(logits.detach(), batch->labels), stop.load() ? 1.0 : 0.0});
      const double loss_value = agreed[0];
      require(std::isfinite(loss_value),
              fmt::format("training diverged: the loss is {} at step {} (epoch {}, batch {})", loss_value, step + 1,
                          epoch + 1, batch->index + 1));
      ++step;
      sums.add(loss_value, agreed[1], static_cast<double>(batch->global_size));
      images += batch->global_size;
      recent_loss += loss_value;
      if (++recent == 10) {
        result.loss_curve.push_back({step, evaluations, recent_loss / recent});
        recent_loss = 0;
        recent = 0;
      }
      loop_seconds += std::chrono::duration<double>(Clock::now() - loop_start).count();
      const double elapsed = std::chrono::duration<double>(Clock::now() - epoch_start).count();
      const double rate = static_cast<double>(images) / std::max(elapsed, 1e-9);
      const std::int64_t done = train_loader.next_batch(), total = train_loader.batches_per_epoch();
      progress.update(
          epoch + 1, c.epochs, done, total, sums.loss / sums.seen, rate,
          elapsed / static_cast<double>(std::max<std::int64_t>(done - (epoch == start_epoch ? start_batch : 0), 1)) *
              static_cast<double>(total - done));
      if (budget_spent()) break;
      if (agreed[2] > 0) {
        progress.finish_line();
        save(epoch, train_loader.next_batch());
        result.interrupted = true;
        return result;
      }
    }
    progress.finish_line();
    const double epoch_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    const auto [test_loss, test_accuracy] = evaluate(*model, test_loader, ranks);
    const double lr = schedule->lr();  // the optimizer's (0 for learned optimizers, which have none)
    const EpochMetrics m{epoch + 1,
                         step,
                         evaluations,
                         sums.loss / sums.seen,
                         sums.correct / sums.seen,
                         test_loss,
                         test_accuracy,
                         lr,
                         static_cast<double>(images) / epoch_seconds,
                         position.wall()};
    result.epochs.push_back(m);
    schedule->step(test_loss);
    metrics.write(record_of(m));
    if (ranks.is_main())
      spdlog::info("epoch {}/{}: train loss {:.4f} accuracy {:.2f}%, test loss {:.4f} accuracy {:.2f}%, {:.0f} img/s",
                   m.epoch, c.epochs, m.train_loss, 100 * m.train_accuracy, m.test_loss, 100 * m.test_accuracy,
                   m.images_per_s);
    sums = Sums{};
    save(epoch + 1, 0);
    result.data_wait_fraction = train_loader.waited_seconds() / std::max(loop_seconds, 1e-9);
  }
  return result;
}

}  // namespace mg::apps
