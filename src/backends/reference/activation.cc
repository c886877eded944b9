// kiln — reference Activation (parametric; f32 / f64 / f16 / bf16, and i8 / u8 / i32 for Relu and
// Clip) and Unary (parameter-free) layers.
//
// Float math is evaluated in double and rounded once to the output type, so the oracle is at
// least as accurate as any fast kernel it judges. NaN passes through Relu, Clip and the other
// piecewise functions (as numpy's maximum/minimum would).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"
#include "backends/reference/scalar_ops.h"
#include "util/float16.h"

namespace kiln {
namespace {

using ref::activate;

constexpr std::initializer_list<DataType> kFloatTypes = {DataType::kFloat32, DataType::kFloat64};
#define KILN_REF_UNARY_TYPES float, double, int8_t, uint8_t, int32_t, int64_t
constexpr std::initializer_list<DataType> kSignedTypes = {DataType::kFloat32, DataType::kFloat64,
                                                          DataType::kInt8,    DataType::kUInt8,
                                                          DataType::kInt32,   DataType::kInt64};

class ActivationKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status compute() override {
    const auto& a = attrs<ActivationAttrs>();
    const int64_t n = volume(out_[0].dims);
    // f16 / bf16: through float, as numpy evaluates half-precision functions.
    if (out_[0].dtype == DataType::kFloat16) {
      const Half* x = in<Half>(0);
      Half* y = out<Half>(0);
      for (int64_t i = 0; i < n; ++i)
        y[i] =
            floatToHalf(static_cast<float>(activate(a.kind, halfToFloat(x[i]), a.alpha, a.beta)));
      return Status::ok();
    }
    if (out_[0].dtype == DataType::kBFloat16) {
      const BFloat16* x = in<BFloat16>(0);
      BFloat16* y = out<BFloat16>(0);
      for (int64_t i = 0; i < n; ++i)
        y[i] = floatToBFloat16(
            static_cast<float>(activate(a.kind, bfloat16ToFloat(x[i]), a.alpha, a.beta)));
      return Status::ok();
    }
    return ref::dispatchType<float, double, int8_t, uint8_t, int32_t>(out_[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* x = in<T>(0);
      T* y = out<T>(0);
      for (int64_t i = 0; i < n; ++i) {
        double v = ref::activate(a.kind, static_cast<double>(x[i]), a.alpha, a.beta);
        if constexpr (std::is_integral_v<T>) {
          // Relu / Clip on integers (exact in double); bounds outside T's range saturate.
          v = std::clamp(v, static_cast<double>(std::numeric_limits<T>::lowest()),
                         static_cast<double>(std::numeric_limits<T>::max()));
        }
        y[i] = static_cast<T>(v);
      }
      return Status::ok();
    });
  }
};

/// Neg / Abs / Sign on integers, wrapping like two's complement (abs(INT_MIN) == INT_MIN).
template <class T>
T unaryInt(UnaryKind kind, T x) {
  using U = std::make_unsigned_t<T>;
  const T neg = static_cast<T>(U(0) - static_cast<U>(x));
  const bool negative = std::is_signed_v<T> && x < T(0);
  switch (kind) {
    case UnaryKind::kNeg:
      return neg;
    case UnaryKind::kAbs:
      return negative ? neg : x;
    case UnaryKind::kSign:
      return static_cast<T>(x > T(0) ? 1 : (negative ? -1 : 0));
    case UnaryKind::kBitwiseNot:
      return static_cast<T>(~static_cast<U>(x));
    default:
      return x;  // kIdentity (others are refused by supports())
  }
}

bool isIntegerUnary(UnaryKind k) {
  return k == UnaryKind::kIdentity || k == UnaryKind::kNeg || k == UnaryKind::kAbs ||
         k == UnaryKind::kSign;
}

bool isFloatClassify(UnaryKind k) {
  return k == UnaryKind::kIsNaN || k == UnaryKind::kIsInf || k == UnaryKind::kIsPosInf ||
         k == UnaryKind::kIsNegInf;
}

/// IsNaN / IsInf / IsPosInf / IsNegInf of a value widened to double (exact).
bool classify(UnaryKind k, double x) {
  switch (k) {
    case UnaryKind::kIsNaN:
      return std::isnan(x);
    case UnaryKind::kIsInf:
      return std::isinf(x);
    case UnaryKind::kIsPosInf:
      return std::isinf(x) && x > 0;
    case UnaryKind::kIsNegInf:
      return std::isinf(x) && x < 0;
    default:
      return false;
  }
}

class UnaryKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status compute() override {
    const UnaryKind kind = attrs<UnaryAttrs>().kind;
    const int64_t n = volume(out_[0].dims);
    if (kind == UnaryKind::kIdentity) {
      if (out_[0].bytes() != 0 && out<void>(0) != in<void>(0))
        std::memcpy(out<void>(0), in<void>(0), out_[0].bytes());
      return Status::ok();
    }
    if (kind == UnaryKind::kNot) {
      const bool* x = in<bool>(0);
      bool* y = out<bool>(0);
      for (int64_t i = 0; i < n; ++i)
        y[i] = !x[i];
      return Status::ok();
    }
    if (isFloatClassify(kind)) {
      bool* y = out<bool>(0);
      if (in_[0].dtype == DataType::kFloat16) {
        const Half* x = in<Half>(0);
        for (int64_t i = 0; i < n; ++i)
          y[i] = classify(kind, halfToFloat(x[i]));
        return Status::ok();
      }
      if (in_[0].dtype == DataType::kBFloat16) {
        const BFloat16* x = in<BFloat16>(0);
        for (int64_t i = 0; i < n; ++i)
          y[i] = classify(kind, bfloat16ToFloat(x[i]));
        return Status::ok();
      }
      return ref::dispatchType<KILN_REF_FLOAT_TYPES>(in_[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* x = in<T>(0);
        for (int64_t i = 0; i < n; ++i)
          y[i] = classify(kind, static_cast<double>(x[i]));
        return Status::ok();
      });
    }
    if (kind == UnaryKind::kBitwiseNot) {
      return ref::dispatchType<int8_t, uint8_t, int32_t, int64_t, KILN_REF_EXTRA_INT_TYPES>(
          in_[0].dtype, [&](auto tag) {
            using T = decltype(tag);
            const T* x = in<T>(0);
            T* y = out<T>(0);
            for (int64_t i = 0; i < n; ++i)
              y[i] = unaryInt<T>(kind, x[i]);
            return Status::ok();
          });
    }
    return ref::dispatchType<KILN_REF_UNARY_TYPES>(in_[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* x = in<T>(0);
      T* y = out<T>(0);
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_integral_v<T>) {
          y[i] = unaryInt<T>(kind, x[i]);
        } else {
          y[i] = static_cast<T>(ref::unaryFloat(kind, static_cast<double>(x[i])));
        }
      }
      return Status::ok();
    });
  }
};

}  // namespace

Status supportsReferenceActivation(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  const ActivationKind kind = desc.layer->as<ActivationAttrs>().kind;
  if (kind == ActivationKind::kRelu || kind == ActivationKind::kClip) {
    KILN_RETURN_IF_ERROR(
        ref::requireInputType(desc, 0,
                              {DataType::kFloat32, DataType::kFloat64, DataType::kInt8,
                               DataType::kUInt8, DataType::kInt32}));
  } else {
    KILN_RETURN_IF_ERROR(ref::requireInputType(
        desc, 0,
        {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}));
  }
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceActivation(const LayerDesc& desc) {
  return ref::makeKernel<ActivationKernel>(desc);
}

Status supportsReferenceUnary(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  const UnaryKind kind = desc.layer->as<UnaryAttrs>().kind;
  const DataType x = desc.inputs[0].dtype;
  if (kind == UnaryKind::kIdentity) {
    if (desc.outputs[0].dtype != x) return layerError(desc, "identity must keep the dtype");
    return Status::ok();
  }
  if (kind == UnaryKind::kNot) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, {DataType::kBool}));
    return ref::requireOutputType(desc, 0, {DataType::kBool});
  }
  if (isFloatClassify(kind)) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(
        desc, 0,
        {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}));
    return ref::requireOutputType(desc, 0, {DataType::kBool});
  }
  if (kind == UnaryKind::kBitwiseNot) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(
        desc, 0,
        {DataType::kInt8, DataType::kUInt8, DataType::kInt16, DataType::kUInt16, DataType::kInt32,
         DataType::kUInt32, DataType::kInt64, DataType::kUInt64}));
    return ref::requireOutputType(desc, 0, {x});
  }
  KILN_RETURN_IF_ERROR(
      ref::requireInputType(desc, 0, isIntegerUnary(kind) ? kSignedTypes : kFloatTypes));
  return ref::requireOutputType(desc, 0, {x});
}

Expected<std::unique_ptr<Kernel>> createReferenceUnary(const LayerDesc& desc) {
  return ref::makeKernel<UnaryKernel>(desc);
}

}  // namespace kiln
