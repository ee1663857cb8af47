// `metagrad bench`: throughput of a standard workload, as one JSON object.
#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "metagrad/core/distributed.hpp"
#include "workloads.hpp"

namespace mg::apps {
namespace {

// , "mean_ms_per_step": ..., "profile_ms": {"kind": ms, ...}
std::string profile_json(const WorkloadResult& r) {
  std::string kinds;
  for (std::size_t k = 0; k < profiler::kKinds; ++k)
    kinds += fmt::format("{}\"{}\": {:.4f}", k == 0 ? "" : ", ", profiler::kind_name(static_cast<profiler::Kind>(k)),
                         r.profile_ms[k]);
  return fmt::format(", \"mean_ms_per_step\": {:.4f}, \"profile_ms\": {{{}}}", r.mean_ms_per_step, kinds);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  struct Options {
    std::string workload;
    int threads = 1, batch = 128, steps = 20, warmup = 3, meta_batch = 1;
    bool json = false, profile = false;
  };
  auto options = std::make_shared<Options>();
  auto* bench = app.add_subcommand("bench", "Measure the throughput of a standard workload");
  bench->add_option("--workload", options->workload, "Workload to run")
      ->required()
      ->check(CLI::IsMember(workload_names()));
  bench->add_option("--threads", options->threads, "Threads")->check(CLI::Range(1, 1024));
  bench->add_option("--batch", options->batch, "Batch size")->check(CLI::Range(1, 1 << 20));
  bench
      ->add_option("--meta-batch", options->meta_batch,
                   "l2l: problems per meta-iteration, run concurrently (reports problems per second)")
      ->check(CLI::Range(1, 4096));
  bench->add_option("--steps", options->steps, "Measured steps (the median is reported)")->check(CLI::Range(1, 100000));
  bench->add_option("--warmup", options->warmup, "Unmeasured steps first")->check(CLI::Range(0, 100000));
  bench->add_flag("--json", options->json, "Print one JSON object");
  bench->add_flag("--profile", options->profile,
                  "Also report where the time of a step goes, by kind of work, beside each kind's floor");
  bench->callback([options] {
    const WorkloadResult r = run_workload(options->workload, options->threads, options->batch, options->steps,
                                          options->warmup, options->profile, options->meta_batch);
    if (!distributed::is_main()) return;
    if (options->json) {
      std::printf(
          "{\"workload\": \"%s\", \"threads\": %d, \"ranks\": %d, \"batch\": %d, \"images_per_s\": %.2f, "
          "\"ms_per_step\": %.4f, \"communication_ms\": %.4f, \"exposed_communication_ms\": %.4f, "
          "\"peak_rss_mb\": %.1f, \"meta_batch\": %d, \"problems_per_s\": %.3f%s}\n",
          r.workload.c_str(), r.threads, r.ranks, r.batch, r.images_per_s, r.ms_per_step, r.communication_ms,
          r.exposed_communication_ms, r.peak_rss_mb, r.meta_batch, r.problems_per_s,
          options->profile ? profile_json(r).c_str() : "");
    } else {
      std::printf("%s: %.1f images/s, %.3f ms/step (median), batch %d, %d threads x %d ranks, peak RSS %.0f MB\n",
                  r.workload.c_str(), r.images_per_s, r.ms_per_step, r.batch, r.threads, r.ranks, r.peak_rss_mb);
      if (r.problems_per_s > 0)
        std::printf("meta-batch %d: %.2f problems/s (a problem: one 20-step unroll and its meta-gradient)\n",
                    r.meta_batch, r.problems_per_s);
      if (r.ranks > 1)
        std::printf("gradient all-reduce per step: %.3f ms, of which %.3f ms after backward (the rest hidden)\n",
                    r.communication_ms, r.exposed_communication_ms);
      if (options->profile) std::fputs(r.profile_report.c_str(), stdout);
    }
  });
}

}  // namespace mg::apps
