// ONNX BatchNormalization (inference: folded into a per-channel multiply-add),
// LayerNormalization, Softmax and LogSoftmax.
#include <cmath>

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

}  // namespace kiln::onnx_import
