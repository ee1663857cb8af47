// Tutorial 5 (docs/tutorials/05-mpi.md): data-parallel training with
// mg::nn::DataParallel. Started plainly it is one process; under
// `mpirun -np N` every rank takes its share of each batch and the ranks
// together train the model one process would, up to float rounding:
//
//   data_parallel [--threads N]
//   mpirun -np 2 data_parallel --threads 1
#include <metagrad/metagrad.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using mg::Tensor;
namespace F = mg::nn::functional;

constexpr std::int64_t kClasses = 4;

// This rank's share of every global batch of `batch_size` examples.
mg::data::LoaderOptions sharded(std::int64_t batch_size, bool shuffle) {
  mg::data::LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = shuffle;
  options.seed = 5;
  options.shard = mg::distributed::rank();
  options.shards = mg::distributed::world_size();
  return options;
}

struct Totals {
  double loss = 0, correct = 0, examples = 0;
};

// The sums of every rank, so that each rank sees the numbers of the whole data set.
Totals over_all_ranks(const Totals& mine) {
  const auto all = mg::distributed::all_reduce(std::vector<double>{mine.loss, mine.correct, mine.examples});
  return {all[0], all[1], all[2]};
}

void count(Totals& totals, const Tensor& loss, const Tensor& logits, const Tensor& labels) {
  const auto n = static_cast<double>(labels.numel());
  totals.loss += loss.item<double>() * n;
  totals.correct += mg::sum(mg::eq(mg::argmax(logits.detach(), 1), labels)).item<double>();
  totals.examples += n;
}

Totals train_epoch(mg::nn::Module& model, mg::nn::DataParallel& parallel, mg::optim::Optimizer& optimizer,
                   mg::data::DataLoader& loader, std::int64_t epoch) {
  model.train();
  Totals totals;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) {
    optimizer.zero_grad();
    const Tensor logits = model(batch->inputs);
    const Tensor loss = F::cross_entropy(logits, batch->labels);
    // This rank's mean loss, weighted by its share of the global batch: the
    // sum over ranks is the mean over the whole batch.
    mg::nn::DataParallel::weighted(loss, batch->labels.numel(), batch->global_size).backward();
    parallel.finish();  // every rank's grad() is now the whole batch's gradient
    optimizer.step();
    count(totals, loss, logits, batch->labels);
  }
  return over_all_ranks(totals);
}

Totals evaluate(mg::nn::Module& model, mg::data::DataLoader& loader) {
  model.eval();
  mg::NoGradGuard no_grad;
  Totals totals;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    const Tensor logits = model(batch->inputs);
    count(totals, F::cross_entropy(logits, batch->labels), logits, batch->labels);
  }
  return over_all_ranks(totals);
}

// A convolution with batch norm, whose statistics DataParallel takes over
// the whole global batch, and a linear classifier.
std::shared_ptr<mg::nn::Sequential> small_cnn(const mg::Shape& image, mg::Generator& init) {
  namespace nn = mg::nn;
  constexpr std::int64_t kChannels = 8;
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions(image[0], kChannels, 3).padding(1).bias(false), init),
      std::make_shared<nn::BatchNorm2d>(kChannels), std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(nn::LinearOptions(kChannels * image[1] * image[2], kClasses), init)});
}

int threads_flag(int argc, char** argv) {
  if (argc == 1) return 0;
  if (argc == 3 && std::string(argv[1]) == "--threads" && std::atoi(argv[2]) >= 1) return std::atoi(argv[2]);
  throw mg::Error("usage: data_parallel [--threads N]");
}

void run(int threads) {
  if (threads > 0) mg::set_num_threads(threads);
  const bool main_rank = mg::distributed::is_main();
  const mg::Shape image = {1, 12, 12};
  const auto train_set = mg::data::synthetic(2048, image, kClasses, /*seed=*/3);
  const auto test_set = mg::data::synthetic(512, image, kClasses, /*seed=*/3, /*split=*/1);
  mg::data::DataLoader train_loader(train_set, sharded(64, true)), test_loader(test_set, sharded(256, false));

  mg::Generator init(11);
  const auto model = small_cnn(image, init);
  // Broadcasts rank 0's weights, synchronises batch norm over the ranks and
  // sums gradients while backward runs.
  mg::nn::DataParallel parallel(*model);
  auto optimizer = mg::optim::make("sgd(lr=0.02, momentum=0.9)", model->named_parameters());
  if (main_rank)
    std::printf("%d rank(s), %d thread(s) each, %lld parameters\n", mg::distributed::world_size(),
                mg::get_num_threads(), static_cast<long long>(model->parameter_count()));

  Totals test;
  for (std::int64_t epoch = 0; epoch < 3; ++epoch) {
    const Totals train = train_epoch(*model, parallel, *optimizer, train_loader, epoch);
    test = evaluate(*model, test_loader);
    if (main_rank)
      std::printf("epoch %lld  train loss %.4f  test loss %.4f  test accuracy %.1f%%\n",
                  static_cast<long long>(epoch + 1), train.loss / train.examples, test.loss / test.examples,
                  100 * test.correct / test.examples);
  }
  if (main_rank) std::printf("final test loss %.6f\n", test.loss / test.examples);
}

}  // namespace

int main(int argc, char** argv) {
  mg::distributed::init(argc, argv);  // joins the MPI job under mpirun; nothing otherwise
  try {
    run(threads_flag(argc, argv));
  } catch (const mg::Error& e) {
    // One rank's error ends every rank, instead of leaving them waiting in a collective.
    mg::distributed::abort(std::string("data_parallel: error: ") + e.what());
  }
  return 0;
}
