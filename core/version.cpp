#include "metagrad/core/version.hpp"

#include <cblas.h>
#include <dnnl.h>
#include <fmt/format.h>

#include "metagrad/core/denormals.hpp"
#include "metagrad/core/threading.hpp"

namespace mg {

const char* version() { return MG_VERSION_STRING; }

std::string build_info() {
  const dnnl_version_t* dnnl = dnnl_version();
  return fmt::format(
      "metagrad: {}\n"
      "compiler: gcc {}\n"
      "native code: {}\n"
      "threads: {}\n"
      "denormals: {}\n"
      "openblas: {} ({})\n"
      "onednn: {}.{}.{}\n",
      version(), __VERSION__, MG_NATIVE_BUILD ? "yes (-march=native)" : "no (portable)", get_num_threads(),
      flush_denormal() ? "flushed to zero" : "kept", openblas_get_corename(), openblas_get_config(), dnnl->major,
      dnnl->minor, dnnl->patch);
}

}  // namespace mg
