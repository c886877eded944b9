// kiln — the cpu backend: fast kernels for x86-64 hosts.
//
// Convolution and MatrixMultiply run through oneDNN (the OpenMP build) or through our own
// kernels where a library has nothing better (depthwise convolution, pointwise convolution as
// one GEMM); elementwise, activation, softmax, normalization, gather and data movement run
// through our own AVX2 kernels (src/backends/cpu/*_avx2.cc). Tactic names say backend, op,
// library or algorithm, dtype and ISA: "cpu.matrix_multiply.onednn.f32",
// "cpu.softmax.f32.avx2".
//
// Every layer kind also has a fallback tactic, "cpu.<kind>.reference", which wraps the reference
// backend's kernel. It offers itself only for layers that no fast cpu tactic supports (other
// dtypes, rare attribute combinations), so an engine never times a reference kernel against a
// fast one, and a model always builds.
//
// Threads: one pool (thread_pool.h), sized by the engine's thread count (LayerDesc::threads).
// Kernels split their work into chunks that the calling thread and the pool's workers claim;
// oneDNN runs single-threaded inside those chunks (its OpenMP thread count is 1 on every thread
// that calls it), so an engine never runs more threads than it was built for and a worker that
// the OS has not scheduled never holds up a layer.
#pragma once

#include <memory>

#include "backends/backend.h"

namespace kiln {

/// The process-wide cpu backend.
const Backend& cpuBackend();

/// ISA levels the cpu backend's own kernels are written for, best last.
enum class CpuIsa { kBaseline, kAvx2 };
/// The best level this machine runs ("avx2" needs AVX2 + FMA + F16C).
CpuIsa hostCpuIsa();

namespace cpu {

/// One fast tactic of the cpu backend (the fallbacks are made by cpu_backend.cc).
std::vector<std::unique_ptr<Tactic>> makeFastTactics();

}  // namespace cpu
}  // namespace kiln
