#pragma once
// The training loop behind `metagrad train` and `metagrad compare`.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mg::apps {

struct TrainConfig {
  std::string model = "mlp";              // mlp, cnn, resnet20
  std::string dataset = "fashion-mnist";  // fashion-mnist, mnist, cifar10, cifar100, synthetic
  std::string data_dir;                   // empty: the dataset's default location
  std::string optimizer = "adam(lr=1e-3)";
  std::string schedule = "constant";
  int epochs = 1;
  int batch_size = 128;
  std::uint64_t seed = 0;
  int threads = 0;  // 0: all cores
  bool augment = false;
  std::string checkpoint_dir;  // empty: no checkpoints
  bool resume = false;
  std::string metrics_path;  // JSON lines; empty: none
  bool progress = true;      // a live bar on a terminal, periodic lines otherwise
  std::int64_t limit = 0;    // use only the first `limit` training examples (0: all)
  // "epochs": train `epochs` epochs; "evals": stop once the gradient
  // evaluations reach what `epochs` epochs of one-evaluation steps take
  // (multi-stage optimizers such as heun and rk4 then take fewer steps).
  std::string budget = "epochs";
  // Under mpirun: split every batch over all ranks (data-parallel; rank 0
  // reports and saves). False: this process trains alone, as `compare` has
  // each rank train runs of its own.
  bool data_parallel = true;
};

struct EpochMetrics {
  int epoch;
  std::int64_t step, evaluations;  // optimizer steps and gradient evaluations so far
  double train_loss, train_accuracy, test_loss, test_accuracy, lr, images_per_s, wall_s;
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;
  struct CurvePoint {
    std::int64_t step, evaluations;
    double loss;  // mean over the last steps
  };
  std::vector<CurvePoint> loss_curve;
  bool interrupted = false;
  double data_wait_fraction = 0;  // of the training loop's time spent waiting for batches
};

// A result as JSON text and back (exact: doubles keep every digit), for
// runs made on other MPI ranks.
std::string to_json(const TrainResult& result);
TrainResult train_result_from_json(const std::string& text);

// Trains as configured; stops after the current step (writing a checkpoint
// when a directory is set) once `stop` becomes true.
TrainResult train(const TrainConfig& config, const std::atomic<bool>& stop);

}  // namespace mg::apps
