// kiln — cpu elementwise layers on f32 through the AVX2 kernels:
//   cpu.elementwise.f32.avx2  binary with numpy broadcasting (add, sub, mul, div, max, min, pow)
//   cpu.unary.f32.avx2        neg, abs, exp, sqrt, reciprocal, erf, ceil, floor, round
//   cpu.activation.f32.avx2   relu, clip, sigmoid, tanh, leaky relu, hard sigmoid/swish, gelu
//   cpu.unary.isnan.f32.avx2  f32 -> bool
//   cpu.select.f32.avx2       where(bool condition, x, y) with broadcasting
//
// Binary broadcasting: the output's index space is collapsed so that adjacent dims that both
// operands walk the same way (both contiguous, or both broadcast) become one; what remains is a
// set of rows, each a contiguous run of the output along which each operand is either
// contiguous or one repeated value. Rows are split over the threads.
#include <algorithm>
#include <array>

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

/// The output's index space as rows: adjacent dims that every operand walks the same way (all
/// contiguous, or broadcast) are merged, and each row is a contiguous run of the output along
/// which each operand is either contiguous (step 1) or one repeated value (step 0).
template <size_t N>
struct RowPlan {
  Dims dims;                    ///< collapsed output dims; the last is the row
  std::array<Dims, N> strides;  ///< per operand, per collapsed dim
  int64_t rows = 0, len = 0;

  Status make(const LayerDesc& desc, const Dims& y, const std::array<Dims, N>& ins) {
    std::array<Dims, N> full;
    for (size_t k = 0; k < N; ++k) {
      if (ins[k].size() > y.size()) return layerError(desc, "an input has more dims than y");
      full[k] = broadcastStrides(ins[k], y);
      strides[k].clear();
    }
    dims.clear();
    for (size_t i = y.size(); i-- > 0;) {
      if (y[i] == 1) continue;
      if (!dims.empty()) {
        bool merge = true;
        for (size_t k = 0; k < N; ++k)
          merge = merge && full[k][i] == strides[k].back() * dims.back();
        if (merge) {
          dims.back() *= y[i];
          continue;
        }
      }
      dims.push_back(y[i]);
      for (size_t k = 0; k < N; ++k)
        strides[k].push_back(full[k][i]);
    }
    if (dims.empty()) {
      dims = {1};
      for (auto& s : strides)
        s = {1};
    }
    std::reverse(dims.begin(), dims.end());
    bool unitInner = true;
    for (auto& s : strides) {
      std::reverse(s.begin(), s.end());
      unitInner = unitInner && s.back() <= 1;
    }
    if (!unitInner) {  // an operand strides along the innermost dim: rows of one element
      dims.push_back(1);
      for (auto& s : strides)
        s.push_back(1);
    }
    len = dims.back();
    rows = 1;
    for (size_t i = 0; i + 1 < dims.size(); ++i)
      rows *= dims[i];
    return Status::ok();
  }

  /// Calls row(offsets, yOffset, length) for every row, rows split over the threads. A single
  /// row is split into pieces instead.
  template <class F>
  void run(int threads, F&& row) const {
    if (rows == 1) {
      parallelFor(threads, len, kGrain, [&](int64_t lo, int64_t hi) {
        std::array<int64_t, N> off;
        for (size_t k = 0; k < N; ++k)
          off[k] = lo * strides[k].back();
        row(off, lo, hi - lo);
      });
      return;
    }
    const size_t outer = dims.size() - 1;
    parallelFor(threads, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(len, 1)),
                [&](int64_t lo, int64_t hi) {
                  std::vector<int64_t> idx(outer, 0);
                  std::array<int64_t, N> off{};
                  int64_t r = lo;
                  for (size_t d = outer; d-- > 0;) {
                    idx[d] = r % dims[d];
                    r /= dims[d];
                    for (size_t k = 0; k < N; ++k)
                      off[k] += idx[d] * strides[k][d];
                  }
                  for (int64_t rw = lo; rw < hi; ++rw) {
                    row(off, rw * len, len);
                    for (size_t d = outer; d-- > 0;) {
                      for (size_t k = 0; k < N; ++k)
                        off[k] += strides[k][d];
                      if (++idx[d] < dims[d]) break;
                      for (size_t k = 0; k < N; ++k)
                        off[k] -= strides[k][d] * dims[d];
                      idx[d] = 0;
                    }
                  }
                });
  }
};

class BinaryKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override { return plan_.make(desc_, out_[0].dims, {in_[0].dims, in_[1].dims}); }

  Status compute() override {
    const ElementwiseKind kind = attrs<ElementwiseAttrs>().kind;
    const float* a = in<float>(0);
    const float* b = in<float>(1);
    float* y = out<float>(0);
    const int64_t sa = plan_.strides[0].back(), sb = plan_.strides[1].back();
    plan_.run(threads_, [&](const std::array<int64_t, 2>& off, int64_t yo, int64_t n) {
      avx2::binary(kind, a + off[0], sa, b + off[1], sb, y + yo, n);
    });
    return Status::ok();
  }

  RowPlan<2> plan_;
};

/// Select: y = condition ? x : y' with broadcasting (bool condition, f32 values).
class SelectKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    return plan_.make(desc_, out_[0].dims, {in_[0].dims, in_[1].dims, in_[2].dims});
  }

  Status compute() override {
    const auto* c = in<uint8_t>(0);
    const float* a = in<float>(1);
    const float* b = in<float>(2);
    float* y = out<float>(0);
    const int64_t sc = plan_.strides[0].back(), sa = plan_.strides[1].back(),
                  sb = plan_.strides[2].back();
    plan_.run(threads_, [&](const std::array<int64_t, 3>& off, int64_t yo, int64_t n) {
      avx2::select(c + off[0], sc, a + off[1], sa, b + off[2], sb, y + yo, n);
    });
    return Status::ok();
  }

  RowPlan<3> plan_;
};

/// IsNaN: f32 -> bool.
class IsNanKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status compute() override {
    const int64_t n = volume(out_[0].dims);
    const float* x = in<float>(0);
    auto* y = out<uint8_t>(0);
    parallelFor(threads_, n, kGrain,
                [&](int64_t lo, int64_t hi) { avx2::isNan(x + lo, y + lo, hi - lo); });
    return Status::ok();
  }
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

Status supportsAvx2IsNan(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  if (desc.layer->as<UnaryAttrs>().kind != UnaryKind::kIsNaN) return decline(desc, "not isnan");
  if (!desc.hasInput(0) || desc.inputs[0].dtype != DataType::kFloat32 || desc.outputs.size() != 1 ||
      desc.outputs[0].dtype != DataType::kBool)
    return decline(desc, "needs f32 in, bool out");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createAvx2IsNan(const LayerDesc& desc) {
  return makeKernel<IsNanKernel>(desc);
}

Status supportsAvx2Select(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  if (desc.inputs.size() != 3 || !desc.hasInput(0) || !desc.hasInput(1) || !desc.hasInput(2))
    return decline(desc, "needs condition, x and y");
  if (desc.inputs[0].dtype != DataType::kBool || desc.inputs[1].dtype != DataType::kFloat32 ||
      desc.inputs[2].dtype != DataType::kFloat32 || desc.outputs.size() != 1 ||
      desc.outputs[0].dtype != DataType::kFloat32)
    return decline(desc, "needs a bool condition and f32 values");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createAvx2Select(const LayerDesc& desc) {
  return makeKernel<SelectKernel>(desc);
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
