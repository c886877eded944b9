// kiln — IEEE binary16 and bfloat16 conversions (round to nearest even), shared by the
// reference Cast kernel and host-side readers of f16/bf16 data.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace kiln {

/// IEEE binary16 and bfloat16 storage types (bits only; arithmetic goes through float).
struct Half {
  uint16_t bits = 0;
};
struct BFloat16 {
  uint16_t bits = 0;
};

inline uint32_t floatBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return x;
}

inline float bitsFloat(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

inline Half floatToHalf(float f) {
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

inline float halfToFloat(Half v) {
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

inline BFloat16 floatToBFloat16(float f) {
  const uint32_t x = floatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return {static_cast<uint16_t>((x >> 16) | 0x40u)};
  const uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);  // round to nearest even
  return {static_cast<uint16_t>(rounded >> 16)};
}

inline float bfloat16ToFloat(BFloat16 v) {
  return bitsFloat(static_cast<uint32_t>(v.bits) << 16);
}

/// n floats stored as f16 or bf16 (`t`), rounded to nearest even, into `dst` (n uint16 words).
inline void storeNarrow(const float* src, bool half, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = half ? floatToHalf(src[i]).bits : floatToBFloat16(src[i]).bits;
}
/// n f16 or bf16 words widened to float (exact).
inline void loadNarrow(const uint16_t* src, bool half, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = half ? halfToFloat(Half{src[i]}) : bfloat16ToFloat(BFloat16{src[i]});
}

}  // namespace kiln
