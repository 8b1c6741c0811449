#pragma once
// NPYFLOW_KERNEL marks the preprocessing kernels' hot loops. GCC compiles each of them for
// AVX-512 and AVX2 as well as the build's baseline, and picks one when the program loads, by
// the CPU it runs on (target_clones: an ifunc). So the default build, for a portable baseline
// (x86-64-v2, NPYFLOW_ARCH), runs on any x86-64 machine of the last decade and keeps the
// speed of a -march=native build (bench/portable_build.py). clang 14 cannot clone templates:
// its builds (the sanitizer ones) use the baseline's code alone.

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NPYFLOW_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NPYFLOW_KERNEL
#endif
