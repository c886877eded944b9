// kiln — cpu Pooling: global average pooling on f32 (the head of most CNNs), one plane per
// output value, planes split over the threads:
//   cpu.pooling.global_average.f32.avx2
// Windowed pooling runs on the reference fallback.
#include <algorithm>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels_avx2.h"
#include "backends/cpu/parallel.h"

namespace kiln::cpu {
namespace {

class GlobalAveragePoolKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    if (x.size() < 3) return decline(desc_, "needs N, C and spatial dims");
    planes_ = x[0] * x[1];
    plane_ = volume(x) / std::max<int64_t>(planes_, 1);
    if (volume(out_[0].dims) != planes_)
      return layerError(desc_, "output must hold one value per (N, C) plane");
    return Status::ok();
  }

  Status compute() override {
    const float* x = in<float>(0);
    float* y = out<float>(0);
    const float inv = plane_ > 0 ? 1.0f / static_cast<float>(plane_) : 0.0f;
    parallelFor(threads_, planes_, std::max<int64_t>(1, 32768 / std::max<int64_t>(plane_, 1)),
                [&](int64_t lo, int64_t hi) {
                  for (int64_t p = lo; p < hi; ++p)
                    y[p] = avx2::sum(x + p * plane_, plane_) * inv;
                });
    return Status::ok();
  }

  int64_t planes_ = 0, plane_ = 0;
};

}  // namespace

Status supportsGlobalAveragePooling(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  const auto& a = desc.layer->as<PoolingAttrs>();
  if (a.kind != PoolingKind::kAverage || !a.global)
    return decline(desc, "not a global average pooling");
  if (desc.outputs.size() != 1 || desc.inputs[0].dims.size() < 3)
    return decline(desc, "needs N, C and spatial dims");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createGlobalAveragePooling(const LayerDesc& desc) {
  return makeKernel<GlobalAveragePoolKernel>(desc);
}

}  // namespace kiln::cpu
