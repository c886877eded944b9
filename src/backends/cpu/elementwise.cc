// kiln — cpu elementwise layers on f32 through the AVX2 kernels:
//   cpu.elementwise.f32.avx2  binary with numpy broadcasting (add, sub, mul, div, max, min)
//   cpu.unary.f32.avx2        neg, abs, exp, sqrt, reciprocal, erf, ceil, floor, round
//   cpu.activation.f32.avx2   relu, clip, sigmoid, tanh, leaky relu, hard sigmoid/swish, gelu
//
// Binary broadcasting: the output's index space is collapsed so that adjacent dims that both
// operands walk the same way (both contiguous, or both broadcast) become one; what remains is a
// set of rows, each a contiguous run of the output along which each operand is either
// contiguous or one repeated value. Rows are split over the threads.
#include <algorithm>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels_avx2.h"
#include "backends/cpu/parallel.h"

namespace kiln::cpu {
namespace {

/// Elements per thread below which a layer runs on one thread.
constexpr int64_t kGrain = 16384;

/// Element strides that read `in` broadcast (numpy rules) to `out`: 0 along broadcast dims.
Dims broadcastStrides(const Dims& in, const Dims& out) {
  Dims s(out.size(), 0);
  const size_t lead = out.size() - in.size();
  int64_t acc = 1;
  for (size_t i = in.size(); i-- > 0;) {
    s[lead + i] = (in[i] == 1 && out[lead + i] != 1) ? 0 : acc;
    acc *= in[i];
  }
  return s;
}

class BinaryKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    const Dims& y = out_[0].dims;
    const Dims& a = in_[0].dims;
    const Dims& b = in_[1].dims;
    if (a.size() > y.size() || b.size() > y.size())
      return layerError(desc_, "inputs have more dims than the output");
    Dims sa = broadcastStrides(a, y), sb = broadcastStrides(b, y);
    // Collapse: walk from the innermost dim outwards, merging dims whose strides continue.
    dims_.clear();
    strideA_.clear();
    strideB_.clear();
    for (size_t i = y.size(); i-- > 0;) {
      if (y[i] == 1) continue;
      if (!dims_.empty()) {
        const int64_t d = dims_.back();
        if (sa[i] == strideA_.back() * d && sb[i] == strideB_.back() * d) {
          dims_.back() *= y[i];
          continue;
        }
      }
      dims_.push_back(y[i]);
      strideA_.push_back(sa[i]);
      strideB_.push_back(sb[i]);
    }
    if (dims_.empty()) {
      dims_ = {1};
      strideA_ = {1};
      strideB_ = {1};
    }
    std::reverse(dims_.begin(), dims_.end());
    std::reverse(strideA_.begin(), strideA_.end());
    std::reverse(strideB_.begin(), strideB_.end());
    // The innermost step of each operand must be 0 or 1; split the inner dim otherwise.
    if (strideA_.back() > 1 || strideB_.back() > 1) {
      dims_.push_back(1);
      strideA_.push_back(1);
      strideB_.push_back(1);
    }
    rowLen_ = dims_.back();
    rows_ = 1;
    for (size_t i = 0; i + 1 < dims_.size(); ++i)
      rows_ *= dims_[i];
    return Status::ok();
  }

  Status compute() override {
    const ElementwiseKind kind = attrs<ElementwiseAttrs>().kind;
    const float* a = in<float>(0);
    const float* b = in<float>(1);
    float* y = out<float>(0);
    const size_t outer = dims_.size() - 1;
    const int64_t stepA = strideA_.back(), stepB = strideB_.back(), len = rowLen_;
    if (rows_ == 1) {
      parallelFor(threads_, len, kGrain, [&](int64_t lo, int64_t hi) {
        avx2::binary(kind, a + lo * stepA, stepA, b + lo * stepB, stepB, y + lo, hi - lo);
      });
      return Status::ok();
    }
    parallelFor(threads_, rows_, std::max<int64_t>(1, kGrain / std::max<int64_t>(len, 1)),
                [&](int64_t lo, int64_t hi) {
                  // Odometer over the outer dims, started at row `lo`.
                  std::vector<int64_t> idx(outer, 0);
                  int64_t offA = 0, offB = 0, r = lo;
                  for (size_t d = outer; d-- > 0;) {
                    idx[d] = r % dims_[d];
                    r /= dims_[d];
                    offA += idx[d] * strideA_[d];
                    offB += idx[d] * strideB_[d];
                  }
                  for (int64_t row = lo; row < hi; ++row) {
                    avx2::binary(kind, a + offA, stepA, b + offB, stepB, y + row * len, len);
                    for (size_t d = outer; d-- > 0;) {
                      offA += strideA_[d];
                      offB += strideB_[d];
                      if (++idx[d] < dims_[d]) break;
                      offA -= strideA_[d] * dims_[d];
                      offB -= strideB_[d] * dims_[d];
                      idx[d] = 0;
                    }
                  }
                });
    return Status::ok();
  }

  Dims dims_, strideA_, strideB_;
  int64_t rows_ = 0, rowLen_ = 0;
};

/// Unary and Activation: one contiguous run split over the threads.
class MapKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    if (in_[0].dims != out_[0].dims) return layerError(desc_, "output dims differ from input");
    n_ = volume(out_[0].dims);
    return Status::ok();
  }

  Status compute() override {
    const float* x = in<float>(0);
    float* y = out<float>(0);
    if (desc_.kind() == LayerKind::kActivation) {
      const auto& a = attrs<ActivationAttrs>();
      parallelFor(threads_, n_, kGrain, [&](int64_t lo, int64_t hi) {
        avx2::activation(a.kind, a.alpha, a.beta, x + lo, y + lo, hi - lo);
      });
    } else {
      const UnaryKind k = attrs<UnaryAttrs>().kind;
      parallelFor(threads_, n_, kGrain,
                  [&](int64_t lo, int64_t hi) { avx2::unary(k, x + lo, y + lo, hi - lo); });
    }
    return Status::ok();
  }

  int64_t n_ = 0;
};

}  // namespace

Status supportsAvx2Elementwise(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  if (!desc.hasInput(0) || !desc.hasInput(1)) return decline(desc, "two inputs are required");
  if (!avx2::hasBinary(desc.layer->as<ElementwiseAttrs>().kind))
    return decline(desc, "no AVX2 kernel for this operation");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createAvx2Elementwise(const LayerDesc& desc) {
  return makeKernel<BinaryKernel>(desc);
}

Status supportsAvx2Unary(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  if (!desc.hasInput(0)) return decline(desc, "input is required");
  if (!avx2::hasUnary(desc.layer->as<UnaryAttrs>().kind))
    return decline(desc, "no AVX2 kernel for this function");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createAvx2Unary(const LayerDesc& desc) {
  return makeKernel<MapKernel>(desc);
}

Status supportsAvx2Activation(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  if (!desc.hasInput(0)) return decline(desc, "input is required");
  if (!avx2::hasActivation(desc.layer->as<ActivationAttrs>().kind))
    return decline(desc, "no AVX2 kernel for this activation");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createAvx2Activation(const LayerDesc& desc) {
  return makeKernel<MapKernel>(desc);
}

}  // namespace kiln::cpu
