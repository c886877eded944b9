// kiln — the cuda backend's own kernels: elementwise (activation, unary, binary with
// broadcasting), fused Pointwise expressions, strided copies, casts, softmax, layer
// normalization, pooling, epilogues, direct convolution.
//
// Correct before fast: grid-stride loops over the output, one block per row for the row
// reductions. The math matches the reference backend's definitions (layers.h). Tensors are
// stored as fp32, fp16 or bf16 (Storage); every kernel computes in fp32 and rounds once per
// stored result, as the reference does on narrow tensors.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <cmath>

#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

// Loads and stores in the storage type, arithmetic in fp32.
__device__ __forceinline__ float ld(const float* p, int64_t i) {
  return p[i];
}
__device__ __forceinline__ float ld(const __half* p, int64_t i) {
  return __half2float(p[i]);
}
__device__ __forceinline__ float ld(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ void st(float* p, int64_t i, float v) {
  p[i] = v;
}
__device__ __forceinline__ void st(__half* p, int64_t i, float v) {
  p[i] = __float2half_rn(v);
}
__device__ __forceinline__ void st(__nv_bfloat16* p, int64_t i, float v) {
  p[i] = __float2bfloat16_rn(v);
}

/// Runs `body` with T the element type of `storage`.
#define KILN_STORAGE_SWITCH(storage, body) \
  switch (storage) {                       \
    case Storage::kF32: {                  \
      using T = float;                     \
      body;                                \
    } break;                               \
    case Storage::kF16: {                  \
      using T = __half;                    \
      body;                                \
    } break;                               \
    case Storage::kBF16: {                 \
      using T = __nv_bfloat16;             \
      body;                                \
    } break;                               \
  }

unsigned blocksFor(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b > 65535 * 8 ? 65535 * 8 : b);
}

__device__ float activate(ActivationKind k, float x, float a, float b) {
  switch (k) {
    case ActivationKind::kRelu:
      return x > 0.0f ? x : (x != x ? x : 0.0f);
    case ActivationKind::kClip:
      return fminf(fmaxf(x, a), b);
    case ActivationKind::kSigmoid:
      return 1.0f / (1.0f + expf(-x));
    case ActivationKind::kTanh:
      return tanhf(x);
    case ActivationKind::kLeakyRelu:
      return x < 0.0f ? a * x : x;
    case ActivationKind::kElu:
      return x < 0.0f ? a * (expf(x) - 1.0f) : x;
    case ActivationKind::kHardSigmoid:
      return fmaxf(0.0f, fminf(1.0f, a * x + b));
    case ActivationKind::kSoftplus:
      return x > 20.0f ? x : log1pf(expf(x));
    case ActivationKind::kGeluErf:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case ActivationKind::kGeluTanh:
      return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case ActivationKind::kHardSwish:
      return x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f));
    case ActivationKind::kSelu:
      return b * (x < 0.0f ? a * (expf(x) - 1.0f) : x);
    case ActivationKind::kNone:
      return x;
    case ActivationKind::kSilu:
      return x / (1.0f + expf(-x));
    case ActivationKind::kSoftsign:
      return x / (1.0f + fabsf(x));
    case ActivationKind::kCelu:
      return fmaxf(0.0f, x) + fminf(0.0f, a * (expf(x / a) - 1.0f));
    case ActivationKind::kSwish:
      return x / (1.0f + expf(-a * x));
    case ActivationKind::kMish: {
      float sp = x > 20.0f ? x : log1pf(expf(x));
      return x * tanhf(sp);
    }
    case ActivationKind::kThresholdedRelu:
      return x > a ? x : 0.0f;
    case ActivationKind::kShrink:
      return x < -a ? x + b : (x > a ? x - b : 0.0f);
  }
  return x;
}

__device__ float unary(UnaryKind k, float x) {
  switch (k) {
    case UnaryKind::kIdentity:
      return x;
    case UnaryKind::kNeg:
      return -x;
    case UnaryKind::kAbs:
      return fabsf(x);
    case UnaryKind::kExp:
      return expf(x);
    case UnaryKind::kLog:
      return logf(x);
    case UnaryKind::kSqrt:
      return sqrtf(x);
    case UnaryKind::kReciprocal:
      return 1.0f / x;
    case UnaryKind::kErf:
      return erff(x);
    case UnaryKind::kCeil:
      return ceilf(x);
    case UnaryKind::kFloor:
      return floorf(x);
    case UnaryKind::kRound:
      return rintf(x);
    case UnaryKind::kSign:
      return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case UnaryKind::kSin:
      return sinf(x);
    case UnaryKind::kCos:
      return cosf(x);
    case UnaryKind::kTan:
      return tanf(x);
    case UnaryKind::kAsin:
      return asinf(x);
    case UnaryKind::kAcos:
      return acosf(x);
    case UnaryKind::kAtan:
      return atanf(x);
    case UnaryKind::kSinh:
      return sinhf(x);
    case UnaryKind::kCosh:
      return coshf(x);
    case UnaryKind::kAsinh:
      return asinhf(x);
    case UnaryKind::kAcosh:
      return acoshf(x);
    case UnaryKind::kAtanh:
      return atanhf(x);
    case UnaryKind::kNot:
      return x != 0.0f ? 0.0f : 1.0f;
    case UnaryKind::kIsNaN:
      return x != x ? 1.0f : 0.0f;
    case UnaryKind::kIsInf:
      return isinf(x) ? 1.0f : 0.0f;
    case UnaryKind::kIsPosInf:
      return isinf(x) && x > 0.0f ? 1.0f : 0.0f;
    case UnaryKind::kIsNegInf:
      return isinf(x) && x < 0.0f ? 1.0f : 0.0f;
    default:
      return x;
  }
}

__device__ float binary(ElementwiseKind k, float a, float b) {
  switch (k) {
    case ElementwiseKind::kAdd:
      return a + b;
    case ElementwiseKind::kSub:
      return a - b;
    case ElementwiseKind::kMul:
      return a * b;
    case ElementwiseKind::kDiv:
      return a / b;
    case ElementwiseKind::kPow:
      return powf(a, b);
    case ElementwiseKind::kMax:
      return (a != a || b != b) ? a + b : fmaxf(a, b);
    case ElementwiseKind::kMin:
      return (a != a || b != b) ? a + b : fminf(a, b);
    case ElementwiseKind::kPRelu:
      return a < 0.0f ? a * b : a;
    // Bool operands and results are 0 / 1 (Pointwise expressions only).
    case ElementwiseKind::kAnd:
      return (a != 0.0f && b != 0.0f) ? 1.0f : 0.0f;
    case ElementwiseKind::kOr:
      return (a != 0.0f || b != 0.0f) ? 1.0f : 0.0f;
    case ElementwiseKind::kXor:
      return ((a != 0.0f) != (b != 0.0f)) ? 1.0f : 0.0f;
    case ElementwiseKind::kEqual:
      return a == b ? 1.0f : 0.0f;
    case ElementwiseKind::kLess:
      return a < b ? 1.0f : 0.0f;
    case ElementwiseKind::kLessOrEqual:
      return a <= b ? 1.0f : 0.0f;
    case ElementwiseKind::kGreater:
      return a > b ? 1.0f : 0.0f;
    case ElementwiseKind::kGreaterOrEqual:
      return a >= b ? 1.0f : 0.0f;
    case ElementwiseKind::kMod: {  // the divisor's sign, as Python's %
      const float r = fmodf(a, b);
      return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r;
    }
    case ElementwiseKind::kFmod:
      return fmodf(a, b);
    default:
      return a;
  }
}

/// The input offset of output element i under `ix`.
__device__ int64_t offsetOf(const StridedIndex& ix, int64_t i) {
  int64_t off = 0;
  for (int d = ix.rank - 1; d >= 0; --d) {
    const int64_t q = i / ix.dims[d];
    off += (i - q * ix.dims[d]) * ix.stride[d];
    i = q;
  }
  return off;
}

template <class T>
__global__ void activationKernel(ActivationKind k, float a, float b, const T* x, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    st(y, i, activate(k, ld(x, i), a, b));
}

template <class T>
__global__ void unaryKernel(UnaryKind k, const T* x, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    st(y, i, unary(k, ld(x, i)));
}

template <class From, class To>
__global__ void castKernel(const From* x, To* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    st(y, i, ld(x, i));
}

template <class T>
__global__ void binaryKernel(ElementwiseKind k, const T* a, StridedIndex ai, const T* b,
                             StridedIndex bi, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    st(y, i, binary(k, ld(a, offsetOf(ai, i)), ld(b, offsetOf(bi, i))));
}

/// A copy by element size (E bytes): no arithmetic, so any 2- or 4-byte type.
template <class E>
__global__ void gatherKernel(const E* x, StridedIndex xi, int64_t xOffset, E* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[xOffset + offsetOf(xi, i)];
}

/// One thread per output element; each step's value lives in v[] (local memory).
template <class T>
__global__ void pointwiseKernel(PointwiseProgram p, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float v[kMaxPointwiseSteps];
    for (int s = 0; s < p.steps; ++s) {
      const PointwiseStep& st = p.step[s];
#define KILN_ARG(k) v[st.arg[k]]
      switch (st.op) {
        case PointwiseStep::kInput:
          v[s] = ld(static_cast<const T*>(p.in[st.kind]), offsetOf(p.index[st.kind], i));
          break;
        case PointwiseStep::kLiteral:
          v[s] = st.value;
          break;
        case PointwiseStep::kUnary:
          v[s] = unary(static_cast<UnaryKind>(st.kind), KILN_ARG(0));
          break;
        case PointwiseStep::kBinary:
          v[s] = binary(static_cast<ElementwiseKind>(st.kind), KILN_ARG(0), KILN_ARG(1));
          break;
        case PointwiseStep::kActivation:
          v[s] = activate(static_cast<ActivationKind>(st.kind), KILN_ARG(0), st.alpha, st.beta);
          break;
        case PointwiseStep::kSelect:
          v[s] = KILN_ARG(0) != 0.0f ? KILN_ARG(1) : KILN_ARG(2);
          break;
        case PointwiseStep::kToBool:
          v[s] = KILN_ARG(0) != 0.0f ? 1.0f : 0.0f;
          break;
      }
#undef KILN_ARG
    }
    st(y, i, v[p.steps - 1]);
  }
}

/// One thread per output element of every plane.
template <class T>
__global__ void poolKernel(PoolArgs a, const T* __restrict__ x, T* __restrict__ y) {
  const int64_t outPlane = a.out[0] * a.out[1] * a.out[2];
  const int64_t inPlane = a.in[0] * a.in[1] * a.in[2];
  const int64_t total = a.planes * outPlane;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = i % a.out[2];
    const int64_t oh = (i / a.out[2]) % a.out[1];
    const int64_t od = (i / (a.out[2] * a.out[1])) % a.out[0];
    const int64_t plane = i / outPlane;
    const int64_t start[3] = {od * a.stride[0] - a.padBegin[0], oh * a.stride[1] - a.padBegin[1],
                              ow * a.stride[2] - a.padBegin[2]};
    const T* xp = x + plane * inPlane;
    float acc = a.isMax ? -INFINITY : 0.0f;
    bool nan = false;
    for (int64_t kd = 0; kd < a.kernel[0]; ++kd) {
      const int64_t id = start[0] + kd * a.dilation[0];
      if (id < 0 || id >= a.in[0]) continue;
      for (int64_t kh = 0; kh < a.kernel[1]; ++kh) {
        const int64_t ih = start[1] + kh * a.dilation[1];
        if (ih < 0 || ih >= a.in[1]) continue;
        const T* xr = xp + (id * a.in[1] + ih) * a.in[2];
        for (int64_t kw = 0; kw < a.kernel[2]; ++kw) {
          const int64_t iw = start[2] + kw * a.dilation[2];
          if (iw < 0 || iw >= a.in[2]) continue;
          const float val = ld(xr, iw);
          if (a.isMax) {
            nan |= val != val;
            acc = fmaxf(acc, val);
          } else {
            acc += val;
          }
        }
      }
    }
    if (a.isMax) {
      if (nan) acc = NAN;
    } else {
      int64_t count = 1;
      for (int d = 0; d < 3; ++d) {
        const int64_t lo = a.countIncludePad ? -a.padBegin[d] : 0;
        const int64_t hi = a.countIncludePad ? a.in[d] + a.padEnd[d] : a.in[d];
        int64_t taps = 0;
        for (int64_t t = 0; t < a.kernel[d]; ++t) {
          const int64_t q = start[d] + t * a.dilation[d];
          taps += (q >= lo && q < hi) ? 1 : 0;
        }
        count *= taps;
      }
      acc = count > 0 ? acc / static_cast<float>(count) : 0.0f;
    }
    st(y, i, acc);
  }
}

/// Block-wide reduction of one float (sum or max) through shared memory.
template <bool kMax>
__device__ float blockReduce(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) {
    float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, u) : v + u;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // `shared` may still be read by an earlier reduction
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  v = lane < warps ? shared[lane] : (kMax ? -FLT_MAX : 0.0f);
  for (int o = 16; o > 0; o >>= 1) {
    float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, u) : v + u;
  }
  return v;
}

/// One block per (outer, inner) row of the softmax axis.
template <class T>
__global__ void softmaxKernel(const T* x, T* y, int64_t outer, int64_t axis, int64_t inner,
                              bool log) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const int64_t o = row / inner, in = row % inner;
  const T* xr = x + o * axis * inner + in;
  T* yr = y + o * axis * inner + in;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x)
    m = fmaxf(m, ld(xr, j * inner));
  m = blockReduce<true>(m, shared);
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x)
    s += expf(ld(xr, j * inner) - m);
  s = blockReduce<false>(s, shared);
  const float logS = logf(s);
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x) {
    const float v = ld(xr, j * inner) - m;
    st(yr, j * inner, log ? v - logS : expf(v) / s);
  }
}

/// One block per row: two passes (mean, then variance of the centred values) for accuracy.
template <class T>
__global__ void layerNormKernel(const T* x, const T* scale, const T* bias, T* y, int64_t cols,
                                float epsilon, bool rms) {
  __shared__ float shared[32];
  const T* xr = x + blockIdx.x * cols;
  T* yr = y + blockIdx.x * cols;
  float mean = 0.0f;
  if (!rms) {
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      s += ld(xr, j);
    mean = blockReduce<false>(s, shared) / static_cast<float>(cols);
  }
  float q = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float d = ld(xr, j) - mean;
    q += d * d;
  }
  const float inv = rsqrtf(blockReduce<false>(q, shared) / static_cast<float>(cols) + epsilon);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = (ld(xr, j) - mean) * inv * ld(scale, j);
    st(yr, j, bias ? v + ld(bias, j) : v);
  }
}

template <class T>
__device__ float applyEpilogue(float v, const T* r, int64_t i, const EpilogueArgs& e) {
  const float rv = r ? ld(r, e.residualBroadcasts ? offsetOf(e.residualIndex, i) : i) : 0.0f;
  if (r && e.residual == ResidualMode::kBeforeActivation) v += rv;
  v = activate(e.activation, v, e.alpha, e.beta);
  if (r && e.residual == ResidualMode::kAfterActivation) v += rv;
  return v;
}

template <class T>
__global__ void epilogueKernel(T* y, int64_t n, const T* c, StridedIndex ci, float beta, const T* r,
                               EpilogueArgs e) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float v = ld(y, i);
    if (c) v += beta * ld(c, offsetOf(ci, i));
    st(y, i, applyEpilogue(v, r, i, e));
  }
}

/// One thread per output element; the sums run in fp32 over C/group * KH * KW products.
__global__ void conv2dKernel(Conv2dArgs a, const float* __restrict__ x, const float* __restrict__ w,
                             const float* __restrict__ b, const float* __restrict__ r, float* y,
                             EpilogueArgs e) {
  const int64_t total = a.n * a.m * a.oh * a.ow;
  const int64_t cg = a.c / a.group, mg = a.m / a.group;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ox = i % a.ow;
    const int64_t oy = (i / a.ow) % a.oh;
    const int64_t m = (i / (a.ow * a.oh)) % a.m;
    const int64_t n = i / (a.ow * a.oh * a.m);
    const int64_t g = m / mg;
    float acc = b ? b[m] : 0.0f;
    const float* wm = w + m * cg * a.kh * a.kw;
    for (int64_t c = 0; c < cg; ++c) {
      const float* xc = x + ((n * a.c) + g * cg + c) * a.h * a.w;
      const float* wc = wm + c * a.kh * a.kw;
      for (int64_t ky = 0; ky < a.kh; ++ky) {
        const int64_t iy = oy * a.strideH - a.padH + ky * a.dilH;
        if (iy < 0 || iy >= a.h) continue;
        for (int64_t kx = 0; kx < a.kw; ++kx) {
          const int64_t ix = ox * a.strideW - a.padW + kx * a.dilW;
          if (ix < 0 || ix >= a.w) continue;
          acc += xc[iy * a.w + ix] * wc[ky * a.kw + kx];
        }
      }
    }
    y[i] = applyEpilogue(acc, r, i, e);
  }
}

}  // namespace

cudaError_t launchActivation(ActivationKind kind, float alpha, float beta, const void* x, void* y,
                             int64_t n, Storage t, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(t, (activationKernel<T><<<blocksFor(n), kThreads, 0, stream>>>(
                             kind, alpha, beta, static_cast<const T*>(x), static_cast<T*>(y), n)));
  return cudaGetLastError();
}

cudaError_t launchCast(const void* x, Storage from, void* y, Storage to, int64_t n,
                       cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(from, using F = T; KILN_STORAGE_SWITCH(
                          to, (castKernel<F, T><<<blocksFor(n), kThreads, 0, stream>>>(
                                  static_cast<const F*>(x), static_cast<T*>(y), n))));
  return cudaGetLastError();
}

bool unarySupported(UnaryKind k) {
  switch (k) {
    case UnaryKind::kIdentity:
    case UnaryKind::kNeg:
    case UnaryKind::kAbs:
    case UnaryKind::kExp:
    case UnaryKind::kLog:
    case UnaryKind::kSqrt:
    case UnaryKind::kReciprocal:
    case UnaryKind::kErf:
    case UnaryKind::kCeil:
    case UnaryKind::kFloor:
    case UnaryKind::kRound:
    case UnaryKind::kSign:
    case UnaryKind::kSin:
    case UnaryKind::kCos:
    case UnaryKind::kTan:
    case UnaryKind::kAsin:
    case UnaryKind::kAcos:
    case UnaryKind::kAtan:
    case UnaryKind::kSinh:
    case UnaryKind::kCosh:
    case UnaryKind::kAsinh:
    case UnaryKind::kAcosh:
    case UnaryKind::kAtanh:
      return true;
    default:
      return false;
  }
}

cudaError_t launchUnary(UnaryKind kind, const void* x, void* y, int64_t n, Storage t,
                        cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(t, (unaryKernel<T><<<blocksFor(n), kThreads, 0, stream>>>(
                             kind, static_cast<const T*>(x), static_cast<T*>(y), n)));
  return cudaGetLastError();
}

bool binarySupported(ElementwiseKind k) {
  switch (k) {
    case ElementwiseKind::kAdd:
    case ElementwiseKind::kSub:
    case ElementwiseKind::kMul:
    case ElementwiseKind::kDiv:
    case ElementwiseKind::kPow:
    case ElementwiseKind::kMax:
    case ElementwiseKind::kMin:
    case ElementwiseKind::kPRelu:
      return true;
    default:
      return false;
  }
}

cudaError_t launchBinary(ElementwiseKind kind, const void* a, const StridedIndex& ai, const void* b,
                         const StridedIndex& bi, void* y, int64_t n, Storage t,
                         cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(t, (binaryKernel<T><<<blocksFor(n), kThreads, 0, stream>>>(
                             kind, static_cast<const T*>(a), ai, static_cast<const T*>(b), bi,
                             static_cast<T*>(y), n)));
  return cudaGetLastError();
}

cudaError_t launchGather(const void* x, const StridedIndex& xi, int64_t xOffset, void* y, int64_t n,
                         size_t elementBytes, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  auto launch = [&](auto word) {
    using E = decltype(word);
    gatherKernel<E><<<blocksFor(n), kThreads, 0, stream>>>(static_cast<const E*>(x), xi, xOffset,
                                                           static_cast<E*>(y), n);
  };
  switch (elementBytes) {
    case 1:
      launch(uint8_t{});
      break;
    case 2:
      launch(uint16_t{});
      break;
    case 4:
      launch(uint32_t{});
      break;
    case 8:
      launch(uint64_t{});
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchSoftmax(const void* x, void* y, int64_t outer, int64_t axis, int64_t inner,
                          bool log, Storage t, cudaStream_t stream) {
  const int64_t rows = outer * inner;
  if (rows == 0 || axis == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(t,
                      (softmaxKernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
                          static_cast<const T*>(x), static_cast<T*>(y), outer, axis, inner, log)));
  return cudaGetLastError();
}

cudaError_t launchLayerNorm(const void* x, const void* scale, const void* bias, void* y,
                            int64_t rows, int64_t cols, float epsilon, bool rms, Storage t,
                            cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(t, (layerNormKernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
                             static_cast<const T*>(x), static_cast<const T*>(scale),
                             static_cast<const T*>(bias), static_cast<T*>(y), cols, epsilon, rms)));
  return cudaGetLastError();
}

cudaError_t launchEpilogue(void* y, int64_t n, const void* c, const StridedIndex& ci, float beta,
                           const void* r, const EpilogueArgs& e, Storage t, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(t, (epilogueKernel<T><<<blocksFor(n), kThreads, 0, stream>>>(
                             static_cast<T*>(y), n, static_cast<const T*>(c), ci, beta,
                             static_cast<const T*>(r), e)));
  return cudaGetLastError();
}

cudaError_t launchConv2d(const Conv2dArgs& a, const float* x, const float* w, const float* b,
                         const float* r, float* y, const EpilogueArgs& e, cudaStream_t stream) {
  const int64_t total = a.n * a.m * a.oh * a.ow;
  if (total == 0) return cudaSuccess;
  conv2dKernel<<<blocksFor(total), kThreads, 0, stream>>>(a, x, w, b, r, y, e);
  return cudaGetLastError();
}

bool pointwiseUnarySupported(UnaryKind k) {
  switch (k) {
    case UnaryKind::kNot:
    case UnaryKind::kIsNaN:
    case UnaryKind::kIsInf:
    case UnaryKind::kIsPosInf:
    case UnaryKind::kIsNegInf:
      return true;
    default:
      return unarySupported(k);
  }
}

bool pointwiseBinarySupported(ElementwiseKind k) {
  switch (k) {
    case ElementwiseKind::kAnd:
    case ElementwiseKind::kOr:
    case ElementwiseKind::kXor:
    case ElementwiseKind::kEqual:
    case ElementwiseKind::kLess:
    case ElementwiseKind::kLessOrEqual:
    case ElementwiseKind::kGreater:
    case ElementwiseKind::kGreaterOrEqual:
    case ElementwiseKind::kMod:
    case ElementwiseKind::kFmod:
      return true;
    default:
      return binarySupported(k);
  }
}

cudaError_t launchPointwise(const PointwiseProgram& p, void* y, int64_t n, Storage t,
                            cudaStream_t stream) {
  if (n == 0 || p.steps == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(
      t, (pointwiseKernel<T><<<blocksFor(n), kThreads, 0, stream>>>(p, static_cast<T*>(y), n)));
  return cudaGetLastError();
}

cudaError_t launchPool(const PoolArgs& a, const void* x, void* y, Storage t, cudaStream_t stream) {
  const int64_t total = a.planes * a.out[0] * a.out[1] * a.out[2];
  if (total == 0) return cudaSuccess;
  KILN_STORAGE_SWITCH(t, (poolKernel<T><<<blocksFor(total), kThreads, 0, stream>>>(
                             a, static_cast<const T*>(x), static_cast<T*>(y))));
  return cudaGetLastError();
}

}  // namespace kiln::cuda
