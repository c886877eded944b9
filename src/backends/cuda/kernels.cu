// kiln — the cuda backend's own fp32 kernels: elementwise (activation, unary, binary with
// broadcasting), strided copies, softmax, layer normalization, epilogues, direct convolution.
//
// Correct before fast: grid-stride loops over the output, one block per row for the row
// reductions. The math matches the reference backend's definitions (layers.h).
#include <cfloat>
#include <cmath>

#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

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

__global__ void activationKernel(ActivationKind k, float a, float b, const float* x, float* y,
                                 int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = activate(k, x[i], a, b);
}

__global__ void unaryKernel(UnaryKind k, const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = unary(k, x[i]);
}

__global__ void binaryKernel(ElementwiseKind k, const float* a, StridedIndex ai, const float* b,
                             StridedIndex bi, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = binary(k, a[offsetOf(ai, i)], b[offsetOf(bi, i)]);
}

__global__ void gatherKernel(const float* x, StridedIndex xi, int64_t xOffset, float* y,
                             int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[xOffset + offsetOf(xi, i)];
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
__global__ void softmaxKernel(const float* x, float* y, int64_t outer, int64_t axis, int64_t inner,
                              bool log) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const int64_t o = row / inner, in = row % inner;
  const float* xr = x + o * axis * inner + in;
  float* yr = y + o * axis * inner + in;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x)
    m = fmaxf(m, xr[j * inner]);
  m = blockReduce<true>(m, shared);
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x)
    s += expf(xr[j * inner] - m);
  s = blockReduce<false>(s, shared);
  const float logS = logf(s);
  for (int64_t j = threadIdx.x; j < axis; j += blockDim.x) {
    const float v = xr[j * inner] - m;
    yr[j * inner] = log ? v - logS : expf(v) / s;
  }
}

/// One block per row: two passes (mean, then variance of the centred values) for accuracy.
__global__ void layerNormKernel(const float* x, const float* scale, const float* bias, float* y,
                                int64_t cols, float epsilon, bool rms) {
  __shared__ float shared[32];
  const float* xr = x + blockIdx.x * cols;
  float* yr = y + blockIdx.x * cols;
  float mean = 0.0f;
  if (!rms) {
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      s += xr[j];
    mean = blockReduce<false>(s, shared) / static_cast<float>(cols);
  }
  float q = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float d = xr[j] - mean;
    q += d * d;
  }
  const float inv = rsqrtf(blockReduce<false>(q, shared) / static_cast<float>(cols) + epsilon);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    float v = (xr[j] - mean) * inv * scale[j];
    yr[j] = bias ? v + bias[j] : v;
  }
}

__device__ float applyEpilogue(float v, const float* r, int64_t i, const EpilogueArgs& e) {
  if (r && e.residual == ResidualMode::kBeforeActivation) v += r[i];
  v = activate(e.activation, v, e.alpha, e.beta);
  if (r && e.residual == ResidualMode::kAfterActivation) v += r[i];
  return v;
}

__global__ void epilogueKernel(float* y, int64_t n, const float* c, StridedIndex ci, float beta,
                               const float* r, EpilogueArgs e) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float v = y[i];
    if (c) v += beta * c[offsetOf(ci, i)];
    y[i] = applyEpilogue(v, r, i, e);
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

cudaError_t launchActivation(ActivationKind kind, float alpha, float beta, const float* x, float* y,
                             int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  activationKernel<<<blocksFor(n), kThreads, 0, stream>>>(kind, alpha, beta, x, y, n);
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
      return true;
    default:
      return false;
  }
}

cudaError_t launchUnary(UnaryKind kind, const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  unaryKernel<<<blocksFor(n), kThreads, 0, stream>>>(kind, x, y, n);
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

cudaError_t launchBinary(ElementwiseKind kind, const float* a, const StridedIndex& ai,
                         const float* b, const StridedIndex& bi, float* y, int64_t n,
                         cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  binaryKernel<<<blocksFor(n), kThreads, 0, stream>>>(kind, a, ai, b, bi, y, n);
  return cudaGetLastError();
}

cudaError_t launchGather(const float* x, const StridedIndex& xi, int64_t xOffset, float* y,
                         int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  gatherKernel<<<blocksFor(n), kThreads, 0, stream>>>(x, xi, xOffset, y, n);
  return cudaGetLastError();
}

cudaError_t launchSoftmax(const float* x, float* y, int64_t outer, int64_t axis, int64_t inner,
                          bool log, cudaStream_t stream) {
  const int64_t rows = outer * inner;
  if (rows == 0 || axis == 0) return cudaSuccess;
  softmaxKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, y, outer, axis, inner,
                                                                      log);
  return cudaGetLastError();
}

cudaError_t launchLayerNorm(const float* x, const float* scale, const float* bias, float* y,
                            int64_t rows, int64_t cols, float epsilon, bool rms,
                            cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  layerNormKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, scale, bias, y, cols,
                                                                        epsilon, rms);
  return cudaGetLastError();
}

cudaError_t launchEpilogue(float* y, int64_t n, const float* c, const StridedIndex& ci, float beta,
                           const float* r, const EpilogueArgs& e, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  epilogueKernel<<<blocksFor(n), kThreads, 0, stream>>>(y, n, c, ci, beta, r, e);
  return cudaGetLastError();
}

cudaError_t launchConv2d(const Conv2dArgs& a, const float* x, const float* w, const float* b,
                         const float* r, float* y, const EpilogueArgs& e, cudaStream_t stream) {
  const int64_t total = a.n * a.m * a.oh * a.ow;
  if (total == 0) return cudaSuccess;
  conv2dKernel<<<blocksFor(total), kThreads, 0, stream>>>(a, x, w, b, r, y, e);
  return cudaGetLastError();
}

}  // namespace kiln::cuda
