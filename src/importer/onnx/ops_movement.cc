// ONNX data-movement operators: Pad, SpaceToDepth, DepthToSpace, Tile, Trilu, CenterCropPad.
#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {
namespace {

/// `inputs` without its trailing absent entries.
std::vector<TensorId> trimAbsent(std::vector<TensorId> inputs) {
  while (!inputs.empty() && inputs.back() == kNoTensor)
    inputs.pop_back();
  return inputs;
}

}  // namespace

// Pad(data, pads, constant_value?, axes?) -> Pad{mode}. Before opset 11 the pads ("paddings" in
// opset 1) and the float `value` are attributes; they become constant inputs so the IR has one
// form. Negative pads crop.
Status importPad(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(std::string modeName, ctx.getString("mode", "constant"));
  PadAttrs a;
  if (modeName == "constant")
    a.mode = PadMode::kConstant;
  else if (modeName == "reflect")
    a.mode = PadMode::kReflect;
  else if (modeName == "edge")
    a.mode = PadMode::kEdge;
  else if (modeName == "wrap" && ctx.opset() >= 19)
    a.mode = PadMode::kWrap;
  else
    return invalidModel("attribute 'mode' is '" + modeName + "'; expected constant, reflect, edge" +
                        (ctx.opset() >= 19 ? ", wrap" : ""));
  if (ctx.opset() >= 11) {
    KILN_ASSIGN_OR_RETURN(TensorId pads, ctx.input(1));
    return ctx.addOutputLayer(a, trimAbsent({x, pads, ctx.optionalInput(2), ctx.optionalInput(3)}));
  }
  const char* padsName = ctx.opset() < 2 ? "paddings" : "pads";
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ctx.requireInts(padsName));
  KILN_ASSIGN_OR_RETURN(float value, ctx.getFloat("value", 0.0f));
  TensorId padsT = ctx.addIntsConstant("pads", pads);
  std::vector<TensorId> inputs = {x, padsT};
  if (value != 0.0f) {
    KILN_ASSIGN_OR_RETURN(
        TensorId v,
        ctx.addScalarConstant("value", value, ctx.dtypeOf(x).value_or(DataType::kFloat32)));
    inputs.push_back(v);
  }
  return ctx.addOutputLayer(a, inputs);
}

// SpaceToDepth(input[N, C, H, W]; blocksize b) -> reshape to [N, C, H/b, b, W/b, b], transpose
// to [N, b, b, C, H/b, W/b] and reshape to [N, C*b*b, H/b, W/b]. The shapes come from ShapeOf
// (folded when the input's shape is static); H or W not divisible by b fails the first reshape.
Status importSpaceToDepth(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t b, ctx.requireInt("blocksize"));
  if (b < 1)
    return invalidModel("attribute 'blocksize' is " + std::to_string(b) + ", expected >= 1");
  std::optional<int64_t> bb = checkedMul(b, b);
  if (!bb) return invalidModel("attribute 'blocksize' " + std::to_string(b) + " overflows");
  std::optional<int64_t> rank = ctx.rankOf(x);
  if (rank && *rank != 4)
    return invalidModel("input must have rank 4 ([N, C, H, W]), not " + std::to_string(*rank));
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.addInternal("shape", ShapeOfAttrs{}, {x}));
  // [N, C, H/b, W/b]
  KILN_ASSIGN_OR_RETURN(TensorId blocks,
                        ctx.addInternal("blocks", ElementwiseAttrs{ElementwiseKind::kDiv},
                                        {shape, ctx.addIntsConstant("block", {1, 1, b, b})}));
  // [N, C, H/b, W/b, b] -> [N, C, H/b, b, W/b, b]
  KILN_ASSIGN_OR_RETURN(TensorId withB, ctx.addInternal("blocks_b", ConcatenationAttrs{0},
                                                        {blocks, ctx.addIntsConstant("b", {b})}));
  GatherAttrs g;
  g.axis = 0;
  KILN_ASSIGN_OR_RETURN(
      TensorId splitShape,
      ctx.addInternal("split_shape", g, {withB, ctx.addIntsConstant("order", {0, 1, 2, 4, 3, 4})}));
  ShuffleAttrs reshape;
  reshape.mode = ShuffleMode::kReshape;
  reshape.allowZero = true;
  KILN_ASSIGN_OR_RETURN(TensorId split, ctx.addInternal("split", reshape, {x, splitShape}));
  ShuffleAttrs transpose;
  transpose.mode = ShuffleMode::kTranspose;
  transpose.perm = {0, 3, 5, 1, 2, 4};
  KILN_ASSIGN_OR_RETURN(TensorId moved, ctx.addInternal("moved", transpose, {split}));
  KILN_ASSIGN_OR_RETURN(TensorId outShape,
                        ctx.addInternal("out_shape", ElementwiseAttrs{ElementwiseKind::kMul},
                                        {blocks, ctx.addIntsConstant("depth", {1, *bb, 1, 1})}));
  return ctx.addOutputLayer(reshape, {moved, outShape});
}

// DepthToSpace(input[N, C, H, W]; blocksize b, mode) -> reshape, transpose, reshape:
//   DCR (the default): [N, b, b, C/(b*b), H, W] -> perm [0, 3, 4, 1, 5, 2];
//   CRD:               [N, C/(b*b), b, b, H, W] -> perm [0, 1, 4, 2, 5, 3];
// then [N, C/(b*b), H*b, W*b]. The shapes come from ShapeOf (folded when the input's shape is
// static); C not divisible by b*b fails the first reshape. `mode` exists from opset 11.
Status importDepthToSpace(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t b, ctx.requireInt("blocksize"));
  if (b < 1)
    return invalidModel("attribute 'blocksize' is " + std::to_string(b) + ", expected >= 1");
  std::optional<int64_t> bb = checkedMul(b, b);
  if (!bb) return invalidModel("attribute 'blocksize' " + std::to_string(b) + " overflows");
  std::string mode = "DCR";
  if (ctx.opset() >= 11) {
    KILN_ASSIGN_OR_RETURN(mode, ctx.getString("mode", "DCR"));
  }
  if (mode != "DCR" && mode != "CRD")
    return invalidModel("attribute 'mode' is '" + mode + "'; expected DCR or CRD");
  std::optional<int64_t> rank = ctx.rankOf(x);
  if (rank && *rank != 4)
    return invalidModel("input must have rank 4 ([N, C, H, W]), not " + std::to_string(*rank));
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.addInternal("shape", ShapeOfAttrs{}, {x}));
  // [N, C/(b*b), H, W]
  KILN_ASSIGN_OR_RETURN(TensorId depth,
                        ctx.addInternal("depth", ElementwiseAttrs{ElementwiseKind::kDiv},
                                        {shape, ctx.addIntsConstant("block", {1, *bb, 1, 1})}));
  // [N, C/(b*b), H, W, b] -> the split shape of the mode
  KILN_ASSIGN_OR_RETURN(TensorId withB, ctx.addInternal("depth_b", ConcatenationAttrs{0},
                                                        {depth, ctx.addIntsConstant("b", {b})}));
  const bool dcr = mode == "DCR";
  GatherAttrs g;
  g.axis = 0;
  KILN_ASSIGN_OR_RETURN(
      TensorId splitShape,
      ctx.addInternal(
          "split_shape", g,
          {withB, ctx.addIntsConstant("order", dcr ? std::vector<int64_t>{0, 4, 4, 1, 2, 3}
                                                   : std::vector<int64_t>{0, 1, 4, 4, 2, 3})}));
  ShuffleAttrs reshape;
  reshape.mode = ShuffleMode::kReshape;
  reshape.allowZero = true;
  KILN_ASSIGN_OR_RETURN(TensorId split, ctx.addInternal("split", reshape, {x, splitShape}));
  ShuffleAttrs transpose;
  transpose.mode = ShuffleMode::kTranspose;
  transpose.perm =
      dcr ? std::vector<int64_t>{0, 3, 4, 1, 5, 2} : std::vector<int64_t>{0, 1, 4, 2, 5, 3};
  KILN_ASSIGN_OR_RETURN(TensorId moved, ctx.addInternal("moved", transpose, {split}));
  KILN_ASSIGN_OR_RETURN(TensorId outShape,
                        ctx.addInternal("out_shape", ElementwiseAttrs{ElementwiseKind::kMul},
                                        {depth, ctx.addIntsConstant("space", {1, 1, b, b})}));
  return ctx.addOutputLayer(reshape, {moved, outShape});
}

// Trilu(input, k?) -> Trilu{upper}.
Status importTrilu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t upper, ctx.getInt("upper", 1));
  return ctx.addOutputLayer(TriluAttrs{upper != 0}, trimAbsent({x, ctx.optionalInput(1)}));
}

// Tile(input, repeats) (opset 6+) -> x[d0, d1, ...] unsqueezed to [1, d0, 1, d1, ...],
// expanded to [r0, d0, r1, d1, ...] and reshaped to [r0 * d0, r1 * d1, ...]. The repeats must
// be a build-time constant (they fix the output's rank and layout).
Status importTile(NodeContext& ctx) {
  if (ctx.opset() < 6)
    return unsupported("Tile before opset 6 (tiles and axis inputs) is not supported");
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.input(1).status());
  const Weights* reps = ctx.constantInput(1);
  if (!reps) return unsupported("input #1 (repeats) must be a build-time constant");
  std::optional<int64_t> rank = ctx.rankOf(x);
  if (!rank)
    return unsupported("the rank of input '" + ctx.net().tensor(x).name +
                       "' is unknown at import (declare its shape in value_info)");
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> r, reps->toInts());
  if (reps->dims().size() != 1 || static_cast<int64_t>(r.size()) != *rank)
    return invalidModel("repeats " + dimsToString(reps->dims()) +
                        " must be 1-D with one value per dim of the input (rank " +
                        std::to_string(*rank) + ")");
  for (int64_t v : r)
    if (v < 0) return invalidModel("repeats has a negative value " + std::to_string(v));
  std::vector<int64_t> axes, expandShape;
  for (int64_t i = 0; i < *rank; ++i) {
    axes.push_back(2 * i);
    expandShape.push_back(r[static_cast<size_t>(i)]);
    expandShape.push_back(1);
  }
  ShuffleAttrs unsq;
  unsq.mode = ShuffleMode::kUnsqueeze;
  KILN_ASSIGN_OR_RETURN(
      TensorId u, ctx.addInternal("interleave", unsq, {x, ctx.addIntsConstant("axes", axes)}));
  KILN_ASSIGN_OR_RETURN(TensorId e,
                        ctx.addInternal("repeat", ExpandAttrs{},
                                        {u, ctx.addIntsConstant("repeat_shape", expandShape)}));
  // The output shape: shape(x) * repeats (folded to a constant when x's shape is static).
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.addInternal("shape", ShapeOfAttrs{}, {x}));
  KILN_ASSIGN_OR_RETURN(TensorId outShape,
                        ctx.addInternal("tiled_shape", ElementwiseAttrs{ElementwiseKind::kMul},
                                        {shape, ctx.addIntsConstant("repeats", r)}));
  ShuffleAttrs reshape;
  reshape.mode = ShuffleMode::kReshape;
  reshape.allowZero = true;
  return ctx.addOutputLayer(reshape, {e, outShape});
}

// CenterCropPad(input, shape) along axes (default all): each axis is padded with zeros (half in
// front, rounded down) up to shape, then cropped about its centre (the start rounded down) to
// shape:
//   cur = ShapeOf(x)[axes]; padded = max(shape, cur); d = padded - cur;
//   p = Pad(x, concat(d / 2, d - d / 2), -, axes);
//   y = Slice(p, (padded - shape) / 2, (padded - shape) / 2 + shape, axes)
Status importCenterCropPad(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.input(1));
  auto rank = ctx.rankOf(x);
  if (!rank) return unsupported("the rank of input 'input' must be known");
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.getInts("axes", {}));
  if (axes.empty())
    for (int64_t i = 0; i < *rank; ++i)
      axes.push_back(i);
  for (int64_t& a : axes) {
    if (a < -*rank || a >= *rank)
      return invalidModel("axis " + std::to_string(a) + " is out of range for rank " +
                          std::to_string(*rank));
    if (a < 0) a += *rank;
  }
  auto st = ctx.dtypeOf(shape);
  if (st && *st != DataType::kInt64) {
    if (*st != DataType::kInt32)
      return invalidModel(std::string("shape must be int32 or int64, found ") + dataTypeName(*st));
    KILN_ASSIGN_OR_RETURN(shape,
                          ctx.addInternal("shape_i64", CastAttrs{DataType::kInt64}, {shape}));
  }
  TensorId axesT = ctx.addIntsConstant("axes", axes);
  TensorId two = ctx.addIntsConstant("two", {2});
  auto binary = [&](const char* suffix, ElementwiseKind kind, TensorId a, TensorId b) {
    return ctx.addInternal(suffix, ElementwiseAttrs{kind}, {a, b});
  };
  KILN_ASSIGN_OR_RETURN(TensorId dims, ctx.addInternal("shape_of", ShapeOfAttrs{}, {x}));
  KILN_ASSIGN_OR_RETURN(
      TensorId cur,
      ctx.addInternal("axis_dims", GatherAttrs{GatherMode::kDefault, 0, 0}, {dims, axesT}));
  KILN_ASSIGN_OR_RETURN(TensorId padded, binary("padded", ElementwiseKind::kMax, shape, cur));
  KILN_ASSIGN_OR_RETURN(TensorId grow, binary("grow", ElementwiseKind::kSub, padded, cur));
  KILN_ASSIGN_OR_RETURN(TensorId front, binary("pad_front", ElementwiseKind::kDiv, grow, two));
  KILN_ASSIGN_OR_RETURN(TensorId back, binary("pad_back", ElementwiseKind::kSub, grow, front));
  KILN_ASSIGN_OR_RETURN(TensorId pads,
                        ctx.addInternal("pads", ConcatenationAttrs{0}, {front, back}));
  KILN_ASSIGN_OR_RETURN(TensorId p,
                        ctx.addInternal("pad", PadAttrs{}, {x, pads, kNoTensor, axesT}));
  KILN_ASSIGN_OR_RETURN(TensorId shrink, binary("shrink", ElementwiseKind::kSub, padded, shape));
  KILN_ASSIGN_OR_RETURN(TensorId start, binary("start", ElementwiseKind::kDiv, shrink, two));
  KILN_ASSIGN_OR_RETURN(TensorId end, binary("end", ElementwiseKind::kAdd, start, shape));
  return ctx.addOutputLayer(SliceAttrs{}, {p, start, end, axesT});
}

}  // namespace kiln::onnx_import
