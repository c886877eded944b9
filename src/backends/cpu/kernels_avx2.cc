// kiln — AVX2 + FMA kernels of the cpu backend (see kernels_avx2.h). Built with -mavx2 -mfma.
//
// Transcendentals are polynomial approximations accurate to a few float ulps in the ranges that
// matter: exp (Cody-Waite reduction + degree-6 polynomial), tanh and sigmoid from exp, erf from
// Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7).
#include "backends/cpu/kernels_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::cpu::avx2 {
namespace {

inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365478515625f);
  x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 abs8(__m256 x) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}
inline __m256 signOf(__m256 x) {
  return _mm256_and_ps(_mm256_set1_ps(-0.0f), x);
}

/// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|).
inline __m256 tanh8(__m256 x) {
  __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), abs8(x)));
  __m256 one = _mm256_set1_ps(1.0f);
  __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  // Small |x|: tanh(x) = x - x^3/3 avoids the cancellation in 1 - e.
  __m256 x2 = _mm256_mul_ps(x, x);
  __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(x2, x), _mm256_set1_ps(-1.0f / 3.0f), x);
  __m256 useSmall = _mm256_cmp_ps(abs8(x), _mm256_set1_ps(0.004f), _CMP_LT_OQ);
  return _mm256_blendv_ps(_mm256_or_ps(t, signOf(x)), small, useSmall);
}

inline __m256 sigmoid8(__m256 x) {
  __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

inline __m256 erf8(__m256 x) {
  __m256 ax = abs8(x);
  __m256 one = _mm256_set1_ps(1.0f);
  __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, one));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(ax, ax)));
  __m256 r = _mm256_fnmadd_ps(p, e, one);
  return _mm256_or_ps(r, signOf(x));
}

inline __m256 act8(ActivationKind k, float alpha, float beta, __m256 x) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  switch (k) {
    case ActivationKind::kRelu:
      return _mm256_max_ps(x, zero);
    case ActivationKind::kClip:
      return _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(alpha)), _mm256_set1_ps(beta));
    case ActivationKind::kSigmoid:
      return sigmoid8(x);
    case ActivationKind::kTanh:
      return tanh8(x);
    case ActivationKind::kLeakyRelu: {
      __m256 neg = _mm256_cmp_ps(x, zero, _CMP_LT_OQ);
      return _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(alpha)), neg);
    }
    case ActivationKind::kHardSigmoid:
      return _mm256_max_ps(zero, _mm256_min_ps(one, _mm256_fmadd_ps(x, _mm256_set1_ps(alpha),
                                                                    _mm256_set1_ps(beta))));
    case ActivationKind::kHardSwish: {
      __m256 g = _mm256_max_ps(
          zero, _mm256_min_ps(one, _mm256_fmadd_ps(x, _mm256_set1_ps(1.0f / 6.0f), half)));
      return _mm256_mul_ps(x, g);
    }
    case ActivationKind::kGeluErf: {
      __m256 e = erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
      return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, e));
    }
    case ActivationKind::kGeluTanh: {
      __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
      __m256 in = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                                _mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x));
      return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, tanh8(in)));
    }
    default:
      return x;
  }
}

inline float actScalar(ActivationKind k, float alpha, float beta, float x) {
  float in[8] = {x}, out[8];
  _mm256_storeu_ps(out, act8(k, alpha, beta, _mm256_loadu_ps(in)));
  return out[0];
}

inline __m256 unary8(UnaryKind k, __m256 x) {
  switch (k) {
    case UnaryKind::kIdentity:
      return x;
    case UnaryKind::kNeg:
      return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f));
    case UnaryKind::kAbs:
      return abs8(x);
    case UnaryKind::kExp:
      return exp8(x);
    case UnaryKind::kSqrt:
      return _mm256_sqrt_ps(x);
    case UnaryKind::kReciprocal:
      return _mm256_div_ps(_mm256_set1_ps(1.0f), x);
    case UnaryKind::kErf:
      return erf8(x);
    case UnaryKind::kCeil:
      return _mm256_round_ps(x, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
    case UnaryKind::kFloor:
      return _mm256_round_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    case UnaryKind::kRound:
      return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    default:
      return x;
  }
}

inline __m256 binary8(ElementwiseKind k, __m256 a, __m256 b) {
  switch (k) {
    case ElementwiseKind::kAdd:
      return _mm256_add_ps(a, b);
    case ElementwiseKind::kSub:
      return _mm256_sub_ps(a, b);
    case ElementwiseKind::kMul:
      return _mm256_mul_ps(a, b);
    case ElementwiseKind::kDiv:
      return _mm256_div_ps(a, b);
    case ElementwiseKind::kMax:
      return _mm256_max_ps(a, b);
    case ElementwiseKind::kMin:
      return _mm256_min_ps(a, b);
    default:
      return a;
  }
}

/// Loads up to 8 floats (the rest zero) / stores the first n lanes.
inline __m256i tailMask(int64_t n) {
  alignas(32) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - n));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/// Applies f to [0, n) in 8-wide steps and one masked tail.
template <class F>
inline void map8(const float* x, float* y, int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    __m256i m = tailMask(n - i);
    _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)));
  }
}

}  // namespace

bool hasActivation(ActivationKind k) {
  switch (k) {
    case ActivationKind::kRelu:
    case ActivationKind::kClip:
    case ActivationKind::kSigmoid:
    case ActivationKind::kTanh:
    case ActivationKind::kLeakyRelu:
    case ActivationKind::kHardSigmoid:
    case ActivationKind::kHardSwish:
    case ActivationKind::kGeluErf:
    case ActivationKind::kGeluTanh:
      return true;
    default:
      return false;
  }
}

bool hasUnary(UnaryKind k) {
  switch (k) {
    case UnaryKind::kIdentity:
    case UnaryKind::kNeg:
    case UnaryKind::kAbs:
    case UnaryKind::kExp:
    case UnaryKind::kSqrt:
    case UnaryKind::kReciprocal:
    case UnaryKind::kErf:
    case UnaryKind::kCeil:
    case UnaryKind::kFloor:
    case UnaryKind::kRound:
      return true;
    default:
      return false;
  }
}

bool hasBinary(ElementwiseKind k) {
  switch (k) {
    case ElementwiseKind::kAdd:
    case ElementwiseKind::kSub:
    case ElementwiseKind::kMul:
    case ElementwiseKind::kDiv:
    case ElementwiseKind::kMax:
    case ElementwiseKind::kMin:
    case ElementwiseKind::kPow:
      return true;
    default:
      return false;
  }
}

void activation(ActivationKind k, float alpha, float beta, const float* x, float* y, int64_t n) {
  map8(x, y, n, [&](__m256 v) { return act8(k, alpha, beta, v); });
}

void unary(UnaryKind k, const float* x, float* y, int64_t n) {
  map8(x, y, n, [&](__m256 v) { return unary8(k, v); });
}

void binary(ElementwiseKind k, const float* a, int64_t aStep, const float* b, int64_t bStep,
            float* y, int64_t n) {
  if (k == ElementwiseKind::kPow) {
    // Small integer and square-root exponents (GELU's x^3, variances' x^2) are exact products;
    // anything else is std::pow per element.
    const float e = *b;
    if (bStep == 0 && aStep == 1 && (e == 1.0f || e == 2.0f || e == 3.0f || e == 0.5f)) {
      map8(a, y, n, [&](__m256 v) {
        if (e == 1.0f) return v;
        if (e == 0.5f) return _mm256_sqrt_ps(v);
        __m256 sq = _mm256_mul_ps(v, v);
        return e == 2.0f ? sq : _mm256_mul_ps(sq, v);
      });
      return;
    }
    for (int64_t i = 0; i < n; ++i)
      y[i] = std::pow(a[i * aStep], b[i * bStep]);
    return;
  }
  if (aStep == 1 && bStep == 1) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(y + i, binary8(k, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
      __m256i m = tailMask(n - i);
      _mm256_maskstore_ps(y + i, m,
                          binary8(k, _mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
  } else if (aStep == 1) {
    const __m256 bv = _mm256_set1_ps(*b);
    map8(a, y, n, [&](__m256 v) { return binary8(k, v, bv); });
  } else if (bStep == 1) {
    const __m256 av = _mm256_set1_ps(*a);
    map8(b, y, n, [&](__m256 v) { return binary8(k, av, v); });
  } else {
    const __m256 r = binary8(k, _mm256_set1_ps(*a), _mm256_set1_ps(*b));
    const float v = _mm256_cvtss_f32(r);
    std::fill(y, y + n, v);
  }
}

void isNan(const float* x, uint8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = x[i] != x[i];
}

void select(const uint8_t* cond, int64_t cStep, const float* a, int64_t aStep, const float* b,
            int64_t bStep, float* y, int64_t n) {
  if (cStep == 1 && aStep == 1 && bStep == 1) {
    for (int64_t i = 0; i < n; ++i)
      y[i] = cond[i] ? a[i] : b[i];
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    y[i] = cond[i * cStep] ? a[i * aStep] : b[i * bStep];
}

void softmaxRow(const float* x, float* y, int64_t n, bool log) {
  if (n <= 0) return;
  __m256 mv = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
  float mx = hmax(mv);
  for (; i < n; ++i)
    mx = std::max(mx, x[i]);
  const __m256 mb = _mm256_set1_ps(mx);
  __m256 sv = _mm256_setzero_ps();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
    if (!log) _mm256_storeu_ps(y + i, e);
    sv = _mm256_add_ps(sv, e);
  }
  if (i < n) {
    __m256i m = tailMask(n - i);
    __m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mb));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
    if (!log) _mm256_maskstore_ps(y + i, m, e);
    sv = _mm256_add_ps(sv, e);
  }
  const float sum = hsum(sv);
  if (log) {
    const __m256 sub = _mm256_set1_ps(mx + std::log(sum));
    map8(x, y, n, [&](__m256 v) { return _mm256_sub_ps(v, sub); });
  } else {
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    map8(y, y, n, [&](__m256 v) { return _mm256_mul_ps(v, inv); });
  }
}

void layerNormRow(const float* x, const float* scale, const float* bias, float* y, int64_t n,
                  float epsilon) {
  if (n <= 0) return;
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
  float sum = hsum(s);
  for (; i < n; ++i)
    sum += x[i];
  const float mean = sum / static_cast<float>(n);
  const __m256 mb = _mm256_set1_ps(mean);
  __m256 q = _mm256_setzero_ps();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mb);
    q = _mm256_fmadd_ps(d, d, q);
  }
  float sq = hsum(q);
  for (; i < n; ++i)
    sq += (x[i] - mean) * (x[i] - mean);
  const float inv = 1.0f / std::sqrt(sq / static_cast<float>(n) + epsilon);
  const __m256 iv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb), iv);
    __m256 r = bias ? _mm256_fmadd_ps(d, _mm256_loadu_ps(scale + i), _mm256_loadu_ps(bias + i))
                    : _mm256_mul_ps(d, _mm256_loadu_ps(scale + i));
    _mm256_storeu_ps(y + i, r);
  }
  for (; i < n; ++i)
    y[i] = (x[i] - mean) * inv * scale[i] + (bias ? bias[i] : 0.0f);
}

float sum(const float* x, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i)
    s += x[i];
  return s;
}

void addScalar(float* y, int64_t n, float bias) {
  const __m256 b = _mm256_set1_ps(bias);
  map8(y, y, n, [&](__m256 v) { return _mm256_add_ps(v, b); });
}

void depthwise3x3(const float* in, int64_t pitch, const float* w, float bias, float* out,
                  int64_t outH, int64_t outW, int stride) {
  __m256 wv[9];
  for (int t = 0; t < 9; ++t)
    wv[t] = _mm256_set1_ps(w[t]);
  const __m256 bv = _mm256_set1_ps(bias);
  for (int64_t oy = 0; oy < outH; ++oy) {
    const float* r0 = in + oy * stride * pitch;
    const float* rows[3] = {r0, r0 + pitch, r0 + 2 * pitch};
    float* o = out + oy * outW;
    int64_t ox = 0;
    // The last block of a row may run past outW: it reads the zero slack of the padded rows
    // and keeps only the valid lanes.
    auto store = [&](int64_t at, __m256 acc) {
      if (at + 8 <= outW) {
        _mm256_storeu_ps(o + at, acc);
      } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, acc);
        std::copy(tmp, tmp + (outW - at), o + at);
      }
    };
    if (stride == 1) {
      for (; ox < outW; ox += 8) {
        __m256 acc = bv;
        for (int ky = 0; ky < 3; ++ky) {
          const float* p = rows[ky] + ox;
          acc = _mm256_fmadd_ps(wv[ky * 3 + 0], _mm256_loadu_ps(p), acc);
          acc = _mm256_fmadd_ps(wv[ky * 3 + 1], _mm256_loadu_ps(p + 1), acc);
          acc = _mm256_fmadd_ps(wv[ky * 3 + 2], _mm256_loadu_ps(p + 2), acc);
        }
        store(ox, acc);
      }
    } else if (stride == 2) {
      // Even lanes of p[0..15] and of p[2..17]; odd lanes of p[0..15].
      auto even = [](const float* p) {
        __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
        __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), 0xD8));
      };
      auto odd = [](const float* p) {
        __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
        __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), 0xD8));
      };
      for (; ox < outW; ox += 8) {
        __m256 acc = bv;
        for (int ky = 0; ky < 3; ++ky) {
          const float* p = rows[ky] + 2 * ox;
          acc = _mm256_fmadd_ps(wv[ky * 3 + 0], even(p), acc);
          acc = _mm256_fmadd_ps(wv[ky * 3 + 1], odd(p), acc);
          acc = _mm256_fmadd_ps(wv[ky * 3 + 2], even(p + 2), acc);
        }
        store(ox, acc);
      }
    }
    for (; ox < outW; ++ox) {
      float acc = bias;
      for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx)
          acc += w[ky * 3 + kx] * rows[ky][ox * stride + kx];
      o[ox] = acc;
    }
  }
}

namespace {

/// q . k over d elements.
inline float dot(const float* q, const float* k, int64_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8), s1);
  }
  for (; i + 8 <= d; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), s0);
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < d; ++i)
    s += q[i] * k[i];
  return s;
}

/// acc[0, n) += p * v[0, n).
inline void axpy(float p, const float* v, float* acc, int64_t n) {
  const __m256 pv = _mm256_set1_ps(p);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(acc + i,
                     _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(acc + i)));
  for (; i < n; ++i)
    acc[i] += p * v[i];
}

}  // namespace

void attentionRow(const AttentionRow& r, const float* q, const float* mask, float* logits,
                  float* y) {
  const int64_t n = r.keys;
  float mx = -INFINITY;
  bool finite = n > 0;
  for (int64_t j = 0; j < n; ++j) {
    float l = r.scale * dot(q, r.k + j * r.kStride, r.d);
    if (mask) l += mask[j * r.maskStep];
    logits[j] = l;
    if (std::isnan(l)) finite = false;
    mx = std::max(mx, l);
  }
  // No visible key, a NaN, or an infinite maximum: every probability is NaN (the reference's
  // exp(-inf - -inf), exp(NaN), exp(inf - inf)), which zero_nan_probabilities turns into 0.
  if (!finite || !std::isfinite(mx)) {
    const float fill = r.zeroNan ? 0.0f : std::numeric_limits<float>::quiet_NaN();
    for (int64_t c = 0; c < r.dv; ++c)
      y[c] = fill;
    return;
  }
  const __m256 mb = _mm256_set1_ps(mx);
  __m256 sv = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(logits + j), mb));
    _mm256_storeu_ps(logits + j, e);
    sv = _mm256_add_ps(sv, e);
  }
  float sum = hsum(sv);
  for (; j < n; ++j) {
    float in[8] = {logits[j] - mx}, out[8];
    _mm256_storeu_ps(out, exp8(_mm256_loadu_ps(in)));
    logits[j] = out[0];
    sum += out[0];
  }
  for (int64_t c = 0; c < r.dv; ++c)
    y[c] = 0.0f;
  for (j = 0; j < n; ++j)
    axpy(logits[j], r.v + j * r.vStride, y, r.dv);
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  map8(y, y, r.dv, [&](__m256 v) { return _mm256_mul_ps(v, inv); });
}

}  // namespace kiln::cpu::avx2
