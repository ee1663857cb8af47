#pragma once

namespace mg {

const char* version();  // "MAJOR.MINOR.PATCH"

}  // namespace mg
