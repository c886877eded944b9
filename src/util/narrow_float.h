// kiln — the narrow ONNX float formats (float8 e4m3fn / e4m3fnuz / e5m2 / e5m2fnuz, float8
// e8m0, float4 e2m1) and the sub-byte integers (int4, uint4, int2, uint2): decoding a code to a
// double, and encoding a double with the ONNX Cast rules. Shared by the reference Cast and
// quantization kernels and by host-side readers of these types.
//
// Encoding rules (ONNX Cast, opset 19 and later; the same as the ONNX reference implementation):
//   - float8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz and float4 e2m1: round to nearest even on the
//     format's grid (subnormals included). With `saturate`, a result beyond the largest finite
//     value (infinities included) becomes that value with the input's sign. Without it: e5m2
//     gives +-inf, e4m3fn gives NaN (with the input's sign), the fnuz formats give their one NaN
//     (0x80). NaN gives NaN. The fnuz formats have no -0: a negative value that rounds to zero
//     gives +0. float4 e2m1 has neither infinity nor NaN: it always saturates, and NaN gives
//     0x8 (the code the ONNX reference produces).
//   - float8 e8m0 (a power of two 2^(code-127); 0xFF is NaN; no sign, no zero): by |x|, with the
//     `round_mode` "up" (away from zero, the default), "down" or "nearest" (ties up). With
//     `saturate`, values beyond the range clamp to 2^127 or 2^-127 (zero and infinities included);
//     without it they give NaN. NaN gives NaN.
//   - sub-byte integers from a float: truncate toward zero, then keep the low bits (two's
//     complement), as ONNX does for out-of-range integer casts (ONNX leaves float overflow
//     undefined; this is what its reference produces). NaN gives 0.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "kiln/types.h"

namespace kiln {

/// Whether `t` is one of the narrow float types (float8 family and float4 e2m1).
inline bool isNarrowFloat(DataType t) {
  return t == DataType::kFloat8E4M3FN || t == DataType::kFloat8E4M3FNUZ ||
         t == DataType::kFloat8E5M2 || t == DataType::kFloat8E5M2FNUZ ||
         t == DataType::kFloat8E8M0 || t == DataType::kFloat4E2M1;
}

/// How Cast rounds to float8 e8m0 (ONNX attribute `round_mode`).
enum class E8M0Rounding : int32_t { kUp = 0, kDown = 1, kNearest = 2 };

namespace narrow_detail {

/// A small binary float format with a sign bit.
struct Format {
  int expBits, manBits, bias;
  enum NaNStyle { kIeee, kFiniteOnlyAllOnesNaN, kUnsignedZeroNaN, kNoNaN } style;
};

inline Format formatOf(DataType t) {
  switch (t) {
    case DataType::kFloat8E4M3FN:
      return {4, 3, 7, Format::kFiniteOnlyAllOnesNaN};
    case DataType::kFloat8E4M3FNUZ:
      return {4, 3, 8, Format::kUnsignedZeroNaN};
    case DataType::kFloat8E5M2:
      return {5, 2, 15, Format::kIeee};
    case DataType::kFloat8E5M2FNUZ:
      return {5, 2, 16, Format::kUnsignedZeroNaN};
    default:  // kFloat4E2M1
      return {2, 1, 1, Format::kNoNaN};
  }
}

/// Round half to even, exact for any double.
inline double roundHalfEven(double q) {
  const double r = std::floor(q);
  const double diff = q - r;
  if (diff > 0.5) return r + 1;
  if (diff < 0.5) return r;
  return std::fmod(r, 2.0) == 0 ? r : r + 1;
}

inline double decode(const Format& f, uint32_t code) {
  const uint32_t signBit = 1u << (f.expBits + f.manBits);
  const uint32_t expField = (code >> f.manBits) & ((1u << f.expBits) - 1);
  const uint32_t man = code & ((1u << f.manBits) - 1);
  const bool negative = (code & signBit) != 0;
  const uint32_t expAllOnes = (1u << f.expBits) - 1;
  switch (f.style) {
    case Format::kIeee:
      if (expField == expAllOnes)
        return man == 0 ? (negative ? -INFINITY : INFINITY)
                        : std::numeric_limits<double>::quiet_NaN();
      break;
    case Format::kFiniteOnlyAllOnesNaN:
      if (expField == expAllOnes && man == (1u << f.manBits) - 1)
        return std::numeric_limits<double>::quiet_NaN();
      break;
    case Format::kUnsignedZeroNaN:
      if (code == signBit) return std::numeric_limits<double>::quiet_NaN();
      break;
    case Format::kNoNaN:
      break;
  }
  const double v = expField == 0 ? std::ldexp(static_cast<double>(man), 1 - f.bias - f.manBits)
                                 : std::ldexp(static_cast<double>(man + (1u << f.manBits)),
                                              static_cast<int>(expField) - f.bias - f.manBits);
  return negative ? -v : v;
}

/// The largest finite value of a format.
inline double maxFinite(const Format& f) {
  const int expAllOnes = (1 << f.expBits) - 1;
  const int manAll = (1 << f.manBits) - 1;
  switch (f.style) {
    case Format::kIeee:  // the top exponent is inf/NaN
      return std::ldexp(manAll + (1 << f.manBits), expAllOnes - 1 - f.bias - f.manBits);
    case Format::kFiniteOnlyAllOnesNaN:  // all ones is NaN: one mantissa step less
      return std::ldexp(manAll - 1 + (1 << f.manBits), expAllOnes - f.bias - f.manBits);
    default:
      return std::ldexp(manAll + (1 << f.manBits), expAllOnes - f.bias - f.manBits);
  }
}

inline uint8_t encode(const Format& f, double x, bool saturate) {
  const uint32_t signBit = 1u << (f.expBits + f.manBits);
  const uint32_t sign = std::signbit(x) ? signBit : 0u;
  const uint32_t expAllOnes = (1u << f.expBits) - 1;
  const uint32_t maxCode = [&] {
    switch (f.style) {
      case Format::kIeee:
        return ((expAllOnes - 1) << f.manBits) | ((1u << f.manBits) - 1);
      case Format::kFiniteOnlyAllOnesNaN:
        return (expAllOnes << f.manBits) | ((1u << f.manBits) - 2);
      default:
        return (expAllOnes << f.manBits) | ((1u << f.manBits) - 1);
    }
  }();
  auto nanCode = [&]() -> uint8_t {
    switch (f.style) {
      case Format::kIeee:
        return static_cast<uint8_t>(sign | (expAllOnes << f.manBits) | (1u << (f.manBits - 1)));
      case Format::kFiniteOnlyAllOnesNaN:
        return static_cast<uint8_t>(sign | (expAllOnes << f.manBits) | ((1u << f.manBits) - 1));
      case Format::kUnsignedZeroNaN:
        return static_cast<uint8_t>(signBit);
      case Format::kNoNaN:
        return static_cast<uint8_t>(signBit);  // -0, as the ONNX reference
    }
    return 0;
  };
  auto overflowCode = [&]() -> uint8_t {
    if (saturate || f.style == Format::kNoNaN) return static_cast<uint8_t>(sign | maxCode);
    if (f.style == Format::kIeee) return static_cast<uint8_t>(sign | (expAllOnes << f.manBits));
    return nanCode();
  };
  if (std::isnan(x)) return nanCode();
  if (std::isinf(x)) return overflowCode();
  const double a = std::fabs(x);
  const bool unsignedZero = f.style == Format::kUnsignedZeroNaN;
  if (a == 0) return static_cast<uint8_t>(unsignedZero ? 0u : sign);
  const int minNormalExp = 1 - f.bias;
  int e = std::ilogb(a);
  if (e < minNormalExp) e = minNormalExp;  // subnormal spacing
  const int quantumExp = e - f.manBits;
  const double n = roundHalfEven(std::ldexp(a, -quantumExp));
  const double value = std::ldexp(n, quantumExp);
  if (value > maxFinite(f)) return overflowCode();
  if (n == 0) return static_cast<uint8_t>(unsignedZero ? 0u : sign);
  uint32_t code;
  const int ve = std::ilogb(value);
  if (ve < minNormalExp) {
    code = static_cast<uint32_t>(n);  // subnormal: the mantissa counts quanta
  } else {
    const uint32_t man =
        static_cast<uint32_t>(std::ldexp(value, f.manBits - ve)) - (1u << f.manBits);
    code = (static_cast<uint32_t>(ve + f.bias) << f.manBits) | man;
  }
  return static_cast<uint8_t>(sign | code);
}

}  // namespace narrow_detail

/// The value of a narrow float code (float8 family, float4 e2m1), as a double (exact).
inline double decodeNarrowFloat(DataType t, uint8_t code) {
  if (t == DataType::kFloat8E8M0)
    return code == 0xFF ? std::numeric_limits<double>::quiet_NaN()
                        : std::ldexp(1.0, static_cast<int>(code) - 127);
  return narrow_detail::decode(narrow_detail::formatOf(t),
                               code & (t == DataType::kFloat4E2M1 ? 0x0Fu : 0xFFu));
}

/// Encodes `x` as float8 e8m0 (see the file comment).
inline uint8_t encodeE8M0(double x, bool saturate, E8M0Rounding mode) {
  if (std::isnan(x)) return 0xFF;
  const double a = std::fabs(x);
  if (std::isinf(a)) return saturate ? 0xFE : 0xFF;
  if (a == 0) return saturate ? 0x00 : 0xFF;
  int e = std::ilogb(a);                  // a in [2^e, 2^(e+1))
  const double frac = std::ldexp(a, -e);  // in [1, 2)
  if (mode == E8M0Rounding::kUp ? frac > 1.0 : mode == E8M0Rounding::kNearest && frac >= 1.5) ++e;
  if (e > 127) return saturate ? 0xFE : 0xFF;
  if (e < -127) return saturate ? 0x00 : 0xFF;
  return static_cast<uint8_t>(e + 127);
}

/// Encodes `x` in a narrow float type other than e8m0 (see the file comment).
inline uint8_t encodeNarrowFloat(DataType t, double x, bool saturate) {
  return narrow_detail::encode(narrow_detail::formatOf(t), x, saturate);
}

/// The in-memory value of a sub-byte integer type (kInt4, kUInt4, kInt2, kUInt2) from an
/// integer: its low bits, sign-extended for the signed types.
inline int8_t wrapSubByteInt(DataType t, int64_t v) {
  const int bits = (t == DataType::kInt4 || t == DataType::kUInt4) ? 4 : 2;
  const uint64_t low = static_cast<uint64_t>(v) & ((uint64_t{1} << bits) - 1);
  const bool isSigned = t == DataType::kInt4 || t == DataType::kInt2;
  if (isSigned && (low >> (bits - 1)) != 0) return static_cast<int8_t>(low - (uint64_t{1} << bits));
  return static_cast<int8_t>(low);
}

/// Float to a sub-byte integer: truncate toward zero, then wrap (NaN gives 0).
inline int8_t floatToSubByteInt(DataType t, double x) {
  if (std::isnan(x)) return 0;
  const double tr = std::trunc(x);
  int64_t v;
  if (tr <= -9223372036854775808.0)
    v = std::numeric_limits<int64_t>::min();
  else if (tr >= 9223372036854775808.0)
    v = std::numeric_limits<int64_t>::max();
  else
    v = static_cast<int64_t>(tr);
  return wrapSubByteInt(t, v);
}

}  // namespace kiln
