// kiln — reference Cast: converts between any two of f32, f64, f16, bf16, i8, u8, i32, i64, bool.
//
// Conversion rules (ONNX Cast; where ONNX leaves a case undefined we pick the safe choice):
//   float -> int: truncate toward zero, NaN -> 0, out-of-range values saturate;
//   int -> narrower int: wraps (two's complement, as C++20 defines it);
//   anything -> bool: x != 0 (NaN -> true);  bool -> anything: 0 or 1;
//   f16 / bf16: through float, rounding to nearest even; overflow gives inf.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

/// IEEE binary16 and bfloat16 storage types (bits only; arithmetic goes through float).
struct Half {
  uint16_t bits = 0;
};
struct BFloat16 {
  uint16_t bits = 0;
};

uint32_t floatBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return x;
}

float bitsFloat(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

Half floatToHalf(float f) {
  const uint32_t x = floatBits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)  // inf, or NaN (kept quiet)
    return {static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u))};
  if (absx >= 0x47800000u) return {static_cast<uint16_t>(sign | 0x7c00u)};  // >= 2^16: inf
  const uint32_t exp = absx >> 23;
  if (exp < 113) {  // below 2^-14: a half subnormal (or zero); the unit is 2^-24
    const uint32_t shift = 126 - exp;
    if (shift >= 25) return {sign};
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return {static_cast<uint16_t>(sign | q)};
  }
  const uint32_t mant = absx & 0x7fffffu;
  uint32_t h = ((exp - 127 + 15) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry may reach inf: correct
  return {static_cast<uint16_t>(sign | h)};
}

float halfToFloat(Half v) {
  const uint32_t sign = (static_cast<uint32_t>(v.bits) & 0x8000u) << 16;
  const uint32_t exp = (v.bits >> 10) & 0x1fu;
  const uint32_t mant = v.bits & 0x3ffu;
  if (exp == 0) {
    float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  }
  if (exp == 31) return bitsFloat(sign | 0x7f800000u | (mant << 13));
  return bitsFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

BFloat16 floatToBFloat16(float f) {
  const uint32_t x = floatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return {static_cast<uint16_t>((x >> 16) | 0x40u)};
  const uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);  // round to nearest even
  return {static_cast<uint16_t>(rounded >> 16)};
}

float bfloat16ToFloat(BFloat16 v) { return bitsFloat(static_cast<uint32_t>(v.bits) << 16); }

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

/// Converts with the 16-bit float types routed through float.
template <class D, class S>
D convertAny(S x) {
  if constexpr (std::is_same_v<D, S>) {
    return x;
  } else if constexpr (std::is_same_v<S, Half>) {
    return convertAny<D>(halfToFloat(x));
  } else if constexpr (std::is_same_v<S, BFloat16>) {
    return convertAny<D>(bfloat16ToFloat(x));
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
  return ref::dispatchType<KILN_REF_ALL_TYPES>(t, f);
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
    return dispatchCastType(in_[0].dtype, [&](auto srcTag) {
      using S = decltype(srcTag);
      return dispatchCastType(out_[0].dtype, [&](auto dstTag) {
        using D = decltype(dstTag);
        const S* x = in<S>(0);
        D* y = out<D>(0);
        for (int64_t i = 0; i < n; ++i) y[i] = convertAny<D>(x[i]);
        return Status::ok();
      });
    });
  }
};

constexpr std::initializer_list<DataType> kCastTypes = {
    DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16,
    DataType::kInt8,    DataType::kUInt8,   DataType::kInt32,   DataType::kInt64,
    DataType::kBool};

}  // namespace

Status supportsReferenceCast(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kCastTypes));
  KILN_RETURN_IF_ERROR(ref::requireOutputType(desc, 0, kCastTypes));
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
