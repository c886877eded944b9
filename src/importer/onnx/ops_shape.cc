// ONNX shape ops: Reshape/Flatten/Squeeze/Unsqueeze/Transpose (-> Shuffle), Concat, Slice,
// Split, Gather/GatherElements/GatherND, Expand and Shape. Params that older opsets gave as
// attributes become constant inputs, so the IR sees one form.
#include <climits>

#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

/// The axes param of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13.
Expected<TensorId> axesParam(NodeContext& ctx) {
  if (ctx.opset() >= 13) return ctx.optionalInput(1);
  if (!ctx.hasAttr("axes")) return kNoTensor;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.getInts("axes"));
  return ctx.addIntsConstant("axes", axes);
}

Status importGatherMode(NodeContext& ctx, GatherMode mode) {
  KILN_ASSIGN_OR_RETURN(TensorId data, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId indices, ctx.input(1));
  GatherAttrs a;
  a.mode = mode;
  if (mode == GatherMode::kND) {
    KILN_ASSIGN_OR_RETURN(a.batchDims, ctx.getInt("batch_dims", 0));
  } else {
    KILN_ASSIGN_OR_RETURN(a.axis, ctx.getInt("axis", 0));
  }
  return ctx.addOutputLayer(a, {data, indices});
}

}  // namespace

// Reshape(data, shape) with allowzero (opset 14); before opset 5 the shape is an attribute.
Status importReshape(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  TensorId shape = kNoTensor;
  if (ctx.opset() < 5) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ctx.requireInts("shape"));
    shape = ctx.addIntsConstant("shape", dims);
  } else {
    KILN_ASSIGN_OR_RETURN(shape, ctx.input(1));
  }
  ShuffleAttrs a = shuffleAttrs(ShuffleMode::kReshape);
  KILN_ASSIGN_OR_RETURN(int64_t allowZero, ctx.getInt("allowzero", 0));
  a.allowZero = allowZero != 0;
  return ctx.addOutputLayer(a, {x, shape});
}

Status importFlatten(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  ShuffleAttrs a = shuffleAttrs(ShuffleMode::kFlatten);
  KILN_ASSIGN_OR_RETURN(a.axis, ctx.getInt("axis", 1));
  return ctx.addOutputLayer(a, {x});
}

// Squeeze(data, axes?): no axes squeezes every size-1 dim.
Status importSqueeze(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId axes, axesParam(ctx));
  std::vector<TensorId> inputs = {x};
  if (axes != kNoTensor) inputs.push_back(axes);
  return ctx.addOutputLayer(shuffleAttrs(ShuffleMode::kSqueeze), inputs);
}

// Unsqueeze(data, axes): axes are required.
Status importUnsqueeze(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId axes, axesParam(ctx));
  if (axes == kNoTensor)
    return invalidModel(ctx.opset() >= 13 ? "required input #1 (axes) is missing"
                                          : "missing required attribute 'axes'");
  return ctx.addOutputLayer(shuffleAttrs(ShuffleMode::kUnsqueeze), {x, axes});
}

// Transpose: perm attribute; absent reverses the dims.
Status importTranspose(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  ShuffleAttrs a = shuffleAttrs(ShuffleMode::kTranspose);
  KILN_ASSIGN_OR_RETURN(a.perm, ctx.getInts("perm"));
  return ctx.addOutputLayer(a, {x});
}

// Concat: `axis` is required from opset 4 and defaults to 1 before.
Status importConcat(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        ctx.opset() < 4 ? ctx.getInt("axis", 1) : ctx.requireInt("axis"));
  std::vector<TensorId> inputs;
  for (TensorId t : ctx.inputs())
    if (t != kNoTensor) inputs.push_back(t);
  if (inputs.empty()) return invalidModel("Concat needs at least one input");
  return ctx.addOutputLayer(ConcatenationAttrs{axis}, inputs);
}

// Slice(data, starts, ends, axes?, steps?) from opset 10; attributes starts/ends/axes before.
Status importSlice(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  if (ctx.opset() >= 10) {
    KILN_RETURN_IF_ERROR(ctx.input(1).status());
    KILN_RETURN_IF_ERROR(ctx.input(2).status());
    return ctx.addOutputLayer(SliceAttrs{}, ctx.inputs());
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> starts, ctx.requireInts("starts"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ends, ctx.requireInts("ends"));
  std::vector<TensorId> inputs = {x, ctx.addIntsConstant("starts", starts),
                                  ctx.addIntsConstant("ends", ends)};
  if (ctx.hasAttr("axes")) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.getInts("axes"));
    inputs.push_back(ctx.addIntsConstant("axes", axes));
  }
  return ctx.addOutputLayer(SliceAttrs{}, inputs);
}

// Split(input, split?): split sizes from the `split` attribute before opset 13 (opset 1 also
// takes them as an optional second input), the optional input from 13; without sizes, equal parts
// over the node's outputs (num_outputs from 18, whose last part may be smaller).
Status importSplit(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  SplitAttrs a;
  KILN_ASSIGN_OR_RETURN(a.axis, ctx.getInt("axis", 0));
  a.numOutputs = ctx.numOutputs();
  if (a.numOutputs < 1) return invalidModel("Split needs at least one output");
  TensorId split = kNoTensor;
  if (ctx.opset() >= 13 || (ctx.opset() < 2 && ctx.hasInput(1))) {
    split = ctx.optionalInput(1);
  } else if (ctx.hasAttr("split")) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ctx.getInts("split"));
    split = ctx.addIntsConstant("split", sizes);
  }
  if (ctx.opset() >= 18 && ctx.hasAttr("num_outputs")) {
    KILN_ASSIGN_OR_RETURN(int64_t n, ctx.getInt("num_outputs", 0));
    if (split != kNoTensor)
      return invalidModel("both the 'split' input and the 'num_outputs' attribute are given");
    if (n != a.numOutputs)
      return invalidModel("attribute 'num_outputs' is " + std::to_string(n) + " but the node has " +
                          std::to_string(a.numOutputs) + " outputs");
  }
  std::vector<TensorId> inputs = {x};
  if (split != kNoTensor) inputs.push_back(split);
  return ctx.addOutputLayer(a, inputs, a.numOutputs);
}

Status importGather(NodeContext& ctx) {
  return importGatherMode(ctx, GatherMode::kDefault);
}
Status importGatherElements(NodeContext& ctx) {
  return importGatherMode(ctx, GatherMode::kElements);
}
Status importGatherND(NodeContext& ctx) {
  return importGatherMode(ctx, GatherMode::kND);
}

// Expand(input, shape): numpy broadcast to shape.
Status importExpand(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.input(1));
  return ctx.addOutputLayer(ExpandAttrs{}, {x, shape});
}

// Shape(data) with start/end (opset 15) -> ShapeOf.
Status importShape(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  ShapeOfAttrs a;
  KILN_ASSIGN_OR_RETURN(a.start, ctx.getInt("start", 0));
  KILN_ASSIGN_OR_RETURN(a.end, ctx.getInt("end", INT64_MAX));
  return ctx.addOutputLayer(a, {x});
}

}  // namespace kiln::onnx_import
