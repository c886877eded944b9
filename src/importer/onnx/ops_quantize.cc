// ONNX linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
// MatMulInteger and QLinearMatMul, as compositions of Cast, Elementwise, MatrixMultiply, Unary
// Round and Activation Clip computed in float32 (float64 for the integer matrix products, which
// are exact there for 8-bit operands):
//
//   QuantizeLinear:   y = cast(clip(round(x / scale) + zero_point, qmin, qmax))  (integers)
//                     y = cast{saturate}(x / scale + zero_point)                  (float8/4)
//   DequantizeLinear: y = (float(x) - float(zero_point)) * scale
//
// scale and zero_point are per tensor (a scalar or one value), per axis (1-D along `axis`) or
// blocked (the rank of x, `block_size` consecutive elements along `axis` sharing a value; they
// are gathered to the shape of x). Integers up to 16 bits are exact in float32.
#include <cmath>

#include "importer/onnx/importer.h"
#include "importer/onnx/tensor_proto.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {
namespace {

bool isNarrowFloatType(DataType t) {
  return t == DataType::kFloat8E4M3FN || t == DataType::kFloat8E4M3FNUZ ||
         t == DataType::kFloat8E5M2 || t == DataType::kFloat8E5M2FNUZ || t == DataType::kFloat4E2M1;
}

/// The range of an integer quantized type; nothing for the other types.
std::optional<std::pair<double, double>> integerRange(DataType t) {
  switch (t) {
    case DataType::kInt8:
      return std::pair{-128.0, 127.0};
    case DataType::kUInt8:
      return std::pair{0.0, 255.0};
    case DataType::kInt16:
      return std::pair{-32768.0, 32767.0};
    case DataType::kUInt16:
      return std::pair{0.0, 65535.0};
    case DataType::kInt4:
      return std::pair{-8.0, 7.0};
    case DataType::kUInt4:
      return std::pair{0.0, 15.0};
    case DataType::kInt2:
      return std::pair{-2.0, 1.0};
    case DataType::kUInt2:
      return std::pair{0.0, 3.0};
    default:
      return std::nullopt;
  }
}

bool isComputeFloat(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

Expected<DataType> typeOf(NodeContext& ctx, TensorId t) {
  std::optional<DataType> d = ctx.dtypeOf(t);
  if (!d) return unsupported("the type of '" + ctx.net().tensor(t).name + "' is unknown at import");
  return *d;
}

Expected<TensorId> castTo(NodeContext& ctx, const std::string& suffix, TensorId t, DataType to) {
  KILN_ASSIGN_OR_RETURN(DataType from, typeOf(ctx, t));
  if (from == to) return t;
  CastAttrs c;
  c.to = to;
  return ctx.addInternal(suffix, c, {t});
}

Expected<TensorId> binary(NodeContext& ctx, const std::string& suffix, ElementwiseKind kind,
                          TensorId a, TensorId b) {
  return ctx.addInternal(suffix, ElementwiseAttrs{kind}, {a, b});
}

Expected<TensorId> clip(NodeContext& ctx, const std::string& suffix, TensorId t,
                        std::pair<double, double> range) {
  ActivationAttrs a;
  a.kind = ActivationKind::kClip;
  a.alpha = static_cast<float>(range.first);
  a.beta = static_cast<float>(range.second);
  return ctx.addInternal(suffix, a, {t});
}

/// The quantization parameter `p` (already float32) made to broadcast against x: per tensor
/// as it is, per axis reshaped to [C, 1, ...], blocked gathered along `axis` to x's dims.
Expected<TensorId> broadcastParam(NodeContext& ctx, const std::string& what, TensorId p, TensorId x,
                                  int64_t axis, int64_t blockSize) {
  const Shape& ps = ctx.net().tensor(p).shape;
  const Shape& xs = ctx.net().tensor(x).shape;
  std::optional<int64_t> prank = ctx.rankOf(p), xrank = ctx.rankOf(x);
  if (!prank || !xrank)
    return unsupported("the ranks of x and " + what + " must be known at import");
  const bool single = *prank == 0 || (*prank == 1 && ps[0] == 1);
  if (blockSize <= 0 && single) return p;  // per tensor: broadcasts as it is
  const int64_t r = *xrank;
  if (axis < -r || axis >= r)
    return invalidModel("axis " + std::to_string(axis) + " is out of range for x of rank " +
                        std::to_string(r));
  if (axis < 0) axis += r;
  const Dim& along = xs[static_cast<size_t>(axis)];
  if (blockSize > 0) {
    // Blocked: p has x's rank, ceil(D / block_size) values along axis.
    if (*prank != r)
      return invalidModel("blocked " + what + " " + shapeToString(ps) +
                          " must have the rank of x " + shapeToString(xs));
    if (!along.isStatic())
      return unsupported("blocked quantization needs the dim of x along axis " +
                         std::to_string(axis) + " at import, found " + shapeToString(xs));
    const int64_t d = along.value();
    const Dim& blocks = ps[static_cast<size_t>(axis)];
    if (d > (int64_t{1} << 31))
      return unsupported("blocked quantization along a dim of " + std::to_string(d) +
                         " elements is not supported");
    if (Dim::provablyDifferent(blocks, (d + blockSize - 1) / blockSize))
      return invalidModel(what + " " + shapeToString(ps) + " must have ceil(" + std::to_string(d) +
                          " / block_size " + std::to_string(blockSize) + ") values along axis " +
                          std::to_string(axis));
    std::vector<int64_t> index(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i)
      index[static_cast<size_t>(i)] = i / blockSize;
    GatherAttrs g;
    g.axis = axis;
    return ctx.addInternal(what + "_blocks", g, {p, ctx.addIntsConstant(what + "_index", index)});
  }
  if (*prank != 1)
    return invalidModel(what + " " + shapeToString(ps) +
                        " must be a scalar or 1-D (per axis) without block_size");
  if (Dim::provablyDifferent(ps[0], along))
    return invalidModel(what + " " + shapeToString(ps) + " must have one value per element of x " +
                        shapeToString(xs) + " along axis " + std::to_string(axis));
  std::vector<int64_t> shape(static_cast<size_t>(r - axis), 1);
  shape[0] = -1;
  ShuffleAttrs reshape;
  reshape.mode = ShuffleMode::kReshape;
  return ctx.addInternal(what + "_per_axis", reshape,
                         {p, ctx.addIntsConstant(what + "_shape", shape)});
}

/// `block_size` (opset 21+; 0 when absent), checked.
Expected<int64_t> blockSizeAttr(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t b, ctx.getInt("block_size", 0));
  if (b < 0) return invalidModel("attribute 'block_size' is negative (" + std::to_string(b) + ")");
  return b;
}

/// A type attribute (output_dtype, precision): nothing when absent or 0.
Expected<std::optional<DataType>> typeAttr(NodeContext& ctx, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(int64_t code, ctx.getInt(name, 0));
  if (code == 0) return std::optional<DataType>{};
  std::optional<DataType> t =
      code > 0 && code < 64 ? dataTypeFromOnnx(static_cast<int32_t>(code)) : std::nullopt;
  if (!t)
    return invalidModel("attribute '" + name + "' is " + std::to_string(code) +
                        ", not a supported element type");
  return t;
}

/// A matrix operand's scale or zero point: a 1-D tensor of more than one value is per row of
/// A (reshaped to [M, 1]) when `perRow`; everything else broadcasts as it is.
Expected<TensorId> perRowParam(NodeContext& ctx, const std::string& what, TensorId p, bool perRow) {
  std::optional<int64_t> rank = ctx.rankOf(p);
  if (!rank) return unsupported("the rank of " + what + " must be known at import");
  const Shape& ps = ctx.net().tensor(p).shape;
  if (!perRow || *rank != 1 || ps[0] == 1) return p;
  ShuffleAttrs reshape;
  reshape.mode = ShuffleMode::kReshape;
  return ctx.addInternal(what + "_per_row", reshape,
                         {p, ctx.addIntsConstant(what + "_shape", {-1, 1})});
}

/// x - zero_point in float64 for an 8-bit matrix operand; a 1-D zero point of more than one
/// value is per row when `perRow` (reshaped to [M, 1]), else per column (as it is).
Expected<TensorId> centered(NodeContext& ctx, const std::string& what, TensorId x, TensorId zp,
                            bool perRow) {
  KILN_ASSIGN_OR_RETURN(DataType xt, typeOf(ctx, x));
  if (xt != DataType::kInt8 && xt != DataType::kUInt8)
    return unsupported(what + " of type " + dataTypeName(xt) + " is not supported (i8, u8)");
  KILN_ASSIGN_OR_RETURN(TensorId v, castTo(ctx, what + "_f64", x, DataType::kFloat64));
  if (zp == kNoTensor) return v;
  KILN_ASSIGN_OR_RETURN(DataType zt, typeOf(ctx, zp));
  if (zt != xt)
    return invalidModel(what + "'s zero point has type " + dataTypeName(zt) + ", expected " +
                        dataTypeName(xt));
  KILN_ASSIGN_OR_RETURN(TensorId z, castTo(ctx, what + "_zero_point_f64", zp, DataType::kFloat64));
  KILN_ASSIGN_OR_RETURN(z, perRowParam(ctx, what + "_zero_point", z, perRow));
  return binary(ctx, what + "_centered", ElementwiseKind::kSub, v, z);
}

}  // namespace

// QuantizeLinear(x, y_scale, y_zero_point?) -> y of zero_point's type (or output_dtype, default
// uint8). The division runs in `precision` (default: the scale's type).
Status importQuantizeLinear(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId scale, ctx.input(1));
  const TensorId zp = ctx.optionalInput(2);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", 1));
  KILN_ASSIGN_OR_RETURN(int64_t blockSize, blockSizeAttr(ctx));
  KILN_ASSIGN_OR_RETURN(int64_t saturate, ctx.getInt("saturate", 1));
  KILN_ASSIGN_OR_RETURN(std::optional<DataType> outputType, typeAttr(ctx, "output_dtype"));
  KILN_ASSIGN_OR_RETURN(std::optional<DataType> precision, typeAttr(ctx, "precision"));
  KILN_ASSIGN_OR_RETURN(DataType xt, typeOf(ctx, x));
  KILN_ASSIGN_OR_RETURN(DataType st, typeOf(ctx, scale));
  if (!isComputeFloat(xt))
    return unsupported(std::string("x of type ") + dataTypeName(xt) +
                       " is not supported (f32, f16, bf16)");
  if (!isComputeFloat(st))
    return unsupported(std::string("y_scale of type ") + dataTypeName(st) +
                       " is not supported (f32, f16, bf16)");
  DataType yt = DataType::kUInt8;
  if (zp != kNoTensor) {
    KILN_ASSIGN_OR_RETURN(yt, typeOf(ctx, zp));
    if (outputType && *outputType != yt)
      return invalidModel(std::string("output_dtype ") + dataTypeName(*outputType) +
                          " disagrees with the zero point's type " + dataTypeName(yt));
  } else if (outputType) {
    yt = *outputType;
  }
  const std::optional<std::pair<double, double>> range = integerRange(yt);
  if (!range && !isNarrowFloatType(yt))
    return unsupported(std::string("quantizing to ") + dataTypeName(yt) + " is not supported");
  const DataType ct = precision ? *precision : st;
  if (!isComputeFloat(ct))
    return unsupported(std::string("precision ") + dataTypeName(ct) + " is not supported");

  // q = x / scale in the compute type, then float32.
  KILN_ASSIGN_OR_RETURN(TensorId xc, castTo(ctx, "x_compute", x, ct));
  KILN_ASSIGN_OR_RETURN(TensorId sc, castTo(ctx, "scale_compute", scale, ct));
  KILN_ASSIGN_OR_RETURN(sc, broadcastParam(ctx, "scale", sc, x, axis, blockSize));
  KILN_ASSIGN_OR_RETURN(TensorId q, binary(ctx, "scaled", ElementwiseKind::kDiv, xc, sc));
  if (range) {
    KILN_ASSIGN_OR_RETURN(q, ctx.addInternal("rounded", UnaryAttrs{UnaryKind::kRound}, {q}));
  }
  KILN_ASSIGN_OR_RETURN(q, castTo(ctx, "scaled_f32", q, DataType::kFloat32));
  if (zp != kNoTensor) {
    KILN_ASSIGN_OR_RETURN(TensorId zf, castTo(ctx, "zero_point_f32", zp, DataType::kFloat32));
    KILN_ASSIGN_OR_RETURN(zf, broadcastParam(ctx, "zero_point", zf, x, axis, blockSize));
    KILN_ASSIGN_OR_RETURN(q, binary(ctx, "shifted", ElementwiseKind::kAdd, q, zf));
  }
  CastAttrs out;
  out.to = yt;
  out.saturate = saturate != 0;
  if (range) {
    KILN_ASSIGN_OR_RETURN(q, clip(ctx, "saturated", q, *range));
    out.saturate = true;
  }
  return ctx.addOutputLayer(out, {q});
}

// DequantizeLinear(x, x_scale, x_zero_point?) -> y of the scale's type (or output_dtype).
Status importDequantizeLinear(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId scale, ctx.input(1));
  const TensorId zp = ctx.optionalInput(2);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", 1));
  KILN_ASSIGN_OR_RETURN(int64_t blockSize, blockSizeAttr(ctx));
  KILN_ASSIGN_OR_RETURN(std::optional<DataType> outputType, typeAttr(ctx, "output_dtype"));
  KILN_ASSIGN_OR_RETURN(DataType xt, typeOf(ctx, x));
  KILN_ASSIGN_OR_RETURN(DataType st, typeOf(ctx, scale));
  if (!integerRange(xt) && !isNarrowFloatType(xt) && xt != DataType::kInt32)
    return unsupported(std::string("dequantizing ") + dataTypeName(xt) + " is not supported");
  if (!isComputeFloat(st))
    return unsupported(std::string("x_scale of type ") + dataTypeName(st) +
                       " is not supported (f32, f16, bf16)");
  if (zp != kNoTensor) {
    KILN_ASSIGN_OR_RETURN(DataType zt, typeOf(ctx, zp));
    if (zt != xt)
      return invalidModel(std::string("x_zero_point of type ") + dataTypeName(zt) +
                          " must have the type of x (" + dataTypeName(xt) + ")");
  }
  const DataType yt = outputType ? *outputType : st;
  if (!isComputeFloat(yt))
    return unsupported(std::string("output_dtype ") + dataTypeName(yt) + " is not supported");
  // int32 values beyond 2^24 are not exact in float32: they are centered in float64.
  const DataType work = xt == DataType::kInt32 ? DataType::kFloat64 : DataType::kFloat32;
  KILN_ASSIGN_OR_RETURN(TensorId v, castTo(ctx, "x_float", x, work));
  if (zp != kNoTensor) {
    KILN_ASSIGN_OR_RETURN(TensorId zf, castTo(ctx, "zero_point_float", zp, work));
    KILN_ASSIGN_OR_RETURN(zf, broadcastParam(ctx, "zero_point", zf, x, axis, blockSize));
    KILN_ASSIGN_OR_RETURN(v, binary(ctx, "centered", ElementwiseKind::kSub, v, zf));
  }
  if (work != DataType::kFloat32) {
    KILN_ASSIGN_OR_RETURN(v, castTo(ctx, "centered_f32", v, DataType::kFloat32));
  }
  KILN_ASSIGN_OR_RETURN(TensorId sf, castTo(ctx, "scale_f32", scale, DataType::kFloat32));
  KILN_ASSIGN_OR_RETURN(sf, broadcastParam(ctx, "scale", sf, x, axis, blockSize));
  if (yt == DataType::kFloat32)
    return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kMul}, {v, sf});
  KILN_ASSIGN_OR_RETURN(TensorId y, binary(ctx, "scaled", ElementwiseKind::kMul, v, sf));
  CastAttrs out;
  out.to = yt;
  return ctx.addOutputLayer(out, {y});
}

// DynamicQuantizeLinear(x) -> y (uint8), y_scale, y_zero_point over the range of x with 0:
//   lo = min(0, min(x)), hi = max(0, max(x)), scale = (hi - lo) / 255,
//   zero_point = clip(round(-lo / scale), 0, 255), y = clip(round(x / scale) + zero_point, 0, 255).
Status importDynamicQuantizeLinear(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DataType xt, typeOf(ctx, x));
  if (xt != DataType::kFloat32)
    return unsupported(std::string("x of type ") + dataTypeName(xt) + " is not supported (f32)");
  ReduceAttrs all;
  all.keepDims = false;
  all.kind = ReduceKind::kMin;
  KILN_ASSIGN_OR_RETURN(TensorId mn, ctx.addInternal("min", all, {x}));
  all.kind = ReduceKind::kMax;
  KILN_ASSIGN_OR_RETURN(TensorId mx, ctx.addInternal("max", all, {x}));
  KILN_ASSIGN_OR_RETURN(TensorId zero, ctx.addScalarConstant("zero", 0.0, DataType::kFloat32));
  KILN_ASSIGN_OR_RETURN(TensorId qmax, ctx.addScalarConstant("qmax", 255.0, DataType::kFloat32));
  KILN_ASSIGN_OR_RETURN(TensorId lo, binary(ctx, "lo", ElementwiseKind::kMin, mn, zero));
  KILN_ASSIGN_OR_RETURN(TensorId hi, binary(ctx, "hi", ElementwiseKind::kMax, mx, zero));
  KILN_ASSIGN_OR_RETURN(TensorId span, binary(ctx, "span", ElementwiseKind::kSub, hi, lo));
  KILN_ASSIGN_OR_RETURN(TensorId scale, binary(ctx, "scale", ElementwiseKind::kDiv, span, qmax));
  KILN_ASSIGN_OR_RETURN(TensorId neg, binary(ctx, "neg_lo", ElementwiseKind::kSub, zero, lo));
  KILN_ASSIGN_OR_RETURN(TensorId zq, binary(ctx, "zero_scaled", ElementwiseKind::kDiv, neg, scale));
  KILN_ASSIGN_OR_RETURN(zq, clip(ctx, "zero_saturated", zq, {0.0, 255.0}));
  KILN_ASSIGN_OR_RETURN(zq, ctx.addInternal("zero_rounded", UnaryAttrs{UnaryKind::kRound}, {zq}));
  KILN_ASSIGN_OR_RETURN(TensorId q, binary(ctx, "scaled", ElementwiseKind::kDiv, x, scale));
  KILN_ASSIGN_OR_RETURN(q, ctx.addInternal("rounded", UnaryAttrs{UnaryKind::kRound}, {q}));
  KILN_ASSIGN_OR_RETURN(q, binary(ctx, "shifted", ElementwiseKind::kAdd, q, zq));
  KILN_ASSIGN_OR_RETURN(q, clip(ctx, "saturated", q, {0.0, 255.0}));
  KILN_ASSIGN_OR_RETURN(TensorId y, castTo(ctx, "quantized", q, DataType::kUInt8));
  KILN_ASSIGN_OR_RETURN(TensorId z, castTo(ctx, "zero_point", zq, DataType::kUInt8));
  KILN_RETURN_IF_ERROR(ctx.setOutput(0, y));
  if (ctx.numOutputs() > 1) KILN_RETURN_IF_ERROR(ctx.setOutput(1, scale));
  if (ctx.numOutputs() > 2) KILN_RETURN_IF_ERROR(ctx.setOutput(2, z));
  return Status::ok();
}

// MatMulInteger(A, B, a_zero_point?, b_zero_point?) -> int32 (A - a_zp) @ (B - b_zp), exact in
// float64 for 8-bit operands.
Status importMatMulInteger(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId b, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(TensorId ac, centered(ctx, "a", a, ctx.optionalInput(2), true));
  KILN_ASSIGN_OR_RETURN(TensorId bc, centered(ctx, "b", b, ctx.optionalInput(3), false));
  KILN_ASSIGN_OR_RETURN(TensorId c, ctx.addInternal("product", MatrixMultiplyAttrs{}, {ac, bc}));
  CastAttrs out;
  out.to = DataType::kInt32;
  return ctx.addOutputLayer(out, {c});
}

// QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) ->
// y = clip(round(((a - a_zp) @ (b - b_zp)) * (a_scale * b_scale / y_scale) + y_zp)): the scale
// ratio in the scales' type, the rest in float64.
Status importQLinearMatMul(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId as, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(TensorId b, ctx.input(3));
  KILN_ASSIGN_OR_RETURN(TensorId bs, ctx.input(4));
  KILN_ASSIGN_OR_RETURN(TensorId ys, ctx.input(6));
  const TensorId yzp = ctx.optionalInput(7);
  KILN_ASSIGN_OR_RETURN(DataType st, typeOf(ctx, as));
  for (TensorId s : {bs, ys}) {
    KILN_ASSIGN_OR_RETURN(DataType t, typeOf(ctx, s));
    if (t != st) return invalidModel("the scales must share one type");
  }
  if (!isComputeFloat(st))
    return unsupported(std::string("scales of type ") + dataTypeName(st) +
                       " are not supported (f32, f16, bf16)");
  KILN_ASSIGN_OR_RETURN(DataType yt, typeOf(ctx, yzp != kNoTensor ? yzp : a));
  const std::optional<std::pair<double, double>> range = integerRange(yt);
  if (yt != DataType::kInt8 && yt != DataType::kUInt8)
    return unsupported(std::string("output type ") + dataTypeName(yt) +
                       " is not supported (i8, u8)");
  KILN_ASSIGN_OR_RETURN(TensorId ac, centered(ctx, "a", a, ctx.optionalInput(2), true));
  KILN_ASSIGN_OR_RETURN(TensorId bc, centered(ctx, "b", b, ctx.optionalInput(5), false));
  KILN_ASSIGN_OR_RETURN(TensorId c, ctx.addInternal("product", MatrixMultiplyAttrs{}, {ac, bc}));
  KILN_ASSIGN_OR_RETURN(TensorId asr, perRowParam(ctx, "a_scale", as, true));
  KILN_ASSIGN_OR_RETURN(TensorId m, binary(ctx, "scale_ab", ElementwiseKind::kMul, asr, bs));
  KILN_ASSIGN_OR_RETURN(m, binary(ctx, "multiplier", ElementwiseKind::kDiv, m, ys));
  KILN_ASSIGN_OR_RETURN(m, castTo(ctx, "multiplier_f64", m, DataType::kFloat64));
  KILN_ASSIGN_OR_RETURN(TensorId d, binary(ctx, "scaled", ElementwiseKind::kMul, c, m));
  if (yzp != kNoTensor) {
    KILN_ASSIGN_OR_RETURN(TensorId z, castTo(ctx, "y_zero_point_f64", yzp, DataType::kFloat64));
    KILN_ASSIGN_OR_RETURN(d, binary(ctx, "shifted", ElementwiseKind::kAdd, d, z));
  }
  KILN_ASSIGN_OR_RETURN(d, ctx.addInternal("rounded", UnaryAttrs{UnaryKind::kRound}, {d}));
  KILN_ASSIGN_OR_RETURN(d, clip(ctx, "saturated", d, *range));
  CastAttrs out;
  out.to = yt;
  return ctx.addOutputLayer(out, {d});
}

}  // namespace kiln::onnx_import
