# Every dependency comes from Debian; a missing one stops configuration with
# the name of the package that provides it.

macro(mg_require found debian_package what)
  if(NOT ${found})
    message(FATAL_ERROR
      "metagrad needs ${what}. Install it with: apt-get install ${debian_package}")
  endif()
endmacro()

find_package(OpenMP QUIET COMPONENTS CXX)
mg_require(OpenMP_CXX_FOUND "g++" "OpenMP support in the C++ compiler")

# The OpenMP build of OpenBLAS shares libgomp's pool with oneDNN (PERFORMANCE.md, trap 3).
find_path(MG_OPENBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
find_library(MG_OPENBLAS_LIBRARY openblas
  PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
if(NOT MG_OPENBLAS_INCLUDE_DIR OR NOT MG_OPENBLAS_LIBRARY)
  set(MG_OPENBLAS_FOUND FALSE)
else()
  set(MG_OPENBLAS_FOUND TRUE)
endif()
mg_require(MG_OPENBLAS_FOUND "libopenblas-openmp-dev" "the OpenMP build of OpenBLAS")
get_filename_component(MG_OPENBLAS_LIBRARY_DIR ${MG_OPENBLAS_LIBRARY} DIRECTORY)
add_library(mg_openblas INTERFACE)
target_include_directories(mg_openblas SYSTEM INTERFACE ${MG_OPENBLAS_INCLUDE_DIR})
target_link_libraries(mg_openblas INTERFACE ${MG_OPENBLAS_LIBRARY})

find_package(dnnl CONFIG QUIET)
mg_require(dnnl_FOUND "libdnnl-dev" "oneDNN")

find_package(spdlog CONFIG QUIET)
mg_require(spdlog_FOUND "libspdlog-dev" "spdlog")

find_package(ZLIB QUIET)
mg_require(ZLIB_FOUND "zlib1g-dev" "zlib")

# `metagrad data fetch`: HTTP(S) downloads and archive unpacking.
find_package(CURL QUIET)
mg_require(CURL_FOUND "libcurl4-openssl-dev" "libcurl (metagrad data fetch)")
find_package(LibArchive QUIET)
mg_require(LibArchive_FOUND "libarchive-dev" "libarchive (metagrad data fetch)")

find_package(CLI11 CONFIG QUIET)
mg_require(CLI11_FOUND "libcli11-dev" "CLI11")

find_package(nlohmann_json CONFIG QUIET)
mg_require(nlohmann_json_FOUND "nlohmann-json3-dev" "nlohmann-json (weight files, golden fixtures)")

if(MG_BUILD_TESTS)
  find_package(doctest CONFIG QUIET)
  mg_require(doctest_FOUND "doctest-dev" "doctest")
endif()

# MPI for runs over several processes (Debian's OpenMPI). AUTO: on when
# libopenmpi-dev is installed; ON: required; OFF: a world of one.
set(MG_MPI AUTO CACHE STRING "Build with MPI: AUTO, ON or OFF")
set_property(CACHE MG_MPI PROPERTY STRINGS AUTO ON OFF)
set(MG_HAS_MPI FALSE)
if(NOT MG_MPI STREQUAL "OFF")
  find_package(MPI QUIET COMPONENTS CXX)
  if(MG_MPI STREQUAL "ON")
    mg_require(MPI_CXX_FOUND "libopenmpi-dev openmpi-bin" "MPI (-DMG_MPI=ON)")
  endif()
  set(MG_HAS_MPI ${MPI_CXX_FOUND})
endif()
message(STATUS "metagrad: MPI support ${MG_HAS_MPI}")

# The Python module (apps/python): Debian's python3-dev and pybind11-dev.
# AUTO: built when both are installed; ON: required; OFF: not built. A
# sanitizer build leaves it out (python3 itself is not instrumented).
set(MG_PYTHON AUTO CACHE STRING "Build the Python module: AUTO, ON or OFF")
set_property(CACHE MG_PYTHON PROPERTY STRINGS AUTO ON OFF)
set(MG_HAS_PYTHON FALSE)
if(NOT MG_PYTHON STREQUAL "OFF" AND NOT MG_SANITIZE)
  # Debian's python3 (where python3-torch installs), ahead of any other on PATH.
  if(NOT Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
    set(Python3_EXECUTABLE /usr/bin/python3)
  endif()
  find_package(Python3 QUIET COMPONENTS Interpreter Development.Module)
  if(Python3_FOUND)
    find_package(pybind11 CONFIG QUIET)
  endif()
  if(MG_PYTHON STREQUAL "ON")
    mg_require(Python3_FOUND "python3-dev" "Python 3 headers (-DMG_PYTHON=ON)")
    mg_require(pybind11_FOUND "pybind11-dev" "pybind11 (-DMG_PYTHON=ON)")
  endif()
  if(Python3_FOUND AND pybind11_FOUND)
    set(MG_HAS_PYTHON TRUE)
    # Where the package installs, relative to the prefix: /usr/local/lib/python3.X/dist-packages
    # is on Debian's sys.path (lib/python3/dist-packages is, only under /usr).
    set(MG_PYTHON_PACKAGES lib/python${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}/dist-packages)
  endif()
endif()
message(STATUS "metagrad: Python module ${MG_HAS_PYTHON}")
