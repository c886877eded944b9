// ONNX Conv, pooling, Gemm and MatMul.
#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

Expected<PaddingMode> paddingMode(const NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string autoPad, ctx.getString("auto_pad", "NOTSET"));
  if (autoPad == "NOTSET") return PaddingMode::kExplicit;
  if (autoPad == "SAME_UPPER") return PaddingMode::kSameUpper;
  if (autoPad == "SAME_LOWER") return PaddingMode::kSameLower;
  if (autoPad == "VALID") return PaddingMode::kValid;
  return invalidModel("attribute 'auto_pad' is '" + autoPad +
                      "', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID");
}

/// ONNX pads [b1, b2, ..., e1, e2, ...] split into begin and end halves.
Status splitPads(const NodeContext& ctx, std::vector<int64_t>* begin, std::vector<int64_t>* end) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ctx.getInts("pads"));
  if (pads.size() % 2 != 0)
    return invalidModel("attribute 'pads' has " + std::to_string(pads.size()) +
                        " values, expected 2 per spatial dim (begins then ends)");
  for (int64_t p : pads)
    if (p < 0) return invalidModel("attribute 'pads' has a negative value");
  const size_t half = pads.size() / 2;
  begin->assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(half));
  end->assign(pads.begin() + static_cast<std::ptrdiff_t>(half), pads.end());
  return Status::ok();
}

/// The window attributes MaxPool and AveragePool share.
Expected<PoolingAttrs> windowAttrs(const NodeContext& ctx, PoolingKind kind) {
  PoolingAttrs a;
  a.kind = kind;
  KILN_ASSIGN_OR_RETURN(a.kernelShape, ctx.requireInts("kernel_shape"));
  KILN_ASSIGN_OR_RETURN(a.strides, ctx.getInts("strides"));
  KILN_ASSIGN_OR_RETURN(a.dilations, ctx.getInts("dilations"));
  KILN_RETURN_IF_ERROR(splitPads(ctx, &a.padsBegin, &a.padsEnd));
  KILN_ASSIGN_OR_RETURN(a.padding, paddingMode(ctx));
  KILN_ASSIGN_OR_RETURN(int64_t ceilMode, ctx.getInt("ceil_mode", 0));
  a.ceilMode = ceilMode != 0;
  return a;
}

Status importGlobalPool(NodeContext& ctx, PoolingKind kind) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  PoolingAttrs a;
  a.kind = kind;
  a.global = true;
  return ctx.addOutputLayer(a, {x});
}

}  // namespace

// Conv(X, W, B?) -> Convolution.
Status importConv(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId w, ctx.input(1));
  ConvolutionAttrs a;
  KILN_ASSIGN_OR_RETURN(a.kernelShape, ctx.getInts("kernel_shape"));
  KILN_ASSIGN_OR_RETURN(a.strides, ctx.getInts("strides"));
  KILN_ASSIGN_OR_RETURN(a.dilations, ctx.getInts("dilations"));
  KILN_RETURN_IF_ERROR(splitPads(ctx, &a.padsBegin, &a.padsEnd));
  KILN_ASSIGN_OR_RETURN(a.padding, paddingMode(ctx));
  KILN_ASSIGN_OR_RETURN(a.group, ctx.getInt("group", 1));
  if (a.group < 1)
    return invalidModel("attribute 'group' is " + std::to_string(a.group) + ", expected >= 1");
  std::vector<TensorId> inputs = {x, w};
  if (ctx.hasInput(2)) inputs.push_back(ctx.optionalInput(2));
  return ctx.addOutputLayer(a, inputs);
}

// ConvTranspose(X, W, B?) -> Convolution{transposed}.
Status importConvTranspose(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId w, ctx.input(1));
  ConvolutionAttrs a;
  a.transposed = true;
  KILN_ASSIGN_OR_RETURN(a.kernelShape, ctx.getInts("kernel_shape"));
  KILN_ASSIGN_OR_RETURN(a.strides, ctx.getInts("strides"));
  KILN_ASSIGN_OR_RETURN(a.dilations, ctx.getInts("dilations"));
  KILN_RETURN_IF_ERROR(splitPads(ctx, &a.padsBegin, &a.padsEnd));
  KILN_ASSIGN_OR_RETURN(a.padding, paddingMode(ctx));
  KILN_ASSIGN_OR_RETURN(a.group, ctx.getInt("group", 1));
  if (a.group < 1)
    return invalidModel("attribute 'group' is " + std::to_string(a.group) + ", expected >= 1");
  KILN_ASSIGN_OR_RETURN(a.outputPadding, ctx.getInts("output_padding"));
  KILN_ASSIGN_OR_RETURN(a.outputShape, ctx.getInts("output_shape"));
  std::vector<TensorId> inputs = {x, w};
  if (ctx.hasInput(2)) inputs.push_back(ctx.optionalInput(2));
  return ctx.addOutputLayer(a, inputs);
}

Status importMaxPool(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_RETURN_IF_ERROR(ctx.requireUnusedOutputs(1));  // Indices
  KILN_ASSIGN_OR_RETURN(PoolingAttrs a, windowAttrs(ctx, PoolingKind::kMax));
  return ctx.addOutputLayer(a, {x});
}

Status importAveragePool(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(PoolingAttrs a, windowAttrs(ctx, PoolingKind::kAverage));
  KILN_ASSIGN_OR_RETURN(int64_t includePad, ctx.getInt("count_include_pad", 0));
  a.countIncludePad = includePad != 0;
  return ctx.addOutputLayer(a, {x});
}

Status importGlobalAveragePool(NodeContext& ctx) {
  return importGlobalPool(ctx, PoolingKind::kAverage);
}

Status importGlobalMaxPool(NodeContext& ctx) {
  return importGlobalPool(ctx, PoolingKind::kMax);
}

// LpPool(X; p, kernel_shape, pads, auto_pad, strides, dilations) = (sum over the window of
// |x|^p)^(1/p): the channels are folded into the batch ([N*C, 1, spatial...]), the window sum is
// a Convolution with a kernel of ones (zero padding, so pads add nothing), and the result is
// reshaped back to [N, C, spatial'...]. ceil_mode = 1 is refused (Convolution has no ceil mode).
Status importLpPool(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  std::optional<DataType> dtype = ctx.dtypeOf(x);
  std::optional<int64_t> rank = ctx.rankOf(x);
  if (!rank || !dtype)
    return unsupported("the rank and type of input '" + ctx.net().tensor(x).name +
                       "' must be known at import (declare its shape in value_info)");
  double p = 2.0;
  if (ctx.opset() < 2) {
    KILN_ASSIGN_OR_RETURN(float pf, ctx.getFloat("p", 2.0f));
    p = pf;
  } else {
    KILN_ASSIGN_OR_RETURN(int64_t pi, ctx.getInt("p", 2));
    p = static_cast<double>(pi);
  }
  if (!(p > 0.0)) return invalidModel("attribute 'p' must be positive");
  KILN_ASSIGN_OR_RETURN(int64_t ceilMode, ctx.getInt("ceil_mode", 0));
  if (ceilMode != 0) return unsupported("attribute 'ceil_mode' = 1 is not supported");
  ConvolutionAttrs c;
  KILN_ASSIGN_OR_RETURN(c.kernelShape, ctx.requireInts("kernel_shape"));
  const int64_t spatial = static_cast<int64_t>(c.kernelShape.size());
  if (*rank != spatial + 2)
    return invalidModel("input rank " + std::to_string(*rank) + " does not match the " +
                        std::to_string(spatial) + "-D kernel_shape");
  for (int64_t k : c.kernelShape)
    if (k < 1) return invalidModel("attribute 'kernel_shape' has a value < 1");
  KILN_ASSIGN_OR_RETURN(c.strides, ctx.getInts("strides"));
  KILN_ASSIGN_OR_RETURN(c.dilations, ctx.getInts("dilations"));
  KILN_RETURN_IF_ERROR(splitPads(ctx, &c.padsBegin, &c.padsEnd));
  KILN_ASSIGN_OR_RETURN(c.padding, paddingMode(ctx));
  // |x|^p
  KILN_ASSIGN_OR_RETURN(TensorId absX, ctx.addInternal("abs", UnaryAttrs{UnaryKind::kAbs}, {x}));
  TensorId powered = absX;
  if (p != 1.0) {
    KILN_ASSIGN_OR_RETURN(TensorId pT, ctx.addScalarConstant("p", p, *dtype));
    KILN_ASSIGN_OR_RETURN(
        powered, ctx.addInternal("pow", ElementwiseAttrs{ElementwiseKind::kPow}, {absX, pT}));
  }
  // [N, C, spatial...] -> [N*C, 1, spatial...]
  std::vector<int64_t> folded(static_cast<size_t>(*rank), 0);
  folded[0] = -1;
  folded[1] = 1;
  KILN_ASSIGN_OR_RETURN(TensorId f,
                        ctx.addInternal("fold", shuffleAttrs(ShuffleMode::kReshape),
                                        {powered, ctx.addIntsConstant("folded", folded)}));
  std::vector<int64_t> wShape = {1, 1};
  wShape.insert(wShape.end(), c.kernelShape.begin(), c.kernelShape.end());
  KILN_ASSIGN_OR_RETURN(TensorId one, ctx.addScalarConstant("one", 1.0, *dtype));
  KILN_ASSIGN_OR_RETURN(TensorId w, ctx.addInternal("ones", ExpandAttrs{},
                                                    {one, ctx.addIntsConstant("w_shape", wShape)}));
  KILN_ASSIGN_OR_RETURN(TensorId sum, ctx.addInternal("window_sum", c, {f, w}));
  // [N*C, 1, spatial'...] -> [N, C, spatial'...]
  ShapeOfAttrs nc;
  nc.end = 2;
  ShapeOfAttrs sp;
  sp.start = 2;
  KILN_ASSIGN_OR_RETURN(TensorId ncShape, ctx.addInternal("nc", nc, {x}));
  KILN_ASSIGN_OR_RETURN(TensorId spShape, ctx.addInternal("spatial", sp, {sum}));
  KILN_ASSIGN_OR_RETURN(TensorId outShape,
                        ctx.addInternal("out_shape", ConcatenationAttrs{0}, {ncShape, spShape}));
  ShuffleAttrs reshape;
  reshape.mode = ShuffleMode::kReshape;
  reshape.allowZero = true;
  if (p == 1.0) return ctx.addOutputLayer(reshape, {sum, outShape});
  KILN_ASSIGN_OR_RETURN(TensorId unfolded, ctx.addInternal("unfold", reshape, {sum, outShape}));
  if (p == 2.0) return ctx.addOutputLayer(UnaryAttrs{UnaryKind::kSqrt}, {unfolded});
  KILN_ASSIGN_OR_RETURN(TensorId inv, ctx.addScalarConstant("inv_p", 1.0 / p, *dtype));
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kPow}, {unfolded, inv});
}

// Gemm(A, B, C?) = alpha * op(A) @ op(B) + beta * C -> MatrixMultiply.
Status importGemm(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId b, ctx.input(1));
  MatrixMultiplyAttrs m;
  KILN_ASSIGN_OR_RETURN(int64_t transA, ctx.getInt("transA", 0));
  KILN_ASSIGN_OR_RETURN(int64_t transB, ctx.getInt("transB", 0));
  KILN_ASSIGN_OR_RETURN(m.alpha, ctx.getFloat("alpha", 1.0f));
  KILN_ASSIGN_OR_RETURN(m.beta, ctx.getFloat("beta", 1.0f));
  m.transA = transA != 0;
  m.transB = transB != 0;
  std::vector<TensorId> inputs = {a, b};
  if (ctx.hasInput(2)) inputs.push_back(ctx.optionalInput(2));
  return ctx.addOutputLayer(m, inputs);
}

// MatMul(A, B): numpy matmul semantics -> MatrixMultiply with default attributes.
Status importMatMul(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId b, ctx.input(1));
  return ctx.addOutputLayer(MatrixMultiplyAttrs{}, {a, b});
}

}  // namespace kiln::onnx_import
