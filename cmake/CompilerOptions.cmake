# Warnings, optimisation and sanitizer flags shared by every target, applied
# through the interface target metagrad_options (never exported).

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

add_library(metagrad_options INTERFACE)
target_compile_options(metagrad_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Woverloaded-virtual -Wnull-dereference
  # Lets gcc vectorise sqrt/div loops (PERFORMANCE.md, trap 4); we never read errno.
  -fno-math-errno -ffp-contract=off
  # gcc 12 misreports std::string concatenation at -O3 as overlapping
  # memcpy (GCC bug 105329).
  -Wno-restrict
  # 64-byte vectors (kernels/lanes.hpp) pass between functions of one
  # translation unit only; without AVX-512 gcc warns that their ABI differs.
  -Wno-psabi)
if(MG_WERROR)
  target_compile_options(metagrad_options INTERFACE -Werror)
endif()
if(MG_NATIVE)
  target_compile_options(metagrad_options INTERFACE -march=native)
endif()
if(MG_SANITIZE)
  # The instrumentation hides initialisations from gcc's flow analysis:
  # -Wmaybe-uninitialized then flags std::variant moves (optim/registry.cpp
  # at -O1), which the uninstrumented build and ASan itself show are fine.
  target_compile_options(metagrad_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-maybe-uninitialized)
  target_link_options(metagrad_options INTERFACE -fsanitize=address,undefined)
endif()
