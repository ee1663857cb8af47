// Trains a CNN of our own on CIFAR-10 the way a C++ user would: a custom
// nn::Module, the DataLoader with augmentation, a registry optimizer and a
// schedule, evaluation each epoch, and a checkpoint to resume from. It reads
// the dataset's binary files: `metagrad data fetch cifar10` downloads them to
// ~/.local/share/metagrad/cifar10; tests/data/cifar-10-slice holds a slice.
//
//   cifar_cnn [--data-dir DIR] [--epochs 8] [--checkpoint run.mgt [--resume]] [--stop-after N]
//             [--threads N] [--seed S]
//
// --stop-after N ends the run after epoch N (of --epochs, which sets the
// schedule's length), as a job with a time slot would; --resume continues it.
// A resumed run continues exactly where the uninterrupted one would be: the
// checkpoint holds the weights, the optimizer's and the schedule's state and
// the epoch, and the loader's order and augmentation are functions of
// (seed, epoch), so nothing else needs saving.
#include <metagrad/data/loader.hpp>
#include <metagrad/metagrad.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace {

namespace F = mg::nn::functional;
using mg::Tensor;

// conv-bn-relu blocks with pooling, global average pooling, a linear head.
// Names matter: the optimizer below excludes "bias" and "bn" parameters from
// weight decay by name.
class Net : public mg::nn::Module {
 public:
  explicit Net(mg::Generator& generator) {
    const std::int64_t widths[] = {3, 32, 64, 128};
    for (int i = 0; i < 3; ++i) {
      const std::string n = std::to_string(i + 1);
      // No bias: the batch norm after it has its own.
      const auto conv = mg::nn::Conv2dOptions(widths[i], widths[i + 1], 3).padding(1).bias(false);
      convs_.push_back(register_module("conv" + n, std::make_shared<mg::nn::Conv2d>(conv, generator)));
      norms_.push_back(register_module("bn" + n, std::make_shared<mg::nn::BatchNorm2d>(widths[i + 1])));
    }
    fc_ = register_module("fc", std::make_shared<mg::nn::Linear>(mg::nn::LinearOptions(128, 10), generator));
  }

  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      h = mg::relu(norms_[i]->forward(convs_[i]->forward(h)));
      if (i + 1 < convs_.size()) h = F::max_pool2d(h, 2, 2, 0);  // 32 -> 16 -> 8
    }
    return fc_->forward(F::adaptive_avg_pool2d(h, 1, 1).flatten(1));
  }
  std::string type_name() const override { return "Net"; }

 private:
  std::vector<std::shared_ptr<mg::nn::Conv2d>> convs_;
  std::vector<std::shared_ptr<mg::nn::BatchNorm2d>> norms_;
  std::shared_ptr<mg::nn::Linear> fc_;
};

struct Options {
  std::string data_dir, checkpoint;
  int epochs = 8, stop_after = 0, threads = 0;
  std::uint64_t seed = 0;
  bool resume = false;
};

long long integer(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') throw mg::Error(flag + " expects an integer, got '" + text + "'");
  return value;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw mg::Error(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--data-dir")
      o.data_dir = value();
    else if (flag == "--checkpoint")
      o.checkpoint = value();
    else if (flag == "--epochs")
      o.epochs = static_cast<int>(integer(flag, value()));
    else if (flag == "--stop-after")
      o.stop_after = static_cast<int>(integer(flag, value()));
    else if (flag == "--threads")
      o.threads = static_cast<int>(integer(flag, value()));
    else if (flag == "--seed")
      o.seed = static_cast<std::uint64_t>(integer(flag, value()));
    else if (flag == "--resume")
      o.resume = true;
    else
      throw mg::Error("unknown flag '" + flag +
                      "' (expected --data-dir, --epochs, --checkpoint, --resume, --stop-after, --threads, --seed)");
  }
  // Without --data-dir: the dataset `metagrad data fetch cifar10` put in the default data folder.
  o.data_dir = mg::data::locate_dataset("cifar10", o.data_dir);
  if (o.epochs < 1) throw mg::Error("--epochs must be at least 1");
  if ((o.resume || o.stop_after > 0) && o.checkpoint.empty())
    throw mg::Error("--resume and --stop-after need --checkpoint FILE");
  return o;
}

struct Score {
  double loss = 0, accuracy = 0;
};

// Mean loss and accuracy over one pass of the loader; `optimizer` trains.
Score run_epoch(Net& net, mg::data::DataLoader& loader, std::int64_t epoch, mg::optim::Optimizer* optimizer) {
  const bool training = optimizer != nullptr;
  net.train(training);
  std::optional<mg::NoGradGuard> no_grad;
  if (!training) no_grad.emplace();
  double loss_sum = 0, correct = 0, seen = 0;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) {
    const Tensor logits = net(batch->inputs);
    const Tensor loss = F::cross_entropy(logits, batch->labels);
    if (training) {
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
    }
    const double n = static_cast<double>(batch->labels.numel());
    loss_sum += loss.item<double>() * n;
    correct += mg::sum(mg::eq(mg::argmax(logits.detach(), 1), batch->labels)).item<double>();
    seen += n;
  }
  return {loss_sum / seen, correct / seen};
}

int run(const Options& o) {
  if (o.threads > 0) mg::set_num_threads(o.threads);
  auto train_set = mg::data::cifar10(o.data_dir, true);
  auto test_set = mg::data::cifar10(o.data_dir, false);

  mg::data::LoaderOptions train_options;
  train_options.batch_size = 128;
  train_options.seed = o.seed;
  train_options.random_crop = true;  // pad by 4, crop back to 32x32
  train_options.horizontal_flip = true;
  train_options = mg::data::normalized_for("cifar10", train_options);
  mg::data::LoaderOptions test_options = train_options;
  test_options.shuffle = test_options.random_crop = test_options.horizontal_flip = false;
  test_options.batch_size = 500;
  mg::data::DataLoader train_loader(train_set, train_options), test_loader(test_set, test_options);

  mg::Generator init(o.seed);
  Net net(init);
  auto optimizer = mg::optim::make("adamw(lr=3e-3, weight_decay=5e-2, wd_exclude=bias:bn)", net.named_parameters());
  auto schedule = mg::optim::make_schedule("cosine(t_max=" + std::to_string(o.epochs) + ")", *optimizer);

  std::int64_t first_epoch = 0;
  mg::optim::LoopPosition position;  // the epoch, and the wall clock over every stint
  if (o.resume) {
    position = mg::optim::LoopPosition(mg::optim::load_checkpoint(o.checkpoint, net, *optimizer, schedule.get()),
                                       {"epoch"}, o.checkpoint);
    first_epoch = static_cast<std::int64_t>(position.number("epoch"));
    std::printf("resumed from %s after epoch %lld\n", o.checkpoint.c_str(), static_cast<long long>(first_epoch));
  }
  std::printf("%lld training and %lld test images, %lld parameters\n", static_cast<long long>(train_set->size()),
              static_cast<long long>(test_set->size()), static_cast<long long>(net.parameter_count()));

  Score test;
  const std::int64_t last_epoch = o.stop_after > 0 ? std::min(o.stop_after, o.epochs) : o.epochs;
  for (std::int64_t epoch = first_epoch; epoch < last_epoch; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    const Score train = run_epoch(net, train_loader, epoch, optimizer.get());
    test = run_epoch(net, test_loader, 0, nullptr);
    schedule->step();
    if (!o.checkpoint.empty())
      mg::optim::save_checkpoint(o.checkpoint, net, *optimizer, schedule.get(),
                                 position.tensors({{"epoch", static_cast<double>(epoch + 1)}}));
    std::printf("epoch %lld/%d  train loss %.4f acc %5.1f%%  test loss %.4f acc %5.1f%%  (%.1f s, %.0f s in all)\n",
                static_cast<long long>(epoch + 1), o.epochs, train.loss, 100 * train.accuracy, test.loss,
                100 * test.accuracy, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                position.wall());
  }
  if (last_epoch < o.epochs) {
    std::printf("stopped after epoch %lld; continue with --resume\n", static_cast<long long>(last_epoch));
    return 0;
  }
  if (first_epoch >= o.epochs) test = run_epoch(net, test_loader, 0, nullptr);
  // Full precision, so that runs can be compared exactly.
  std::printf("final test accuracy %.6f loss %.9f\n", test.accuracy, test.loss);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const mg::Error& e) {
    std::fprintf(stderr, "cifar_cnn: error: %s\n", e.what());
    return 1;
  }
}
