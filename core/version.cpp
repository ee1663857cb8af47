#include "metagrad/core/version.hpp"

namespace mg {

const char* version() { return MG_VERSION_STRING; }

}  // namespace mg
