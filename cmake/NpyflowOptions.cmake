# Compiler settings shared by every npyflow target, as INTERFACE targets rather than
# global flags, so that third-party code is compiled as its authors intended.

add_library(npyflow_warnings INTERFACE)
add_library(npyflow::warnings ALIAS npyflow_warnings)
target_compile_options(npyflow_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wnull-dereference)

# Code generation for npyflow's own code. x86-64-v2 (SSE4.2, 2009 onwards): a binary that runs
# on any of the machines a job may land on (AVX2-only and AVX-512 ones among them), never
# SIGILL; the preprocessing kernels are also compiled for AVX2 and AVX-512 and chosen when the
# program loads (ops/kernel_clones.hpp), and oneDNN picks its own code by CPU. "native" builds
# for this machine alone. -ffp-contract=off: no fused multiply-adds, so ops round exactly as
# numpy does.
set(NPYFLOW_ARCH "x86-64-v2" CACHE STRING "-march= value for npyflow's code (native: this machine only; empty: the compiler's default)")
add_library(npyflow_codegen INTERFACE)
add_library(npyflow::codegen ALIAS npyflow_codegen)
target_compile_options(npyflow_codegen INTERFACE -ffp-contract=off $<$<BOOL:${NPYFLOW_ARCH}>:-march=${NPYFLOW_ARCH}>)

if(NPYFLOW_SANITIZE)
  add_compile_options(-fsanitize=${NPYFLOW_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${NPYFLOW_SANITIZE})
endif()

# libFuzzer needs coverage instrumentation in the code under test, not only in the target.
if(NPYFLOW_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# Headers are included as "npyflow/<module>/file.hpp", in the build tree as once installed
# (include/npyflow/<module>/): the build tree's include/npyflow/<module> is a link to the
# module's source directory, so nothing is copied and an edit is seen at once.
set(NPYFLOW_BUILD_INCLUDE_DIR ${PROJECT_BINARY_DIR}/include)
file(MAKE_DIRECTORY ${NPYFLOW_BUILD_INCLUDE_DIR}/npyflow)
file(CREATE_LINK ${PROJECT_SOURCE_DIR}/npyflow.hpp ${NPYFLOW_BUILD_INCLUDE_DIR}/npyflow/npyflow.hpp SYMBOLIC)

# Declares a module library: npyflow_<name>, aliased npyflow::<name> (exported as
# npyflow::<name> too), its headers installed under include/npyflow/<name>/.
function(npyflow_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(npyflow_${name} ${ARG_SOURCES})
  add_library(npyflow::${name} ALIAS npyflow_${name})
  set_target_properties(npyflow_${name} PROPERTIES EXPORT_NAME ${name})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${NPYFLOW_BUILD_INCLUDE_DIR}/npyflow/${name} SYMBOLIC)
  target_include_directories(npyflow_${name} PUBLIC $<BUILD_INTERFACE:${NPYFLOW_BUILD_INCLUDE_DIR}>
                                                    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(npyflow_${name} PUBLIC ${ARG_DEPENDS} PRIVATE npyflow::warnings npyflow::codegen)
  # mpi_ranks.hpp needs mpi.h: installed only when the library was built with MPI.
  set(without "")
  if(NOT MPI_CXX_FOUND)
    set(without PATTERN mpi_ranks.hpp EXCLUDE)
  endif()
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/npyflow/${name}
          FILES_MATCHING PATTERN "*.hpp" ${without})
  set_property(GLOBAL APPEND PROPERTY NPYFLOW_MODULES npyflow_${name})
endfunction()
