// kiln — the cuda backend (libkiln_cuda.so), internal declarations shared by its files.
//
// The core loads this library with dlopen when the "cuda" backend is asked for
// (src/backends/backend.cc) and calls its one exported function, kilnCudaBackendEntry.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {

/// Ok, or an Internal error naming `what` and the CUDA error.
Status check(cudaError_t e, const std::string& what);
Status check(cublasStatus_t s, const std::string& what);

/// The cudaStream_t of a stream of this backend.
inline cudaStream_t nativeStream(Stream& s) {
  return static_cast<cudaStream_t>(s.nativeHandle());
}

/// A CUDA stream: work is enqueued asynchronously; synchronize() waits for it and reports the
/// first error. Events time the work between two points on the device.
class CudaStream final : public Stream {
 public:
  CudaStream();
  ~CudaStream() override;
  Status synchronize() override;
  void* nativeHandle() const override { return stream_; }
  /// Records an event now; elapsedMs() gives the device time between the last two records.
  Status recordEvent();
  Expected<float> elapsedMs() const;

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t events_[2] = {nullptr, nullptr};
  int recorded_ = 0;
};

/// The process-wide cuBLASLt handle.
cublasLtHandle_t cublasLt();

/// Dense row-major strides of `dims`, and the strides with which `from` broadcasts to `to`
/// (numpy rules; 0 for broadcast dims). Dims are merged where possible so the index fits
/// kMaxRank; false when it cannot.
bool broadcastIndex(const Dims& from, const Dims& to, StridedIndex* out);

/// Adds the cuda backend's own tactics (matrix multiply, convolution, elementwise, ...).
void addDeviceTactics(std::vector<std::unique_ptr<Tactic>>& out);

}  // namespace kiln::cuda
