// kiln — the cpu backend's own AVX2 + FMA kernels (kernels_avx2.cc is compiled with -mavx2
// -mfma -mf16c; callers check hostCpuIsa() >= kAvx2 first). Every function works on
// contiguous f32 runs of any length (a scalar tail follows the 8-wide body) and is tested
// against the reference backend around multiples of 8.
#pragma once

#include <cstdint>

#include "kiln/layers.h"

namespace kiln::cpu::avx2 {

/// Whether activation / unary / binary kind `k` has a kernel here.
bool hasActivation(ActivationKind k);
bool hasUnary(UnaryKind k);
bool hasBinary(ElementwiseKind k);

/// y[i] = f(x[i]) (x == y allowed).
void activation(ActivationKind k, float alpha, float beta, const float* x, float* y, int64_t n);
void unary(UnaryKind k, const float* x, float* y, int64_t n);
/// y[i] = a[i * aStep] (op) b[i * bStep], with steps 0 (a broadcast scalar) or 1.
void binary(ElementwiseKind k, const float* a, int64_t aStep, const float* b, int64_t bStep,
            float* y, int64_t n);
/// y[i] = isnan(x[i]) as bool bytes.
void isNan(const float* x, uint8_t* y, int64_t n);
/// y[i] = cond[i * cStep] ? a[i * aStep] : b[i * bStep], steps 0 or 1.
void select(const uint8_t* cond, int64_t cStep, const float* a, int64_t aStep, const float* b,
            int64_t bStep, float* y, int64_t n);
/// Softmax (or log-softmax) of one contiguous row.
void softmaxRow(const float* x, float* y, int64_t n, bool log);
/// Layer normalization of one row: y = (x - mean) / sqrt(var + eps) * scale + bias (bias may
/// be null).
void layerNormRow(const float* x, const float* scale, const float* bias, float* y, int64_t n,
                  float epsilon);
/// Sum of x[0, n) (8 partial sums, then the tail).
float sum(const float* x, int64_t n);
/// y[i] += bias (bias added to a whole row).
void addScalar(float* y, int64_t n, float bias);
/// One output plane of a 3x3 depthwise convolution over a zero-padded input plane `in` (row
/// pitch `pitch` floats, the first valid input pixel at [1][1], zeros after the last input
/// column: at least 24 of them past stride * outW + 2): out[oy][ox] = bias + sum w[ky][kx] *
/// in[oy*s + ky][ox*s + kx].
void depthwise3x3(const float* in, int64_t pitch, const float* w, float bias, float* out,
                  int64_t outH, int64_t outW, int stride);

/// The keys and values one query row of attention reads: key j at k + j * kStride (d floats),
/// value j at v + j * vStride (dv floats), for the first `keys` keys (the visible ones).
struct AttentionRow {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t kStride = 0, vStride = 0, keys = 0, d = 0, dv = 0;
  int64_t maskStep = 0;  ///< mask[j * maskStep] (0: one value for every key)
  float scale = 1.0f;
  bool zeroNan = false;  ///< NaN probabilities become 0 (AttentionAttrs::zeroNanProbabilities)
};
/// y[0, dv) = softmax_j(scale * q . k_j + mask_j) weighted sum of v_j, as the reference
/// Attention computes it (a row with no visible key, a NaN logit or an infinite maximum has NaN
/// probabilities). `mask` may be null; `logits` is scratch of `keys` floats.
void attentionRow(const AttentionRow& r, const float* q, const float* mask, float* logits,
                  float* y);

}  // namespace kiln::cpu::avx2
