// ONNX BatchNormalization (inference: folded into a per-channel multiply-add),
// LayerNormalization, Softmax and LogSoftmax.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "importer/onnx/importer.h"
#include "importer/onnx/tensor_proto.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

/// Per-channel params reshaped to [C, 1, ..., 1] so they broadcast against x = [N, C, *].
Dims channelDims(int64_t channels, int64_t rank) {
  Dims d = {channels};
  for (int64_t i = 2; i < rank; ++i)
    d.push_back(1);
  return d;
}

/// Float weights of type `dtype` (f32 or f64) and shape `dims` holding `values`.
Expected<Weights> floatWeights(const std::vector<double>& values, const Dims& dims,
                               DataType dtype) {
  KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(dtype, dims));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DataType::kFloat64)
      static_cast<double*>(w.mutableData())[i] = values[i];
    else
      static_cast<float*>(w.mutableData())[i] = static_cast<float>(values[i]);
  }
  return w;
}

/// y = x * s + t with s = scale / sqrt(var + eps), t = bias - mean * s, computed here from the
/// constant params. With `spatial` the params are per channel ([C], reshaped to [C, 1, ...]);
/// without, per activation ([C, D1, ..., Dn], which broadcasts against x as it is).
Status foldConstantBatchNorm(NodeContext& ctx, TensorId x, int64_t rank, float epsilon,
                             const Weights* params[4], bool spatial) {
  std::vector<double> v[4];  // scale, bias, mean, var
  for (int i = 0; i < 4; ++i) {
    KILN_ASSIGN_OR_RETURN(v[i], params[i]->toDoubles());
    if (v[i].size() != v[0].size())
      return invalidModel("input #" + std::to_string(i + 1) + " has " +
                          std::to_string(v[i].size()) + " values, the scale has " +
                          std::to_string(v[0].size()));
  }
  const size_t c = v[0].size();
  std::vector<double> s(c), t(c);
  for (size_t i = 0; i < c; ++i) {
    s[i] = v[0][i] / std::sqrt(v[3][i] + static_cast<double>(epsilon));
    t[i] = v[1][i] - v[2][i] * s[i];
  }
  // Constants in the input's type; 16-bit floats go through a Cast of f32 constants.
  DataType dtype = ctx.dtypeOf(x).value_or(params[0]->dtype());
  DataType store = dtype == DataType::kFloat64 ? DataType::kFloat64 : DataType::kFloat32;
  Dims dims = spatial ? channelDims(static_cast<int64_t>(c), rank) : params[0]->dims();
  KILN_ASSIGN_OR_RETURN(Weights scale, floatWeights(s, dims, store));
  KILN_ASSIGN_OR_RETURN(Weights shift, floatWeights(t, dims, store));
  TensorId sc = ctx.addConstant("scale", std::move(scale));
  TensorId sh = ctx.addConstant("shift", std::move(shift));
  if (dtype != store) {
    if (dtype != DataType::kFloat16 && dtype != DataType::kBFloat16)
      return unsupported(std::string("BatchNormalization on ") + dataTypeName(dtype) + " input");
    KILN_ASSIGN_OR_RETURN(sc, ctx.addInternal("scale_cast", CastAttrs{dtype}, {sc}));
    KILN_ASSIGN_OR_RETURN(sh, ctx.addInternal("shift_cast", CastAttrs{dtype}, {sh}));
  }
  KILN_ASSIGN_OR_RETURN(TensorId xs,
                        ctx.addInternal("mul", ElementwiseAttrs{ElementwiseKind::kMul}, {x, sc}));
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kAdd}, {xs, sh});
}

/// The same algebra as layers, for params computed by the graph.
Status composeBatchNorm(NodeContext& ctx, TensorId x, int64_t rank, float epsilon,
                        const TensorId in[4], bool spatial) {
  auto ew = [&](const char* suffix, ElementwiseKind k, TensorId a, TensorId b) {
    return ctx.addInternal(suffix, ElementwiseAttrs{k}, {a, b});
  };
  DataType dtype = ctx.dtypeOf(in[3]).value_or(DataType::kFloat32);
  KILN_ASSIGN_OR_RETURN(TensorId eps, ctx.addScalarConstant("epsilon", epsilon, dtype));
  KILN_ASSIGN_OR_RETURN(TensorId ve, ew("var_eps", ElementwiseKind::kAdd, in[3], eps));
  KILN_ASSIGN_OR_RETURN(TensorId sd, ctx.addInternal("stddev", UnaryAttrs{UnaryKind::kSqrt}, {ve}));
  KILN_ASSIGN_OR_RETURN(TensorId s, ew("scale", ElementwiseKind::kDiv, in[0], sd));
  KILN_ASSIGN_OR_RETURN(TensorId ms, ew("mean_scale", ElementwiseKind::kMul, in[2], s));
  KILN_ASSIGN_OR_RETURN(TensorId t, ew("shift", ElementwiseKind::kSub, in[1], ms));
  if (spatial && rank > 2) {
    std::vector<int64_t> axes;
    for (int64_t i = 1; i < rank - 1; ++i)
      axes.push_back(i);
    TensorId ax = ctx.addIntsConstant("channel_axes", axes);
    ShuffleAttrs un = shuffleAttrs(ShuffleMode::kUnsqueeze);
    KILN_ASSIGN_OR_RETURN(s, ctx.addInternal("scale_c11", un, {s, ax}));
    KILN_ASSIGN_OR_RETURN(t, ctx.addInternal("shift_c11", un, {t, ax}));
  }
  KILN_ASSIGN_OR_RETURN(TensorId xs, ew("mul", ElementwiseKind::kMul, x, s));
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kAdd}, {xs, t});
}

/// Softmax / LogSoftmax. From opset 13 the op normalizes along one axis. Before, it flattens x
/// to 2-D at `axis` (default 1) and normalizes the rows; unless that is the last axis, this is
/// composed exactly as reshape(softmax(flatten(x, axis), -1), shape(x)).
/// Hardmax follows the same opset rules.
Status importSoftmaxLike(NodeContext& ctx, bool log, bool hard = false) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  if (ctx.opset() >= 13) {
    KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", -1));
    return ctx.addOutputLayer(SoftmaxAttrs{axis, log, hard}, {x});
  }
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", 1));
  std::optional<int64_t> rank = ctx.rankOf(x);
  if (axis == -1 || (rank && (axis == *rank - 1)))
    return ctx.addOutputLayer(SoftmaxAttrs{-1, log, hard}, {x});
  ShuffleAttrs flat = shuffleAttrs(ShuffleMode::kFlatten);
  flat.axis = axis;
  KILN_ASSIGN_OR_RETURN(TensorId x2, ctx.addInternal("flatten", flat, {x}));
  KILN_ASSIGN_OR_RETURN(TensorId y2, ctx.addInternal("softmax", SoftmaxAttrs{-1, log, hard}, {x2}));
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.addInternal("shape", ShapeOfAttrs{}, {x}));
  return ctx.addOutputLayer(shuffleAttrs(ShuffleMode::kReshape), {y2, shape});
}

}  // namespace

// BatchNormalization(X, scale, B, mean, var) at inference.
Status importBatchNormalization(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  TensorId in[4];
  for (int i = 0; i < 4; ++i) {
    KILN_ASSIGN_OR_RETURN(in[i], ctx.input(i + 1));
  }
  KILN_ASSIGN_OR_RETURN(int64_t training, ctx.getInt("training_mode", 0));
  if (training != 0) return unsupported("training_mode=1 is not supported (inference only)");
  if (ctx.opset() < 7) {
    // Opsets 1-6 run in training mode (batch statistics) unless is_test is set.
    KILN_ASSIGN_OR_RETURN(int64_t isTest, ctx.getInt("is_test", 0));
    if (isTest == 0)
      return unsupported(
          "is_test=0 (training mode, batch statistics) is not supported "
          "(inference only)");
  }
  // Opsets 1-8: spatial=0 gives per-activation statistics, params of shape [C, D1, ..., Dn].
  bool spatial = true;
  if (ctx.opset() < 9) {
    KILN_ASSIGN_OR_RETURN(int64_t s, ctx.getInt("spatial", 1));
    spatial = s != 0;
  }
  KILN_RETURN_IF_ERROR(ctx.requireUnusedOutputs(1));  // running mean/var, saved mean/var
  KILN_ASSIGN_OR_RETURN(float epsilon, ctx.getFloat("epsilon", 1e-5f));
  std::optional<int64_t> rank = ctx.rankOf(x);
  if (!rank)
    return unsupported("the rank of input '" + ctx.net().tensor(x).name +
                       "' is unknown at import (declare its shape in value_info)");
  if (*rank < 2) return invalidModel("input must have rank >= 2 ([N, C, ...])");
  const Weights* params[4];
  bool allConstant = true;
  for (int i = 0; i < 4; ++i) {
    params[i] = ctx.constantInput(i + 1);
    allConstant = allConstant && params[i] != nullptr;
  }
  if (allConstant) return foldConstantBatchNorm(ctx, x, *rank, epsilon, params, spatial);
  return composeBatchNorm(ctx, x, *rank, epsilon, in, spatial);
}

namespace {

/// The stash type (attribute `stash_type`, an ONNX dtype code, default float32): the type the
/// statistics are computed in.
Expected<DataType> stashType(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t code, ctx.getInt("stash_type", 1));
  std::optional<DataType> t = dataTypeFromOnnx(static_cast<int32_t>(code));
  if (!t || (*t != DataType::kFloat32 && *t != DataType::kFloat64 && *t != DataType::kFloat16 &&
             *t != DataType::kBFloat16))
    return invalidModel("stash_type " + std::to_string(code) + " is not a floating-point type");
  return *t;
}

/// Mean and 1/sqrt(var + eps) of x over dims [axis, rank), reduced dims kept as 1, computed in
/// `stash` (x is cast to it first): LayerNormalization's outputs 1 and 2, set when used.
Status layerNormStatistics(NodeContext& ctx, TensorId x, int64_t axis, float epsilon,
                           DataType stash) {
  std::optional<int64_t> rank = ctx.rankOf(x);
  if (!rank)
    return unsupported("outputs Mean/InvStdDev need the rank of input '" +
                       ctx.net().tensor(x).name + "' at import (declare its shape)");
  if (axis < -*rank || axis >= *rank)
    return invalidModel("axis " + std::to_string(axis) + " is out of range for rank " +
                        std::to_string(*rank));
  if (axis < 0) axis += *rank;
  std::vector<int64_t> axes;
  for (int64_t i = axis; i < *rank; ++i)
    axes.push_back(i);
  TensorId ax = ctx.addIntsConstant("stat_axes", axes);
  TensorId xs = x;
  if (ctx.dtypeOf(x) != stash) {
    KILN_ASSIGN_OR_RETURN(xs, ctx.addInternal("stat_cast", CastAttrs{stash}, {x}));
  }
  ReduceAttrs mean;
  mean.kind = ReduceKind::kMean;
  KILN_ASSIGN_OR_RETURN(TensorId m, ctx.addInternal("mean", mean, {xs, ax}));
  KILN_RETURN_IF_ERROR(ctx.setOutput(1, m));
  if (ctx.numOutputs() < 3 || !ctx.outputUsed(2)) return Status::ok();
  KILN_ASSIGN_OR_RETURN(
      TensorId d, ctx.addInternal("centered", ElementwiseAttrs{ElementwiseKind::kSub}, {xs, m}));
  KILN_ASSIGN_OR_RETURN(
      TensorId d2, ctx.addInternal("squared", ElementwiseAttrs{ElementwiseKind::kMul}, {d, d}));
  KILN_ASSIGN_OR_RETURN(TensorId var, ctx.addInternal("variance", mean, {d2, ax}));
  KILN_ASSIGN_OR_RETURN(TensorId eps, ctx.addScalarConstant("epsilon", epsilon, stash));
  KILN_ASSIGN_OR_RETURN(
      TensorId ve, ctx.addInternal("var_eps", ElementwiseAttrs{ElementwiseKind::kAdd}, {var, eps}));
  KILN_ASSIGN_OR_RETURN(TensorId sd, ctx.addInternal("stddev", UnaryAttrs{UnaryKind::kSqrt}, {ve}));
  KILN_ASSIGN_OR_RETURN(TensorId one, ctx.addScalarConstant("one", 1.0, stash));
  KILN_ASSIGN_OR_RETURN(
      TensorId inv,
      ctx.addInternal("inv_std_dev", ElementwiseAttrs{ElementwiseKind::kDiv}, {one, sd}));
  return ctx.setOutput(2, inv);
}

}  // namespace

// LayerNormalization(X, Scale, B?) -> Normalization over dims [axis, rank). The Mean and
// InvStdDev outputs, when used, are computed beside it by Reduce/Elementwise layers in the stash
// type.
Status importLayerNormalization(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId scale, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(DataType stash, stashType(ctx));
  NormalizationAttrs a;
  KILN_ASSIGN_OR_RETURN(a.axis, ctx.getInt("axis", -1));
  KILN_ASSIGN_OR_RETURN(a.epsilon, ctx.getFloat("epsilon", 1e-5f));
  std::vector<TensorId> inputs = {x, scale};
  if (ctx.hasInput(2)) inputs.push_back(ctx.optionalInput(2));
  if (ctx.numOutputs() > 1 && ctx.outputUsed(1)) {
    KILN_RETURN_IF_ERROR(layerNormStatistics(ctx, x, a.axis, a.epsilon, stash));
  } else if (ctx.numOutputs() > 2 && ctx.outputUsed(2)) {
    return unsupported("output #2 ('InvStdDev') is used without output #1 ('Mean')");
  }
  return ctx.addOutputLayer(a, inputs);
}

// InstanceNormalization(X[N, C, *], scale[C], B[C]) -> Normalization over dims [2, rank) with
// a unit scale, then * scale[C, 1, ...] + B[C, 1, ...] per channel.
Status importInstanceNormalization(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId scale, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(TensorId bias, ctx.input(2));
  std::optional<int64_t> rank = ctx.rankOf(x);
  std::optional<DataType> dtype = ctx.dtypeOf(x);
  if (!rank || !dtype)
    return unsupported("the rank and type of input '" + ctx.net().tensor(x).name +
                       "' must be known at import (declare its shape in value_info)");
  if (*rank < 3) return invalidModel("input must have rank >= 3 ([N, C, spatial...])");
  NormalizationAttrs a;
  a.axis = 2;
  KILN_ASSIGN_OR_RETURN(a.epsilon, ctx.getFloat("epsilon", 1e-5f));
  KILN_ASSIGN_OR_RETURN(TensorId one, ctx.addScalarConstant("unit_scale", 1.0, *dtype));
  KILN_ASSIGN_OR_RETURN(TensorId normalized, ctx.addInternal("normalized", a, {x, one}));
  // [C] -> [C, 1, ...] so that it broadcasts along the channel dim of [N, C, spatial...].
  std::vector<int64_t> perChannel(static_cast<size_t>(*rank - 1), 1);
  perChannel[0] = -1;
  ShuffleAttrs reshape;
  reshape.mode = ShuffleMode::kReshape;
  const TensorId shape = ctx.addIntsConstant("per_channel", perChannel);
  KILN_ASSIGN_OR_RETURN(TensorId s, ctx.addInternal("scale_c", reshape, {scale, shape}));
  KILN_ASSIGN_OR_RETURN(TensorId b, ctx.addInternal("bias_c", reshape, {bias, shape}));
  KILN_ASSIGN_OR_RETURN(
      TensorId scaled,
      ctx.addInternal("scaled", ElementwiseAttrs{ElementwiseKind::kMul}, {normalized, s}));
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kAdd}, {scaled, b});
}

// LpNormalization(input; axis, p) -> x / Reduce{kL1 or kL2}(x, [axis], keepdims), a zero norm
// replaced by 1. Only p = 1 and p = 2 are defined by ONNX; any other p is refused.
Status importLpNormalization(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", -1));
  KILN_ASSIGN_OR_RETURN(int64_t p, ctx.getInt("p", 2));
  if (p != 1 && p != 2)
    return unsupported("attribute 'p' is " + std::to_string(p) + "; only 1 and 2 are supported");
  ReduceAttrs r;
  r.kind = p == 1 ? ReduceKind::kL1 : ReduceKind::kL2;
  r.keepDims = true;
  std::optional<DataType> dtype = ctx.dtypeOf(x);
  if (!dtype)
    return unsupported("the type of input '" + ctx.net().tensor(x).name +
                       "' must be known at import (declare it in value_info)");
  KILN_ASSIGN_OR_RETURN(TensorId norm,
                        ctx.addInternal("norm", r, {x, ctx.addIntsConstant("axis", {axis})}));
  // A zero norm (an all-zero slice) divides by 1, so the slice stays zero.
  KILN_ASSIGN_OR_RETURN(TensorId zero, ctx.addScalarConstant("zero", 0.0, *dtype));
  KILN_ASSIGN_OR_RETURN(TensorId one, ctx.addScalarConstant("one", 1.0, *dtype));
  KILN_ASSIGN_OR_RETURN(
      TensorId isZero,
      ctx.addInternal("norm_is_zero", ElementwiseAttrs{ElementwiseKind::kEqual}, {norm, zero}));
  KILN_ASSIGN_OR_RETURN(TensorId divisor,
                        ctx.addInternal("divisor", SelectAttrs{}, {isZero, one, norm}));
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kDiv}, {x, divisor});
}

// LRN(X[N, C, *]; size, alpha, beta, bias): y = x / (bias + alpha / size * s)^beta with s the
// sum of x^2 over channels [c - floor((size-1)/2), c + ceil((size-1)/2)] (clipped to [0, C)).
// The windowed sum is an average pooling of x^2 unsqueezed to [N, 1, C, *] with a window of
// `size` channels and count_include_pad (so the average is s / size), then squeezed back.
Status importLRN(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t size, ctx.requireInt("size"));
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.getFloat("alpha", 1e-4f));
  KILN_ASSIGN_OR_RETURN(float beta, ctx.getFloat("beta", 0.75f));
  KILN_ASSIGN_OR_RETURN(float bias, ctx.getFloat("bias", 1.0f));
  if (size < 1)
    return invalidModel("attribute 'size' is " + std::to_string(size) + ", expected >= 1");
  std::optional<int64_t> rank = ctx.rankOf(x);
  std::optional<DataType> dtype = ctx.dtypeOf(x);
  if (!rank || !dtype)
    return unsupported("the rank and type of input '" + ctx.net().tensor(x).name +
                       "' must be known at import (declare its shape in value_info)");
  if (*rank < 3 || *rank > 5)
    return unsupported("LRN on an input of rank " + std::to_string(*rank) +
                       " (ranks 3 to 5, [N, C, 1 to 3 spatial dims], are supported)");
  KILN_ASSIGN_OR_RETURN(TensorId sq,
                        ctx.addInternal("square", ElementwiseAttrs{ElementwiseKind::kMul}, {x, x}));
  TensorId axis1 = ctx.addIntsConstant("channel_axis", {1});
  KILN_ASSIGN_OR_RETURN(
      TensorId sq1,
      ctx.addInternal("square_n1c", shuffleAttrs(ShuffleMode::kUnsqueeze), {sq, axis1}));
  PoolingAttrs pool;
  pool.kind = PoolingKind::kAverage;
  pool.countIncludePad = true;
  const size_t spatial = static_cast<size_t>(*rank - 1);  // C and the spatial dims of x
  pool.kernelShape.assign(spatial, 1);
  pool.kernelShape[0] = size;
  pool.strides.assign(spatial, 1);
  pool.padsBegin.assign(spatial, 0);
  pool.padsEnd.assign(spatial, 0);
  pool.padsBegin[0] = (size - 1) / 2;
  pool.padsEnd[0] = size - 1 - (size - 1) / 2;
  KILN_ASSIGN_OR_RETURN(TensorId avg1, ctx.addInternal("window_mean", pool, {sq1}));
  KILN_ASSIGN_OR_RETURN(
      TensorId avg,
      ctx.addInternal("window_mean_nc", shuffleAttrs(ShuffleMode::kSqueeze), {avg1, axis1}));
  KILN_ASSIGN_OR_RETURN(TensorId alphaT, ctx.addScalarConstant("alpha", alpha, *dtype));
  KILN_ASSIGN_OR_RETURN(TensorId biasT, ctx.addScalarConstant("bias", bias, *dtype));
  KILN_ASSIGN_OR_RETURN(TensorId betaT, ctx.addScalarConstant("beta", beta, *dtype));
  KILN_ASSIGN_OR_RETURN(
      TensorId scaled,
      ctx.addInternal("scaled", ElementwiseAttrs{ElementwiseKind::kMul}, {avg, alphaT}));
  KILN_ASSIGN_OR_RETURN(
      TensorId based,
      ctx.addInternal("biased", ElementwiseAttrs{ElementwiseKind::kAdd}, {scaled, biasT}));
  KILN_ASSIGN_OR_RETURN(
      TensorId denom,
      ctx.addInternal("denominator", ElementwiseAttrs{ElementwiseKind::kPow}, {based, betaT}));
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kDiv}, {x, denom});
}

// RMSNormalization(X, Scale) -> Normalization{rms} over dims [axis, rank):
// y = x / sqrt(mean(x^2) + epsilon) * scale. The reference kernel accumulates in double, which
// covers stash_type (float32 statistics for 16-bit inputs).
Status importRMSNormalization(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId scale, ctx.input(1));
  KILN_RETURN_IF_ERROR(stashType(ctx).status());
  NormalizationAttrs a;
  a.rms = true;
  KILN_ASSIGN_OR_RETURN(a.axis, ctx.getInt("axis", -1));
  KILN_ASSIGN_OR_RETURN(a.epsilon, ctx.getFloat("epsilon", 1e-5f));
  return ctx.addOutputLayer(a, {x, scale});
}

Status importSoftmax(NodeContext& ctx) {
  return importSoftmaxLike(ctx, false);
}
Status importLogSoftmax(NodeContext& ctx) {
  return importSoftmaxLike(ctx, true);
}
Status importHardmax(NodeContext& ctx) {
  return importSoftmaxLike(ctx, false, true);
}

namespace {

/// The static dims of `t`, or nothing when its shape is not fully known at import.
std::optional<Dims> staticDims(NodeContext& ctx, TensorId t) {
  if (!ctx.rankOf(t)) return std::nullopt;
  Dims d;
  for (const Dim& x : ctx.net().tensor(t).shape) {
    if (!x.isStatic()) return std::nullopt;
    d.push_back(x.value());
  }
  return d;
}

}  // namespace

namespace {

/// [B, S, H*D] -> [B, H, S, D] (reshape, then transpose).
Expected<TensorId> splitHeads(NodeContext& ctx, const std::string& what, TensorId x, const Dims& d,
                              int64_t heads) {
  ShuffleAttrs reshape = shuffleAttrs(ShuffleMode::kReshape);
  TensorId shape = ctx.addIntsConstant(what + "_split_shape", {d[0], d[1], heads, d[2] / heads});
  KILN_ASSIGN_OR_RETURN(TensorId r, ctx.addInternal(what + "_split", reshape, {x, shape}));
  ShuffleAttrs t = shuffleAttrs(ShuffleMode::kTranspose);
  t.perm = {0, 2, 1, 3};
  return ctx.addInternal(what + "_heads_first", t, {r});
}

/// [B, Hkv, S, D] -> [B, Hkv * reps, S, D], each head repeated `reps` times in a row (query head
/// h reads key/value head h / reps): unsqueeze, concatenate `reps` copies, reshape.
Expected<TensorId> repeatHeads(NodeContext& ctx, const std::string& what, TensorId x, const Dims& d,
                               int64_t reps) {
  ShuffleAttrs un = shuffleAttrs(ShuffleMode::kUnsqueeze);
  KILN_ASSIGN_OR_RETURN(TensorId u, ctx.addInternal(what + "_unsqueeze", un,
                                                    {x, ctx.addIntsConstant(what + "_axis", {2})}));
  KILN_ASSIGN_OR_RETURN(TensorId c,
                        ctx.addInternal(what + "_repeat", ConcatenationAttrs{2},
                                        std::vector<TensorId>(static_cast<size_t>(reps), u)));
  TensorId shape = ctx.addIntsConstant(what + "_repeat_shape", {d[0], d[1] * reps, d[2], d[3]});
  return ctx.addInternal(what + "_repeated", shuffleAttrs(ShuffleMode::kReshape), {c, shape});
}

/// Attention as separate layers on [B, H, S, D] operands (K/V heads already repeated), in the
/// ONNX reference's order: s = scale q k^T, softcap (c tanh(s / c)) before the bias, + bias,
/// softmax, rows whose bias is all -inf zeroed, times v. Returns y; `*qkOutput` is the
/// qk_matmul_output of `qkMode` (0: s, 2: s + bias, 3: the probabilities).
Expected<TensorId> composeAttention(NodeContext& ctx, TensorId q, TensorId k, TensorId v,
                                    TensorId bias, float scale, float softcap, int64_t qkMode,
                                    TensorId* qkOutput) {
  auto ew = [&](const char* suffix, ElementwiseKind kind, TensorId x, TensorId y) {
    return ctx.addInternal(suffix, ElementwiseAttrs{kind}, {x, y});
  };
  DataType dtype = *ctx.dtypeOf(q);
  MatrixMultiplyAttrs qk;
  qk.transB = true;
  qk.alpha = scale;
  KILN_ASSIGN_OR_RETURN(TensorId s, ctx.addInternal("qk", qk, {q, k}));
  if (softcap != 0.0f) {
    KILN_ASSIGN_OR_RETURN(TensorId c, ctx.addScalarConstant("softcap", softcap, dtype));
    KILN_ASSIGN_OR_RETURN(TensorId d, ew("qk_over_cap", ElementwiseKind::kDiv, s, c));
    KILN_ASSIGN_OR_RETURN(TensorId t,
                          ctx.addInternal("qk_tanh", ActivationAttrs{ActivationKind::kTanh}, {d}));
    KILN_ASSIGN_OR_RETURN(s, ew("qk_capped", ElementwiseKind::kMul, t, c));
  }
  TensorId logits = s;
  if (bias != kNoTensor) {
    KILN_ASSIGN_OR_RETURN(logits, ew("qk_bias", ElementwiseKind::kAdd, s, bias));
  }
  KILN_ASSIGN_OR_RETURN(TensorId p, ctx.addInternal("softmax", SoftmaxAttrs{-1}, {logits}));
  if (bias != kNoTensor) {
    ReduceAttrs mx;
    mx.kind = ReduceKind::kMax;
    KILN_ASSIGN_OR_RETURN(TensorId bm, ctx.addInternal("bias_row_max", mx,
                                                       {bias, ctx.addIntsConstant("last", {-1})}));
    KILN_ASSIGN_OR_RETURN(
        TensorId ninf,
        ctx.addScalarConstant("neg_inf", -std::numeric_limits<double>::infinity(), dtype));
    KILN_ASSIGN_OR_RETURN(TensorId masked, ew("row_masked", ElementwiseKind::kEqual, bm, ninf));
    KILN_ASSIGN_OR_RETURN(TensorId zero, ctx.addScalarConstant("zero", 0.0, dtype));
    KILN_ASSIGN_OR_RETURN(p, ctx.addInternal("probabilities", SelectAttrs{}, {masked, zero, p}));
  }
  *qkOutput = qkMode == 3 ? p : qkMode == 2 ? logits : s;
  return ctx.addInternal("pv", MatrixMultiplyAttrs{}, {p, v});
}

}  // namespace

// Attention(Q, K, V, attn_mask?, past_key?, past_value?, nonpad_kv_seqlen?) -> the Attention
// layer (merged layout for 3-D inputs with one head count, heads_first otherwise), with
// - 3-D inputs with a KV cache or grouped heads split to [B, H, S, D] and the output merged back;
// - past_key/past_value concatenated before K/V along the sequence (present_key/present_value);
// - grouped-query attention (kv heads < q heads) by repeating each K/V head;
// - a bool mask as where(mask, 0, -inf), a float mask added, a mask shorter than the key sequence
//   padded with -inf (as the ONNX reference pads it);
// - is_causal: key j is seen by query i iff j <= i + past length. The layer's own causal flag
//   (lower-right: j <= i + Sk - Sq) is used where the two agree, a constant bias otherwise;
// - scale defaulting to 1/sqrt(head size); rows whose every key is masked give Y = 0.
// softcap and the qk_matmul_output output are composed from MatrixMultiply, Activation tanh,
// Softmax, Reduce and Select (composeAttention); nonpad_kv_seqlen (opset 24) becomes a per-batch
// bias (keys past the valid length masked, the causal diagonal offset by it). 16-bit inputs are
// computed in f32 between casts. The qk_matmul_output modes where the ONNX text and reference
// disagree are refused.
Status importAttention(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId q, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId k, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(TensorId v, ctx.input(2));
  const std::optional<DataType> ioType = ctx.dtypeOf(q);
  const bool half = ioType == DataType::kFloat16 || ioType == DataType::kBFloat16;
  if (ioType != DataType::kFloat32 && ioType != DataType::kFloat64 && !half)
    return unsupported("Attention on " +
                       std::string(ioType ? dataTypeName(*ioType) : "an unknown type") +
                       " input (f32, f64, f16 and bf16 are supported)");
  // 16-bit inputs are computed in f32: cast in (below), cast out by `emit`.
  const std::optional<DataType> dtype = half ? DataType::kFloat32 : *ioType;
  auto toCompute = [&](const std::string& what, TensorId t) -> Expected<TensorId> {
    if (!half) return t;
    return ctx.addInternal(what + "_f32", CastAttrs{DataType::kFloat32}, {t});
  };
  auto emit = [&](int index, TensorId t) -> Status {
    if (half) {
      KILN_ASSIGN_OR_RETURN(
          t, ctx.addInternal("output" + std::to_string(index) + "_cast", CastAttrs{*ioType}, {t}));
    }
    return ctx.setOutput(index, t);
  };
  KILN_ASSIGN_OR_RETURN(float softcap, ctx.getFloat("softcap", 0.0f));
  if (softcap < 0.0f) return invalidModel("softcap must be >= 0");
  KILN_ASSIGN_OR_RETURN(int64_t qkMode, ctx.getInt("qk_matmul_output_mode", 0));
  const bool qkOut = ctx.numOutputs() > 3 && ctx.outputUsed(3);
  if (qkOut) {
    // The ONNX reference (whose values the test data hold) and the operator text disagree on
    // modes 0 and 1 with softcap, on mode 1 without it and on mode 2 with it: those are refused.
    const bool capped = softcap != 0.0f;
    const bool agreed = (qkMode == 0 && !capped) || (qkMode == 2 && !capped) || qkMode == 3;
    if (!agreed)
      return unsupported("qk_matmul_output_mode " + std::to_string(qkMode) +
                         (capped ? " with softcap" : "") + " is not supported");
  }
  if (ctx.hasAttr("softmax_precision")) {
    KILN_ASSIGN_OR_RETURN(int64_t sp, ctx.getInt("softmax_precision", 1));
    if (dataTypeFromOnnx(static_cast<int32_t>(sp)) != dtype)
      return unsupported("softmax_precision other than the input type is not supported");
  }
  // softcap and the qk_matmul_output output need the steps as separate layers.
  const bool composed = softcap != 0.0f || qkOut;
  const bool past = ctx.hasInput(4) || ctx.hasInput(5);
  const bool nonpad = ctx.hasInput(6);
  if (nonpad && past)
    return invalidModel("nonpad_kv_seqlen cannot be combined with past_key/past_value");
  if (past && !(ctx.hasInput(4) && ctx.hasInput(5)))
    return invalidModel("past_key and past_value must be given together");
  std::optional<Dims> qd = staticDims(ctx, q), kd = staticDims(ctx, k), vd = staticDims(ctx, v);
  if (!qd || !kd || !vd) return unsupported("Attention needs the shapes of Q, K and V at import");
  KILN_ASSIGN_OR_RETURN(q, toCompute("q", q));
  KILN_ASSIGN_OR_RETURN(k, toCompute("k", k));
  KILN_ASSIGN_OR_RETURN(v, toCompute("v", v));
  const bool threeD = qd->size() == 3 && kd->size() == 3 && vd->size() == 3;
  if (!threeD && !(qd->size() == 4 && kd->size() == 4 && vd->size() == 4))
    return invalidModel("Q, K and V must all be 3-D or all be 4-D");
  int64_t qHeads = 0, kvHeads = 0;
  if (threeD) {
    KILN_ASSIGN_OR_RETURN(qHeads, ctx.getInt("q_num_heads", 0));
    KILN_ASSIGN_OR_RETURN(kvHeads, ctx.getInt("kv_num_heads", 0));
    if (qHeads < 1 || kvHeads < 1)
      return invalidModel("3-D inputs need q_num_heads and kv_num_heads >= 1");
    if ((*qd)[2] % qHeads != 0 || (*kd)[2] % kvHeads != 0 || (*vd)[2] % kvHeads != 0)
      return invalidModel("the hidden sizes of Q, K, V are not multiples of their head counts");
  } else {
    qHeads = (*qd)[1], kvHeads = (*kd)[1];
    if ((*vd)[1] != kvHeads) return invalidModel("K and V have different head counts");
  }
  if (kvHeads < 1 || qHeads % kvHeads != 0)
    return invalidModel("q heads (" + std::to_string(qHeads) +
                        ") must be a multiple of kv heads (" + std::to_string(kvHeads) + ")");
  const int64_t headSize = threeD ? (*qd)[2] / qHeads : (*qd)[3];
  const int64_t sq = threeD ? (*qd)[1] : (*qd)[2];
  int64_t pastLen = 0;
  AttentionAttrs a;
  a.zeroNanProbabilities = true;  // fully masked rows: Y = 0, as the ONNX reference does
  if (ctx.hasAttr("scale")) {
    KILN_ASSIGN_OR_RETURN(a.scale, ctx.getFloat("scale", 1.0f));
  } else {
    if (headSize < 1) return invalidModel("head size must be >= 1");
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(headSize)));
  }
  // The plain 3-D case maps onto the merged layout; every other goes through [B, H, S, D].
  const bool presentUsed =
      (ctx.numOutputs() > 1 && ctx.outputUsed(1)) || (ctx.numOutputs() > 2 && ctx.outputUsed(2));
  const bool merged = threeD && !past && !presentUsed && qHeads == kvHeads && !composed;
  if (merged) {
    a.layout = AttentionLayout::kMerged;
    a.numHeads = qHeads;
  } else {
    a.layout = AttentionLayout::kHeadsFirst;
    if (threeD) {
      KILN_ASSIGN_OR_RETURN(q, splitHeads(ctx, "q", q, *qd, qHeads));
      KILN_ASSIGN_OR_RETURN(k, splitHeads(ctx, "k", k, *kd, kvHeads));
      KILN_ASSIGN_OR_RETURN(v, splitHeads(ctx, "v", v, *vd, kvHeads));
      kd = Dims{(*kd)[0], kvHeads, (*kd)[1], (*kd)[2] / kvHeads};
      vd = Dims{(*vd)[0], kvHeads, (*vd)[1], (*vd)[2] / kvHeads};
    }
    if (past) {
      TensorId pk = ctx.optionalInput(4), pv = ctx.optionalInput(5);
      std::optional<Dims> pkd = staticDims(ctx, pk), pvd = staticDims(ctx, pv);
      if (!pkd || !pvd || pkd->size() != 4 || pvd->size() != 4 || (*pkd)[2] != (*pvd)[2])
        return unsupported("past_key/past_value need static 4-D shapes [B, H, P, D] at import");
      pastLen = (*pkd)[2];
      KILN_ASSIGN_OR_RETURN(pk, toCompute("past_key", pk));
      KILN_ASSIGN_OR_RETURN(pv, toCompute("past_value", pv));
      KILN_ASSIGN_OR_RETURN(k, ctx.addInternal("present_key", ConcatenationAttrs{2}, {pk, k}));
      KILN_ASSIGN_OR_RETURN(v, ctx.addInternal("present_value", ConcatenationAttrs{2}, {pv, v}));
      (*kd)[2] += pastLen;
      (*vd)[2] += pastLen;
    }
    if (ctx.numOutputs() > 1 && ctx.outputUsed(1)) KILN_RETURN_IF_ERROR(emit(1, k));
    if (ctx.numOutputs() > 2 && ctx.outputUsed(2)) KILN_RETURN_IF_ERROR(emit(2, v));
    if (qHeads != kvHeads) {
      KILN_ASSIGN_OR_RETURN(k, repeatHeads(ctx, "k", k, *kd, qHeads / kvHeads));
      KILN_ASSIGN_OR_RETURN(v, repeatHeads(ctx, "v", v, *vd, qHeads / kvHeads));
    }
  }
  const int64_t sk = merged ? (*kd)[1] : (*kd)[2];
  TensorId mask = kNoTensor;
  if (ctx.hasInput(3)) {
    mask = ctx.optionalInput(3);
    std::optional<Dims> md = staticDims(ctx, mask);
    if (!md || md->empty() || md->back() > sk)
      return unsupported(
          "attn_mask needs a static shape whose last dim is at most the key "
          "sequence length (" +
          std::to_string(sk) + ") at import");
    std::optional<DataType> mt = ctx.dtypeOf(mask);
    if (mt == DataType::kBool) {
      KILN_ASSIGN_OR_RETURN(TensorId zero, ctx.addScalarConstant("mask_zero", 0.0, *dtype));
      KILN_ASSIGN_OR_RETURN(
          TensorId ninf,
          ctx.addScalarConstant("mask_neg_inf", -std::numeric_limits<double>::infinity(), *dtype));
      KILN_ASSIGN_OR_RETURN(mask, ctx.addInternal("mask_bias", SelectAttrs{}, {mask, zero, ninf}));
    } else if (mt == ioType) {
      KILN_ASSIGN_OR_RETURN(mask, toCompute("mask", mask));
    } else {
      return invalidModel("attn_mask must be bool or of Q's type");
    }
    if (md->back() < sk) {  // keys past the mask's end are masked
      Dims padDims = *md;
      padDims.back() = sk - md->back();
      KILN_ASSIGN_OR_RETURN(int64_t n, elementCount(padDims, "attn_mask padding"));
      KILN_ASSIGN_OR_RETURN(
          Weights pad, floatWeights(std::vector<double>(static_cast<size_t>(n),
                                                        -std::numeric_limits<double>::infinity()),
                                    padDims, *dtype));
      TensorId padT = ctx.addConstant("mask_pad", std::move(pad));
      const int64_t last = static_cast<int64_t>(md->size()) - 1;
      KILN_ASSIGN_OR_RETURN(mask,
                            ctx.addInternal("mask_padded", ConcatenationAttrs{last}, {mask, padT}));
    }
  }
  KILN_ASSIGN_OR_RETURN(int64_t causal, ctx.getInt("is_causal", 0));
  if (nonpad) {
    // Per batch b, key j is kept iff j < n[b] and, with is_causal, j <= i + n[b] - Sq (the
    // causal diagonal offset by the valid length): iff max(j + 1, j - i + Sq) <= n[b] (max with
    // the causal term only when causal). A bias [B, 1, Sq, Sk] of 0 / -inf.
    TensorId n = ctx.optionalInput(6);
    if (ctx.dtypeOf(n) != DataType::kInt64) return invalidModel("nonpad_kv_seqlen must be int64");
    std::vector<int64_t> need(static_cast<size_t>(sq * sk));
    for (int64_t i = 0; i < sq; ++i)
      for (int64_t j = 0; j < sk; ++j)
        need[static_cast<size_t>(i * sk + j)] = causal != 0 ? std::max(j + 1, j - i + sq) : j + 1;
    KILN_ASSIGN_OR_RETURN(Weights needW, Weights::copyFrom(DataType::kInt64, {sq, sk}, need.data(),
                                                           need.size() * sizeof(int64_t)));
    TensorId needT = ctx.addConstant("kept_if_length_at_least", std::move(needW));
    TensorId nShape = ctx.addIntsConstant("nonpad_shape", {(*qd)[0], 1, 1, 1});
    KILN_ASSIGN_OR_RETURN(
        TensorId n4,
        ctx.addInternal("nonpad_b111", shuffleAttrs(ShuffleMode::kReshape), {n, nShape}));
    KILN_ASSIGN_OR_RETURN(
        TensorId kept,
        ctx.addInternal("kept", ElementwiseAttrs{ElementwiseKind::kLessOrEqual}, {needT, n4}));
    KILN_ASSIGN_OR_RETURN(TensorId zero, ctx.addScalarConstant("kept_zero", 0.0, *dtype));
    KILN_ASSIGN_OR_RETURN(
        TensorId ninf,
        ctx.addScalarConstant("dropped_neg_inf", -std::numeric_limits<double>::infinity(), *dtype));
    KILN_ASSIGN_OR_RETURN(TensorId b,
                          ctx.addInternal("length_bias", SelectAttrs{}, {kept, zero, ninf}));
    if (mask == kNoTensor) {
      mask = b;
    } else {
      KILN_ASSIGN_OR_RETURN(
          mask, ctx.addInternal("length_mask", ElementwiseAttrs{ElementwiseKind::kAdd}, {mask, b}));
    }
  } else if (causal != 0) {
    if (sk - sq == pastLen && !composed) {
      a.causal = true;
    } else {  // a constant [Sq, Sk] bias: -inf where j > i + past length
      std::vector<double> bias(static_cast<size_t>(sq * sk), 0.0);
      for (int64_t i = 0; i < sq; ++i)
        for (int64_t j = 0; j < sk; ++j)
          if (j > i + pastLen)
            bias[static_cast<size_t>(i * sk + j)] = -std::numeric_limits<double>::infinity();
      KILN_ASSIGN_OR_RETURN(Weights w, floatWeights(bias, {sq, sk}, *dtype));
      TensorId c = ctx.addConstant("causal_bias", std::move(w));
      if (mask == kNoTensor) {
        mask = c;
      } else {
        KILN_ASSIGN_OR_RETURN(
            mask,
            ctx.addInternal("causal_mask", ElementwiseAttrs{ElementwiseKind::kAdd}, {mask, c}));
      }
    }
  }
  TensorId y = kNoTensor;
  if (composed) {
    TensorId qk = kNoTensor;
    KILN_ASSIGN_OR_RETURN(y, composeAttention(ctx, q, k, v, mask, a.scale, softcap, qkMode, &qk));
    if (qkOut) KILN_RETURN_IF_ERROR(emit(3, qk));
    if (!threeD) return emit(0, y);
  } else {
    std::vector<TensorId> inputs = {q, k, v};
    if (mask != kNoTensor) inputs.push_back(mask);
    if ((!threeD || merged) && !half) return ctx.addOutputLayer(a, inputs);
    KILN_ASSIGN_OR_RETURN(y, ctx.addInternal("attention", a, inputs));
    if (!threeD || merged) return emit(0, y);
  }
  // [B, H, Sq, Dv] -> [B, Sq, H*Dv]
  ShuffleAttrs t = shuffleAttrs(ShuffleMode::kTranspose);
  t.perm = {0, 2, 1, 3};
  KILN_ASSIGN_OR_RETURN(TensorId yt, ctx.addInternal("y_seq_first", t, {y}));
  TensorId shape = ctx.addIntsConstant("y_shape", {(*qd)[0], sq, qHeads * (*vd)[3]});
  if (!half) return ctx.addOutputLayer(shuffleAttrs(ShuffleMode::kReshape), {yt, shape});
  KILN_ASSIGN_OR_RETURN(
      TensorId ym, ctx.addInternal("y_merged", shuffleAttrs(ShuffleMode::kReshape), {yt, shape}));
  return emit(0, ym);
}

}  // namespace kiln::onnx_import
