// kiln — cpu Softmax (last axis) and layer Normalization on f32, through the AVX2 row kernels:
//   cpu.softmax.f32.avx2        softmax / log-softmax along the innermost axis
//   cpu.normalization.f32.avx2  layer norm over dims [axis, rank) with scale (and bias) of the
//                               normalized dims' shape; mean / inv-std outputs are declined
// Rows are split over the threads.
#include <algorithm>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels_avx2.h"
#include "backends/cpu/parallel.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kGrain = 8192;

/// Whether a scale / bias of dims `p` holds one value per normalized element, in order (equal
/// dims once leading 1s are dropped from both).
bool matchesNormalized(const Dims& p, const Dims& norm) {
  auto strip = [](const Dims& d) {
    size_t i = 0;
    while (i < d.size() && d[i] == 1)
      ++i;
    return Dims(d.begin() + static_cast<std::ptrdiff_t>(i), d.end());
  };
  return strip(p) == strip(norm);
}

class SoftmaxKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    if (x.empty() || x != out_[0].dims) return layerError(desc_, "bad softmax shapes");
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc_, attrs<SoftmaxAttrs>().axis,
                                                      static_cast<int64_t>(x.size())));
    for (size_t i = static_cast<size_t>(axis) + 1; i < x.size(); ++i)
      if (x[i] != 1) return decline(desc_, "softmax not along the innermost axis");
    n_ = x[static_cast<size_t>(axis)];
    rows_ = n_ == 0 ? 0 : volume(x) / n_;
    return Status::ok();
  }

  Status compute() override {
    const bool log = attrs<SoftmaxAttrs>().log;
    const float* x = in<float>(0);
    float* y = out<float>(0);
    parallelFor(threads_, rows_, std::max<int64_t>(1, kGrain / std::max<int64_t>(n_, 1)),
                [&](int64_t lo, int64_t hi) {
                  for (int64_t r = lo; r < hi; ++r)
                    avx2::softmaxRow(x + r * n_, y + r * n_, n_, log);
                });
    return Status::ok();
  }

  int64_t rows_ = 0, n_ = 0;
};

class LayerNormKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc_, attrs<NormalizationAttrs>().axis,
                                                      static_cast<int64_t>(x.size())));
    const Dims norm(x.begin() + axis, x.end());
    n_ = volume(norm);
    rows_ = n_ == 0 ? 0 : volume(x) / n_;
    // scale / bias must hold exactly the normalized elements (leading 1s allowed).
    for (size_t k = 1; k <= 2; ++k) {
      if (k == 2 && !desc_.hasInput(2)) continue;
      if (!matchesNormalized(in_[k].dims, norm))
        return decline(desc_, std::string(k == 1 ? "scale" : "bias") + dimsToString(in_[k].dims) +
                                  " is broadcast over the normalized dims " + dimsToString(norm));
    }
    return Status::ok();
  }

  Status compute() override {
    const float eps = attrs<NormalizationAttrs>().epsilon;
    const float* x = in<float>(0);
    const float* scale = in<float>(1);
    const float* bias = desc_.hasInput(2) ? in<float>(2) : nullptr;
    float* y = out<float>(0);
    parallelFor(threads_, rows_, std::max<int64_t>(1, kGrain / std::max<int64_t>(n_, 1)),
                [&](int64_t lo, int64_t hi) {
                  for (int64_t r = lo; r < hi; ++r)
                    avx2::layerNormRow(x + r * n_, scale, bias, y + r * n_, n_, eps);
                });
    return Status::ok();
  }

  int64_t rows_ = 0, n_ = 0;
};

}  // namespace

Status supportsAvx2Softmax(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  if (desc.layer->as<SoftmaxAttrs>().hard) return decline(desc, "hardmax");
  const Dims& x = desc.inputs[0].dims;
  if (x.empty()) return decline(desc, "scalar input");
  KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc, desc.layer->as<SoftmaxAttrs>().axis,
                                                    static_cast<int64_t>(x.size())));
  for (size_t i = static_cast<size_t>(axis) + 1; i < x.size(); ++i)
    if (x[i] != 1) return decline(desc, "softmax not along the innermost axis");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createAvx2Softmax(const LayerDesc& desc) {
  return makeKernel<SoftmaxKernel>(desc);
}

Status supportsAvx2Normalization(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  if (!desc.hasInput(0) || !desc.hasInput(1)) return decline(desc, "x and scale are required");
  if (desc.outputs.size() != 1) return decline(desc, "mean / inv-std outputs are not produced");
  const Dims& x = desc.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc, desc.layer->as<NormalizationAttrs>().axis,
                                                    static_cast<int64_t>(x.size())));
  const Dims norm(x.begin() + axis, x.end());
  if (!matchesNormalized(desc.inputs[1].dims, norm) ||
      (desc.hasInput(2) && !matchesNormalized(desc.inputs[2].dims, norm)))
    return decline(desc, "scale or bias is broadcast over the normalized dims");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createAvx2Normalization(const LayerDesc& desc) {
  return makeKernel<LayerNormKernel>(desc);
}

}  // namespace kiln::cpu
