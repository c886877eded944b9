// kiln — reference reductions along axes: Reduce and Cumulative (cumsum). Softmax and layer
// normalization, which reduce and then rescale, live in normalization.cc.
//
// Float reductions accumulate in double and round once. Integer Sum / Prod / Cumulative wrap
// like two's complement. dtypes: f32 and f64 everywhere; i32 and i64 for Reduce (Sum, Mean,
// Max, Min, Prod, SumSquare, L1) and Cumulative (sum and product); bool for Max (any) and Min
// (all); ArgMax / ArgMin take f32, f64, i8, u8, i32, i64 and give int64 indices.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

using ref::Strides;

/// Wrapping integer arithmetic (signed overflow is undefined in C++).
int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

bool isIntegerReduce(ReduceKind k) {
  return k == ReduceKind::kSum || k == ReduceKind::kMean || k == ReduceKind::kMax ||
         k == ReduceKind::kMin || k == ReduceKind::kProd || k == ReduceKind::kSumSquare ||
         k == ReduceKind::kL1;
}

bool isArgReduce(ReduceKind k) {
  return k == ReduceKind::kArgMax || k == ReduceKind::kArgMin;
}

// ---- Reduce ------------------------------------------------------------------------------

class ReduceKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    // `axes_` empty (absent or empty input): all axes, or none with noop_with_empty_axes. The
    // axes may be run-time values: read them for these shapes.
    axes_.clear();
    if (desc_.hasInput(1)) {
      KILN_ASSIGN_OR_RETURN(axes_, paramInts(1));
    }
    const Dims& x = in_[0].dims;
    const int64_t rank = static_cast<int64_t>(x.size());
    std::vector<bool> reduced(x.size(), false);
    if (axes_.empty()) {
      // No axes: reduce everything, or nothing when noop_with_empty_axes is set.
      if (!attrs<ReduceAttrs>().noopWithEmptyAxes) std::fill(reduced.begin(), reduced.end(), true);
    } else {
      for (int64_t a : axes_) {
        KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc_, a, rank));
        reduced[static_cast<size_t>(axis)] = true;
      }
    }
    Dims kept = x;
    count_ = 1;
    for (size_t d = 0; d < x.size(); ++d)
      if (reduced[d]) {
        count_ *= x[d];
        kept[d] = 1;
      }
    if (volume(kept) != volume(out_[0].dims))
      return layerError(desc_, "output dims " + dimsToString(out_[0].dims) +
                                   " do not match the reduction of " + dimsToString(x));
    outStrides_ = ref::contiguousStrides(kept);
    for (size_t d = 0; d < x.size(); ++d)
      if (reduced[d]) outStrides_[d] = 0;
    return Status::ok();
  }

  /// acc[o] = fold over the reduced elements of x; `Acc` is double or int64_t.
  template <class T, class Acc, class F>
  void fold(std::vector<Acc>& acc, F&& f) {
    const T* x = in<T>(0);
    ref::forEachRow<2>(in_[0].dims, {ref::contiguousStrides(in_[0].dims), outStrides_},
                       [&](const auto& off, int64_t len, const auto& st) {
                         for (int64_t i = 0; i < len; ++i) {
                           Acc& a = acc[static_cast<size_t>(off[1] + i * st[1])];
                           a = f(a, static_cast<Acc>(x[off[0] + i * st[0]]));
                         }
                       });
  }

  template <class T>
  Status runFloat(ReduceKind kind) {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    const size_t n = static_cast<size_t>(volume(out_[0].dims));
    const double init = kind == ReduceKind::kProd  ? 1.0
                        : kind == ReduceKind::kMax ? -kInf
                        : kind == ReduceKind::kMin ? kInf
                                                   : 0.0;
    std::vector<double> acc(n, init), shift(n, 0.0);
    auto nanMax = [](double a, double x) { return (a != a || x != x) ? a + x : std::max(a, x); };
    auto nanMin = [](double a, double x) { return (a != a || x != x) ? a + x : std::min(a, x); };
    switch (kind) {
      case ReduceKind::kSum:
      case ReduceKind::kMean:
      case ReduceKind::kLogSum:
        fold<T>(acc, [](double a, double x) { return a + x; });
        break;
      case ReduceKind::kSumSquare:
      case ReduceKind::kL2:
        fold<T>(acc, [](double a, double x) { return a + x * x; });
        break;
      case ReduceKind::kL1:
        fold<T>(acc, [](double a, double x) { return a + std::fabs(x); });
        break;
      case ReduceKind::kProd:
        fold<T>(acc, [](double a, double x) { return a * x; });
        break;
      case ReduceKind::kMax:
        fold<T>(acc, nanMax);
        break;
      case ReduceKind::kMin:
        fold<T>(acc, nanMin);
        break;
      case ReduceKind::kLogSumExp: {
        // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the max, so exp cannot overflow.
        std::fill(shift.begin(), shift.end(), -kInf);
        fold<T>(shift, nanMax);
        for (double& m : shift)
          if (std::isinf(m)) m = 0.0;
        const T* x = in<T>(0);
        ref::forEachRow<2>(in_[0].dims, {ref::contiguousStrides(in_[0].dims), outStrides_},
                           [&](const auto& off, int64_t len, const auto& st) {
                             for (int64_t i = 0; i < len; ++i) {
                               const size_t o = static_cast<size_t>(off[1] + i * st[1]);
                               acc[o] +=
                                   std::exp(static_cast<double>(x[off[0] + i * st[0]]) - shift[o]);
                             }
                           });
        break;
      }
      case ReduceKind::kArgMax:
      case ReduceKind::kArgMin:
        break;  // ArgReduceKernel
    }
    T* y = out<T>(0);
    for (size_t o = 0; o < n; ++o) {
      double v = acc[o];
      if (kind == ReduceKind::kMean) v /= static_cast<double>(count_);
      if (kind == ReduceKind::kL2) v = std::sqrt(v);
      if (kind == ReduceKind::kLogSum) v = std::log(v);
      if (kind == ReduceKind::kLogSumExp) v = shift[o] + std::log(v);
      y[o] = static_cast<T>(v);
    }
    return Status::ok();
  }

  template <class T>
  Status runInt(ReduceKind kind) {
    const size_t n = static_cast<size_t>(volume(out_[0].dims));
    const int64_t init = kind == ReduceKind::kProd  ? 1
                         : kind == ReduceKind::kMax ? std::numeric_limits<T>::lowest()
                         : kind == ReduceKind::kMin ? std::numeric_limits<T>::max()
                                                    : 0;
    std::vector<int64_t> acc(n, init);
    switch (kind) {
      case ReduceKind::kSumSquare:
        fold<T>(acc, [](int64_t a, int64_t x) { return wrapAdd(a, wrapMul(x, x)); });
        break;
      case ReduceKind::kL1:
        fold<T>(acc, [](int64_t a, int64_t x) { return wrapAdd(a, x < 0 ? wrapMul(x, -1) : x); });
        break;
      case ReduceKind::kProd:
        fold<T>(acc, [](int64_t a, int64_t x) { return wrapMul(a, x); });
        break;
      case ReduceKind::kMax:
        fold<T>(acc, [](int64_t a, int64_t x) { return std::max(a, x); });
        break;
      case ReduceKind::kMin:
        fold<T>(acc, [](int64_t a, int64_t x) { return std::min(a, x); });
        break;
      default:
        fold<T>(acc, [](int64_t a, int64_t x) { return wrapAdd(a, x); });
        break;
    }
    T* y = out<T>(0);
    for (size_t o = 0; o < n; ++o) {
      int64_t v = acc[o];
      if (kind == ReduceKind::kMean && count_ > 0) v /= count_;  // truncates toward zero
      y[o] = static_cast<T>(v);
    }
    return Status::ok();
  }

  Status compute() override {
    const ReduceKind kind = attrs<ReduceAttrs>().kind;
    if (in_[0].dtype == DataType::kBool) return runInt<bool>(kind);  // Max = any, Min = all
    return ref::dispatchType<KILN_REF_ARITH_TYPES>(in_[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_integral_v<T>)
        return runInt<T>(kind);
      else
        return runFloat<T>(kind);
    });
  }

  std::vector<int64_t> axes_;
  Strides outStrides_;  ///< output offset strides over the input dims (0 on reduced dims)
  int64_t count_ = 1;   ///< elements folded into each output
};

// ---- ArgMax / ArgMin (Reduce kinds with int64 output) -------------------------------------

/// Whether `v` replaces the current extreme `best` (argmax when `max`). NaN counts as the
/// extreme, as numpy's argmax and argmin treat it; ties keep the first index unless `last`.
template <class T>
bool replaces(T v, T best, bool max, bool last) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(best)) return last && std::isnan(v);
    if (std::isnan(v)) return true;
  }
  if (v == best) return last;
  return max ? v > best : v < best;
}

class ArgReduceKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    KILN_ASSIGN_OR_RETURN(auto axes, paramInts(1));
    if (axes.size() != 1) return layerError(desc_, "arg max / arg min take exactly one axis");
    KILN_ASSIGN_OR_RETURN(int64_t axis,
                          normalizeAxis(desc_, axes[0], static_cast<int64_t>(x.size())));
    split_ = ref::splitAt(x, axis);
    if (split_.n == 0 && split_.outer * split_.inner != 0)
      return layerError(desc_, "arg max / arg min over an empty axis");
    return Status::ok();
  }

  template <class T>
  Status run() {
    const auto& a = attrs<ReduceAttrs>();
    const bool max = a.kind == ReduceKind::kArgMax;
    const auto [outer, n, inner] = split_;
    const T* x = in<T>(0);
    int64_t* y = out<int64_t>(0);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        const T* xs = x + o * n * inner + j;
        int64_t best = 0;
        for (int64_t k = 1; k < n; ++k)
          if (replaces(xs[k * inner], xs[best * inner], max, a.selectLastIndex)) best = k;
        y[o * inner + j] = best;
      }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<float, double, int8_t, uint8_t, int32_t, int64_t>(
        in_[0].dtype, [&](auto tag) { return run<decltype(tag)>(); });
  }

  ref::AxisSplit split_;
};

// ---- Cumulative (cumsum) -----------------------------------------------------------------

class CumulativeKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    if (x.empty()) return layerError(desc_, "cumulative sum needs an input of rank >= 1");
    KILN_ASSIGN_OR_RETURN(auto axisValues, paramInts(1));
    if (axisValues.size() != 1) return layerError(desc_, "axis must be a single value");
    KILN_ASSIGN_OR_RETURN(int64_t axis,
                          normalizeAxis(desc_, axisValues[0], static_cast<int64_t>(x.size())));
    split_ = ref::splitAt(x, axis);
    return Status::ok();
  }

  template <class T>
  Status run() {
    const auto& a = attrs<CumulativeAttrs>();
    using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
    const auto [outer, n, inner] = split_;
    const T* x = in<T>(0);
    T* y = out<T>(0);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t base = o * n * inner + j;
        Acc acc = a.product ? 1 : 0;
        for (int64_t t = 0; t < n; ++t) {
          const int64_t k = a.reverse ? n - 1 - t : t;
          const Acc v = static_cast<Acc>(x[base + k * inner]);
          if (a.exclusive) y[base + k * inner] = static_cast<T>(acc);
          if constexpr (std::is_integral_v<T>)
            acc = a.product ? wrapMul(acc, v) : wrapAdd(acc, v);
          else
            acc = a.product ? acc * v : acc + v;
          if (!a.exclusive) y[base + k * inner] = static_cast<T>(acc);
        }
      }
    }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_ARITH_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  int64_t axis_;
  ref::AxisSplit split_;
};

constexpr std::initializer_list<DataType> kFloatTypes = {DataType::kFloat32, DataType::kFloat64};
constexpr std::initializer_list<DataType> kArithTypes = {DataType::kFloat32, DataType::kFloat64,
                                                         DataType::kInt32, DataType::kInt64};

}  // namespace

Status supportsReferenceReduce(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  const ReduceKind kind = desc.layer->as<ReduceAttrs>().kind;
  if (isArgReduce(kind)) {
    if (!desc.hasInput(1)) return layerError(desc, "arg max / arg min need an axes input");
    KILN_RETURN_IF_ERROR(
        ref::requireInputType(desc, 0,
                              {DataType::kFloat32, DataType::kFloat64, DataType::kInt8,
                               DataType::kUInt8, DataType::kInt32, DataType::kInt64}));
    return ref::requireOutputType(desc, 0, {DataType::kInt64});
  }
  if (desc.inputs[0].dtype == DataType::kBool &&
      (kind == ReduceKind::kMax || kind == ReduceKind::kMin))
    return ref::requireOutputType(desc, 0, {DataType::kBool});
  KILN_RETURN_IF_ERROR(
      ref::requireInputType(desc, 0, isIntegerReduce(kind) ? kArithTypes : kFloatTypes));
  KILN_RETURN_IF_ERROR(ref::requireOutputType(desc, 0, {desc.inputs[0].dtype}));
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferenceReduce(const LayerDesc& desc) {
  if (isArgReduce(desc.layer->as<ReduceAttrs>().kind))
    return ref::makeKernel<ArgReduceKernel>(desc);
  return ref::makeKernel<ReduceKernel>(desc);
}

Status supportsReferenceCumulative(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kArithTypes));
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceCumulative(const LayerDesc& desc) {
  return ref::makeKernel<CumulativeKernel>(desc);
}

}  // namespace kiln
