// ONNX Constant, Cast, CastLike, Range, ConstantOfShape and Size.
#include <cmath>

#include "importer/onnx/importer.h"
#include "importer/onnx/tensor_proto.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

// Constant: exactly one of value / value_float(s) / value_int(s); string and sparse values
// have no kiln type.
Status importConstant(NodeContext& ctx) {
  if (ctx.hasAttr("value")) {
    KILN_ASSIGN_OR_RETURN(const ::onnx::TensorProto* proto, ctx.requireTensor("value"));
    KILN_ASSIGN_OR_RETURN(Weights w, ctx.decodeTensor(*proto));
    return ctx.addOutputConstant(std::move(w));
  }
  if (ctx.hasAttr("value_float")) {
    KILN_ASSIGN_OR_RETURN(float v, ctx.getFloat("value_float", 0));
    return ctx.addOutputConstant(Weights::fromFloats({v}, /*scalar=*/true));
  }
  if (ctx.hasAttr("value_floats")) {
    KILN_ASSIGN_OR_RETURN(std::vector<float> v, ctx.getFloats("value_floats"));
    return ctx.addOutputConstant(Weights::fromFloats(v));
  }
  if (ctx.hasAttr("value_int")) {
    KILN_ASSIGN_OR_RETURN(int64_t v, ctx.getInt("value_int", 0));
    return ctx.addOutputConstant(Weights::fromInts({v}, /*scalar=*/true));
  }
  if (ctx.hasAttr("value_ints")) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v, ctx.getInts("value_ints"));
    return ctx.addOutputConstant(Weights::fromInts(v));
  }
  for (const char* other : {"sparse_value", "value_string", "value_strings"})
    if (ctx.hasAttr(other))
      return unsupported(std::string("a Constant with attribute '") + other + "' is not supported");
  return invalidModel(
      "missing required attribute: one of 'value', 'value_float', "
      "'value_floats', 'value_int', 'value_ints'");
}

namespace {

/// Reads Cast's `saturate` (opset 19) and `round_mode` (opset 24) into `attrs`.
Status readCastMode(NodeContext& ctx, CastAttrs& attrs) {
  KILN_ASSIGN_OR_RETURN(int64_t saturate, ctx.getInt("saturate", 1));
  if (saturate != 0 && saturate != 1)
    return invalidModel("attribute 'saturate' must be 0 or 1, got " + std::to_string(saturate));
  attrs.saturate = saturate == 1;
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.getString("round_mode", "up"));
  if (mode == "up")
    attrs.roundMode = 0;
  else if (mode == "down")
    attrs.roundMode = 1;
  else if (mode == "nearest")
    attrs.roundMode = 2;
  else
    return invalidModel("attribute 'round_mode' is '" + mode +
                        "', expected 'up', 'down' or 'nearest'");
  return Status::ok();
}

}  // namespace

// Cast(input) to the ONNX type code in `to` (`saturate`, opset 19, for float8 targets;
// `round_mode`, opset 24, for float8 e8m0); before opset 6 `to` is the type's name ("FLOAT").
Status importCast(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  int64_t to = 0;
  if (ctx.opset() < 6) {
    if (!ctx.hasAttr("to")) return invalidModel("missing required attribute 'to'");
    KILN_ASSIGN_OR_RETURN(std::string name, ctx.getString("to", ""));
    ::onnx::TensorProto::DataType code;
    if (!::onnx::TensorProto::DataType_Parse(name, &code))
      return invalidModel("attribute 'to' is '" + name + "', not an ONNX element type name");
    to = code;
  } else {
    KILN_ASSIGN_OR_RETURN(to, ctx.requireInt("to"));
  }
  std::optional<DataType> dtype = dataTypeFromOnnx(static_cast<int32_t>(to));
  if (!dtype)
    return unsupported("Cast to " + onnxDataTypeName(static_cast<int32_t>(to)) +
                       " is not supported");
  CastAttrs attrs{*dtype};
  KILN_RETURN_IF_ERROR(readCastMode(ctx, attrs));
  return ctx.addOutputLayer(attrs, {x});
}

// CastLike(input, target): the target's element type must be known at import.
Status importCastLike(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId like, ctx.input(1));
  std::optional<DataType> dtype = ctx.dtypeOf(like);
  if (!dtype)
    return unsupported("the element type of '" + ctx.net().tensor(like).name +
                       "' is unknown at import (declare it in value_info)");
  CastAttrs attrs{*dtype};
  KILN_RETURN_IF_ERROR(readCastMode(ctx, attrs));
  return ctx.addOutputLayer(attrs, {x});
}

// Range(start, limit, delta) -> Fill.
Status importRange(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId start, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId limit, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(TensorId delta, ctx.input(2));
  return ctx.addOutputLayer(FillAttrs{}, {start, limit, delta});
}

// ConstantOfShape(shape) -> Expand(scalar value, shape): `value` is a one-element tensor (float
// 0 when absent) broadcast to `shape`. Expand's value propagation lets shape subgraphs that build
// a constant (a mask of ones, a zero position vector) fold.
Status importConstantOfShape(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.input(0));
  Weights value = Weights::fromFloats({0.0f}, /*scalar=*/true);
  if (ctx.hasAttr("value")) {
    KILN_ASSIGN_OR_RETURN(const ::onnx::TensorProto* proto, ctx.requireTensor("value"));
    KILN_ASSIGN_OR_RETURN(Weights w, ctx.decodeTensor(*proto));
    if (w.count() != 1)
      return invalidModel("attribute 'value' must hold exactly one element, found " +
                          std::to_string(w.count()));
    KILN_ASSIGN_OR_RETURN(value, Weights::copyFrom(w.dtype(), {}, w.data(), w.bytes()));
  }
  TensorId scalar = ctx.addConstant("value", std::move(value));
  return ctx.addOutputLayer(ExpandAttrs{}, {scalar, shape});
}

// Size(data) -> Reduce{prod, keepdims=0}(ShapeOf(data)): the element count as an int64 scalar
// (1 for a scalar input). Both layers propagate values, so a Size of a symbolic shape folds to
// the product of its dims.
Status importSize(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.addInternal("shape", ShapeOfAttrs{}, {x}));
  ReduceAttrs a;
  a.kind = ReduceKind::kProd;
  a.keepDims = false;
  return ctx.addOutputLayer(a, {shape});
}

// OneHot(indices, depth, values[off, on]; axis) -> where(equal(unsqueeze(idx, axis), range), on,
// off), with idx = indices (as int64) plus depth where negative; indices outside [-depth, depth)
// match no position and give `off` everywhere. The depth fixes the output shape, so it must be a
// build-time constant.
Status importOneHot(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId indices, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId depthIn, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(TensorId values, ctx.input(2));
  std::optional<int64_t> rank = ctx.rankOf(indices);
  if (!rank)
    return unsupported("the rank of input '" + ctx.net().tensor(indices).name +
                       "' is unknown at import (declare its shape in value_info)");
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", -1));
  const int64_t outRank = *rank + 1;
  if (axis < -outRank || axis >= outRank)
    return invalidModel("attribute 'axis' " + std::to_string(axis) + " is out of range for rank " +
                        std::to_string(outRank));
  if (axis < 0) axis += outRank;
  CastAttrs toI64;
  toI64.to = DataType::kInt64;
  // depth: a build-time constant (checked here), or a run-time scalar that the Fill below reads
  // when input values are set (its value decides the output's shape).
  TensorId depthT = kNoTensor;
  if (const Weights* depthW = ctx.constantInput(1)) {
    if (depthW->count() != 1)
      return invalidModel("depth " + dimsToString(depthW->dims()) + " must hold one value");
    KILN_ASSIGN_OR_RETURN(std::vector<double> depthV, depthW->toDoubles());
    constexpr int64_t kMaxDepth = int64_t{1} << 24;
    if (!(depthV[0] >= 1.0) || !(depthV[0] <= static_cast<double>(kMaxDepth)))
      return invalidModel("depth " + std::to_string(depthV[0]) + " must be in [1, 2^24]");
    KILN_ASSIGN_OR_RETURN(depthT,
                          ctx.addScalarConstant("depth", std::floor(depthV[0]), DataType::kInt64));
  } else {
    std::optional<int64_t> depthRank = ctx.rankOf(depthIn);
    if (!depthRank || *depthRank > 1)
      return invalidModel("depth must be a scalar or a tensor of one element");
    KILN_ASSIGN_OR_RETURN(TensorId d, ctx.addInternal("depth_i64", toI64, {depthIn}));
    // A one-element 1-D depth becomes a scalar.
    KILN_ASSIGN_OR_RETURN(depthT, ctx.addInternal("depth", shuffleAttrs(ShuffleMode::kReshape),
                                                  {d, ctx.addIntsConstant("scalar_shape", {})}));
  }
  KILN_ASSIGN_OR_RETURN(TensorId idx, ctx.addInternal("indices_i64", toI64, {indices}));
  KILN_ASSIGN_OR_RETURN(TensorId zero, ctx.addScalarConstant("zero", 0, DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(TensorId one, ctx.addScalarConstant("one", 1, DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(
      TensorId neg,
      ctx.addInternal("negative", ElementwiseAttrs{ElementwiseKind::kLess}, {idx, zero}));
  KILN_ASSIGN_OR_RETURN(
      TensorId wrapped,
      ctx.addInternal("wrapped", ElementwiseAttrs{ElementwiseKind::kAdd}, {idx, depthT}));
  KILN_ASSIGN_OR_RETURN(TensorId adj,
                        ctx.addInternal("normalized", SelectAttrs{}, {neg, wrapped, idx}));
  KILN_ASSIGN_OR_RETURN(TensorId unsq,
                        ctx.addInternal("unsqueezed", shuffleAttrs(ShuffleMode::kUnsqueeze),
                                        {adj, ctx.addIntsConstant("axis", {axis})}));
  // 0..depth-1 laid along `axis` of the output: [depth, 1, ...] with outRank - axis dims.
  KILN_ASSIGN_OR_RETURN(TensorId positions,
                        ctx.addInternal("positions", FillAttrs{}, {zero, depthT, one}));
  std::vector<int64_t> rangeShape(static_cast<size_t>(outRank - axis), 1);
  rangeShape[0] = -1;
  KILN_ASSIGN_OR_RETURN(
      TensorId range, ctx.addInternal("range", shuffleAttrs(ShuffleMode::kReshape),
                                      {positions, ctx.addIntsConstant("range_shape", rangeShape)}));
  KILN_ASSIGN_OR_RETURN(
      TensorId hot,
      ctx.addInternal("hot", ElementwiseAttrs{ElementwiseKind::kEqual}, {unsq, range}));
  GatherAttrs g;
  g.axis = 0;
  KILN_ASSIGN_OR_RETURN(TensorId off,
                        ctx.addInternal("off", g, {values, ctx.addIntsConstant("off_index", {0})}));
  KILN_ASSIGN_OR_RETURN(TensorId on,
                        ctx.addInternal("on", g, {values, ctx.addIntsConstant("on_index", {1})}));
  return ctx.addOutputLayer(SelectAttrs{}, {hot, on, off});
}

}  // namespace kiln::onnx_import
