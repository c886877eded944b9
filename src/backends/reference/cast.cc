// kiln — reference Cast: converts between any two of f32, f64, f16, bf16, i8, u8, i16, u16, i32,
// u32, i64, u64, bool, the float8 types, float4 e2m1 and the sub-byte integers.
//
// Conversion rules (ONNX Cast; where ONNX leaves a case undefined we pick the safe choice):
//   float -> int: truncate toward zero, NaN -> 0, out-of-range values saturate;
//   int -> narrower int: wraps (two's complement, as C++20 defines it);
//   anything -> bool: x != 0 (NaN -> true);  bool -> anything: 0 or 1;
//   f16 / bf16: through float, rounding to nearest even; overflow gives inf. (f64 -> f16 thus
//   rounds twice, which can differ from a direct rounding in the last bit for rare ties.)
//   float8 / float4 / e8m0 and the sub-byte integers: util/narrow_float.h (ONNX saturate and
//   round_mode rules; float -> int4/int2 truncates then wraps, as the ONNX reference does).
//   Narrow floats convert through double, which holds every value of them exactly.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"
#include "util/float16.h"
#include "util/narrow_float.h"

namespace kiln {
namespace {

/// Converts one element between the plain C++ types.
template <class D, class S>
D convert(S x) {
  if constexpr (std::is_same_v<D, bool>) {
    return x != S(0);
  } else if constexpr (std::is_same_v<S, bool>) {
    return static_cast<D>(x ? 1 : 0);
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    if (std::isnan(x)) return D(0);
    const S t = std::trunc(x);
    // The bounds are powers of two (exact in S); compare before casting to stay defined.
    const S lo = static_cast<S>(std::numeric_limits<D>::min());
    const S hiExclusive = static_cast<S>(std::numeric_limits<D>::max() / 2 + 1) * S(2);
    if (t < lo) return std::numeric_limits<D>::min();
    if (t >= hiExclusive) return std::numeric_limits<D>::max();
    return static_cast<D>(t);
  } else {
    return static_cast<D>(x);
  }
}

/// The Cast attributes that narrow targets need.
struct CastMode {
  bool saturate = true;
  E8M0Rounding rounding = E8M0Rounding::kUp;
};

/// A plain (non-narrow) value as double; bool as 0/1.
template <class S>
double toDouble(S x) {
  if constexpr (std::is_same_v<S, Half>)
    return halfToFloat(x);
  else if constexpr (std::is_same_v<S, BFloat16>)
    return bfloat16ToFloat(x);
  else if constexpr (std::is_same_v<S, bool>)
    return x ? 1.0 : 0.0;
  else
    return static_cast<double>(x);
}

/// Converts with the 16-bit float types routed through float and the narrow types through
/// double (narrow floats) or int64 (sub-byte integers).
template <class D, class S>
D convertAny(S x, const CastMode& mode) {
  if constexpr (std::is_same_v<D, S>) {
    return x;
  } else if constexpr (ref::kIsNarrowFloat<S>) {
    return convertAny<D>(decodeNarrowFloat(S::kDataType, x.bits), mode);
  } else if constexpr (ref::kIsSubByteInt<S>) {
    return convertAny<D>(static_cast<int64_t>(x.value), mode);
  } else if constexpr (ref::kIsNarrowFloat<D>) {
    const double v = toDouble(x);
    if constexpr (D::kDataType == DataType::kFloat8E8M0)
      return D{encodeE8M0(v, mode.saturate, mode.rounding)};
    else
      return D{encodeNarrowFloat(D::kDataType, v, mode.saturate)};
  } else if constexpr (ref::kIsSubByteInt<D>) {
    if constexpr (std::is_same_v<S, bool>)
      return D{static_cast<int8_t>(x ? 1 : 0)};
    else if constexpr (std::is_integral_v<S>)
      return D{wrapSubByteInt(D::kDataType, static_cast<int64_t>(x))};
    else
      return D{floatToSubByteInt(D::kDataType, toDouble(x))};
  } else if constexpr (std::is_same_v<S, Half>) {
    return convertAny<D>(halfToFloat(x), mode);
  } else if constexpr (std::is_same_v<S, BFloat16>) {
    return convertAny<D>(bfloat16ToFloat(x), mode);
  } else if constexpr (std::is_same_v<D, Half>) {
    return floatToHalf(convert<float>(x));
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    return floatToBFloat16(convert<float>(x));
  } else {
    return convert<D>(x);
  }
}

template <class F>
Status dispatchCastType(DataType t, F&& f) {
  if (t == DataType::kFloat16) return f(Half{});
  if (t == DataType::kBFloat16) return f(BFloat16{});
  return ref::dispatchType<KILN_REF_ALL_TYPES, KILN_REF_EXTRA_INT_TYPES,
                           KILN_REF_NARROW_FLOAT_TYPES, KILN_REF_SUB_BYTE_INT_TYPES>(t, f);
}

class CastKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    if (volume(in_[0].dims) != volume(out_[0].dims))
      return layerError(desc_, "output dims " + dimsToString(out_[0].dims) +
                                   " differ from input dims " + dimsToString(in_[0].dims));
    return Status::ok();
  }

  Status compute() override {
    const int64_t n = volume(in_[0].dims);
    const auto& a = attrs<CastAttrs>();
    CastMode mode;
    mode.saturate = a.saturate;
    mode.rounding = static_cast<E8M0Rounding>(a.roundMode);
    return dispatchCastType(in_[0].dtype, [&](auto srcTag) {
      using S = decltype(srcTag);
      return dispatchCastType(out_[0].dtype, [&](auto dstTag) {
        using D = decltype(dstTag);
        const S* x = in<S>(0);
        D* y = out<D>(0);
        for (int64_t i = 0; i < n; ++i)
          y[i] = convertAny<D>(x[i], mode);
        return Status::ok();
      });
    });
  }
};

constexpr std::initializer_list<DataType> kCastTypes = {
    DataType::kFloat32,    DataType::kFloat64,        DataType::kFloat16,
    DataType::kBFloat16,   DataType::kInt8,           DataType::kUInt8,
    DataType::kInt32,      DataType::kInt64,          DataType::kBool,
    DataType::kInt16,      DataType::kUInt16,         DataType::kUInt32,
    DataType::kUInt64,     DataType::kFloat8E4M3FN,   DataType::kFloat8E4M3FNUZ,
    DataType::kFloat8E5M2, DataType::kFloat8E5M2FNUZ, DataType::kFloat8E8M0,
    DataType::kInt4,       DataType::kUInt4,          DataType::kInt2,
    DataType::kUInt2,      DataType::kFloat4E2M1};

}  // namespace

Status supportsReferenceCast(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kCastTypes));
  KILN_RETURN_IF_ERROR(ref::requireOutputType(desc, 0, kCastTypes));
  if (desc.layer->as<CastAttrs>().roundMode < 0 || desc.layer->as<CastAttrs>().roundMode > 2)
    return layerError(desc, "round_mode must be 0 (up), 1 (down) or 2 (nearest), got " +
                                std::to_string(desc.layer->as<CastAttrs>().roundMode));
  if (desc.outputs[0].dtype != desc.layer->as<CastAttrs>().to)
    return layerError(desc, std::string("output dtype ") + dataTypeName(desc.outputs[0].dtype) +
                                " differs from the 'to' attribute " +
                                dataTypeName(desc.layer->as<CastAttrs>().to));
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferenceCast(const LayerDesc& desc) {
  return ref::makeKernel<CastKernel>(desc);
}

}  // namespace kiln
