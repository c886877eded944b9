// kiln — launchers of the cuda backend's own kernels (defined in the .cu files beside this one).
//
// Plain C++ signatures, so the tactic code (compiled by the host compiler) calls them without
// seeing device code. Every launcher enqueues on `stream` and returns the launch's error.
// Tensors are dense and row-major, stored as `Storage` (the direct convolution: fp32 only);
// the arithmetic is fp32 whatever the storage.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/layers.h"

namespace kiln::cuda {

/// Up to this many dims after merging (broadcasting and transposes).
constexpr int kMaxRank = 8;

/// How a kernel's float tensors are stored.
enum class Storage : int8_t { kF32, kF16, kBF16 };

/// Index map of a broadcast or permuted read: output element i (row-major over `dims`) reads
/// input element sum_d coord_d * stride[d]. A stride of 0 broadcasts that dim.
struct StridedIndex {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t stride[kMaxRank] = {};
};

/// The epilogue of a convolution or matrix product: y = act(y + r) or act(y) + r per `residual`.
/// r is read at element i of y, or at residualIndex(i) when it broadcasts.
struct EpilogueArgs {
  ActivationKind activation = ActivationKind::kNone;
  float alpha = 0.0f, beta = 0.0f;
  ResidualMode residual = ResidualMode::kNone;
  bool residualBroadcasts = false;
  StridedIndex residualIndex;
};

/// y = f(x), n elements.
cudaError_t launchActivation(ActivationKind kind, float alpha, float beta, const void* x, void* y,
                             int64_t n, Storage t, cudaStream_t stream);
/// y = f(x), n elements; only kinds for which unarySupported() is true.
cudaError_t launchUnary(UnaryKind kind, const void* x, void* y, int64_t n, Storage t,
                        cudaStream_t stream);
/// y = x converted (rounded to nearest even), n elements.
cudaError_t launchCast(const void* x, Storage from, void* y, Storage to, int64_t n,
                       cudaStream_t stream);
bool unarySupported(UnaryKind kind);
/// y[i] = a[ai(i)] op b[bi(i)]; only kinds for which binarySupported() is true.
cudaError_t launchBinary(ElementwiseKind kind, const void* a, const StridedIndex& ai, const void* b,
                         const StridedIndex& bi, void* y, int64_t n, Storage t,
                         cudaStream_t stream);
bool binarySupported(ElementwiseKind kind);
/// y[i] = x[xi(i)]: transposes, broadcasts (Expand), strided slices; elements of 1, 2, 4 or 8
/// bytes.
cudaError_t launchGather(const void* x, const StridedIndex& xi, int64_t xOffset, void* y, int64_t n,
                         size_t elementBytes, cudaStream_t stream);
/// Softmax (log-softmax with `log`) over the middle dim of [outer, axis, inner].
cudaError_t launchSoftmax(const void* x, void* y, int64_t outer, int64_t axis, int64_t inner,
                          bool log, Storage t, cudaStream_t stream);
/// Layer (or RMS) normalization of each row of [rows, cols]; scale and bias (nullable) have
/// `cols` elements.
cudaError_t launchLayerNorm(const void* x, const void* scale, const void* bias, void* y,
                            int64_t rows, int64_t cols, float epsilon, bool rms, Storage t,
                            cudaStream_t stream);
/// y = act(y + beta * c[ci(i)] (+) r[i]) in place over n elements; c and r nullable; all of
/// storage t.
cudaError_t launchEpilogue(void* y, int64_t n, const void* c, const StridedIndex& ci, float beta,
                           const void* r, const EpilogueArgs& e, Storage t, cudaStream_t stream);

/// A Pointwise layer's expression (ir/pointwise_expr.h) compiled for the device: steps in
/// evaluation order, the last one the result; every value is fp32 (a bool is 0 or 1); inputs
/// and output are stored as the launch's Storage.
constexpr int kMaxPointwiseSteps = 64;
constexpr int kMaxPointwiseInputs = 8;
struct PointwiseStep {
  enum Op : int8_t { kInput, kLiteral, kUnary, kBinary, kActivation, kSelect, kToBool };
  int8_t op = kLiteral;
  int8_t arg[3] = {};  ///< earlier steps
  int32_t kind = 0;    ///< kInput: the input; kUnary / kBinary / kActivation: the enum value
  float value = 0.0f, alpha = 0.0f, beta = 0.0f;  ///< kLiteral: value; kActivation: alpha, beta
};
struct PointwiseProgram {
  int steps = 0, inputs = 0;
  PointwiseStep step[kMaxPointwiseSteps];
  StridedIndex index[kMaxPointwiseInputs];  ///< input k read at index[k](i)
  const void* in[kMaxPointwiseInputs] = {};
};
/// Whether the device evaluates unary / binary `kind` inside a Pointwise expression.
bool pointwiseUnarySupported(UnaryKind kind);
bool pointwiseBinarySupported(ElementwiseKind kind);
/// y[i] = the program's value at output element i, n elements.
cudaError_t launchPointwise(const PointwiseProgram& p, void* y, int64_t n, Storage t,
                            cudaStream_t stream);

/// Max or average pooling of `planes` (N * C) planes over 1 to 3 spatial dims (missing dims are
/// 1). Average divides by the taps inside the input, or inside the padded input with
/// countIncludePad; max propagates NaN.
struct PoolArgs {
  int64_t planes = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1},
          dilation[3] = {1, 1, 1}, padBegin[3] = {}, padEnd[3] = {};
  bool isMax = true, countIncludePad = false;
};
cudaError_t launchPool(const PoolArgs& a, const void* x, void* y, Storage t, cudaStream_t stream);

/// A 2-D convolution (1-D as H = 1): x [N, C, H, W], w [M, C/group, KH, KW], b [M]?, r like y.
struct Conv2dArgs {
  int64_t n, c, h, w, m, kh, kw, oh, ow, group;
  int64_t strideH, strideW, dilH, dilW, padH, padW;
};
cudaError_t launchConv2d(const Conv2dArgs& a, const float* x, const float* w, const float* b,
                         const float* r, float* y, const EpilogueArgs& e, cudaStream_t stream);

}  // namespace kiln::cuda
