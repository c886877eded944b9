// kiln — shape inference for Constant, Reduce, Softmax, Normalization, Gather, Fill and
// Cumulative.
//
// Reached through inferOutputs(), which has already checked the number of inputs, the presence
// of required ones, and that param inputs are constants.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
         t == DataType::kFloat64;
}

/// Checks that `t` (input `name`) broadcasts to `target` one way: t's dims are 1 or equal to
/// target's, right-aligned, and t has no more dims than target.
Status checkBroadcastsTo(const InferDesc& desc, const char* name, const TensorType& t,
                         const Shape& target) {
  if (!mayBroadcastTo(t.shape, target))
    return layerError(desc, std::string(name) + " " + shapeToString(t.shape) +
                                " does not broadcast to the normalized dims " +
                                shapeToString(target));
  return Status::ok();
}

/// Number of elements of Range(start, limit, delta): max(ceil((limit - start) / delta), 0), as
/// ONNX defines it (floats computed in the element type, narrower ones through float). Integers
/// go through 128 bits, where limit - start cannot wrap; a count above INT64_MAX, or whose bytes
/// do, is an error, as are non-finite float params and a zero delta.
Expected<int64_t> rangeCount(const InferDesc& desc, DataType t) {
  static const char* const kNames[] = {"start", "limit", "delta"};
  constexpr double kTwoTo63 = 9223372036854775808.0;
  auto show = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return std::string(buf);
  };
  auto overflow = [&](const std::string& s, const std::string& l, const std::string& d) {
    return layerError(desc, "range output size overflows: start " + s + ", limit " + l +
                                ", delta " + d + " give more than 2^63 - 1 elements");
  };
  __int128 count = 0;
  if (isFloatType(t)) {
    double v[3];
    for (size_t k = 0; k < 3; ++k) {
      KILN_ASSIGN_OR_RETURN(std::vector<double> d, desc.constantInputs[k]->toDoubles());
      if (d.size() != 1) return layerError(desc, std::string(kNames[k]) + " must be one value");
      v[k] = d[0];
      if (!std::isfinite(v[k]))
        return layerError(desc, "range " + std::string(kNames[k]) + " is " + show(v[k]) +
                                    "; start, limit and delta must be finite");
    }
    if (v[2] == 0) return layerError(desc, "range delta is 0");
    const double n =
        t == DataType::kFloat64
            ? std::ceil((v[1] - v[0]) / v[2])
            : static_cast<double>(std::ceil((static_cast<float>(v[1]) - static_cast<float>(v[0])) /
                                            static_cast<float>(v[2])));
    if (!(n < kTwoTo63)) return overflow(show(v[0]), show(v[1]), show(v[2]));
    count = n > 0 ? static_cast<__int128>(n) : 0;
  } else {
    int64_t v[3];
    for (size_t k = 0; k < 3; ++k) {
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> d, desc.intsInput(k));
      if (d.size() != 1) return layerError(desc, std::string(kNames[k]) + " must be one value");
      v[k] = d[0];
    }
    if (v[2] == 0) return layerError(desc, "range delta is 0");
    const __int128 span = static_cast<__int128>(v[1]) - v[0];
    count = span / v[2];
    if (span % v[2] != 0 && ((span < 0) == (v[2] < 0))) ++count;
    if (count > INT64_MAX)
      return overflow(std::to_string(v[0]), std::to_string(v[1]), std::to_string(v[2]));
  }
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  if (!checkedMul(n, static_cast<int64_t>(dataTypeSize(t))))
    return layerError(desc, "range output size overflows: " + std::to_string(n) + " elements of " +
                                dataTypeName(t) + " take more than 2^63 bytes");
  return n;
}

}  // namespace

Expected<std::vector<TensorType>> inferConstant(const InferDesc& desc) {
  const Weights& w = desc.layer->as<ConstantAttrs>().value;
  return std::vector<TensorType>{{w.dtype(), shapeFromDims(w.dims())}};
}

Expected<std::vector<TensorType>> inferReduce(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<ReduceAttrs>();
  const TensorType& x = desc.inputs[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  // ArgMax / ArgMin give int64 indices.
  const DataType outType = attrs.kind == ReduceKind::kArgMax || attrs.kind == ReduceKind::kArgMin
                               ? DataType::kInt64
                               : x.dtype;
  std::vector<int64_t> axes;
  if (desc.hasInput(1)) {
    if (!desc.valuesKnown(1)) {
      // Axes that depend on data: the rank is known when the number of axes is, the dims are
      // not.
      auto count = staticDims(desc.inputs[1].shape);
      if (!count || count->size() > 1)
        return unsupported("layer '" + desc.name() +
                           "' (Reduce): axes that depend on data must be a 1-D tensor of known "
                           "length");
      const int64_t n = count->empty() ? 1 : (*count)[0];
      if (n == 0 && attrs.noopWithEmptyAxes) return std::vector<TensorType>{x};
      if (n > rank) return layerError(desc, "more axes than input dims");
      const int64_t outRank = attrs.keepDims ? rank : (n == 0 ? 0 : rank - n);
      return std::vector<TensorType>{
          {outType, Shape(static_cast<size_t>(outRank), InferDesc::opaque())}};
    }
    KILN_ASSIGN_OR_RETURN(axes, desc.intsInput(1, "axes"));
  }
  // ONNX: absent or empty axes reduce every dim, unless noop_with_empty_axes makes it identity.
  if (axes.empty() && attrs.noopWithEmptyAxes) return std::vector<TensorType>{x};
  std::vector<bool> reduced(x.shape.size(), axes.empty());
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, normalizeAxis(desc, a, rank));
    if (reduced[static_cast<size_t>(n)])
      return layerError(desc,
                        "axis " + std::to_string(a) + " is repeated in axes " + dimsToString(axes));
    reduced[static_cast<size_t>(n)] = true;
  }
  Shape out;
  for (size_t i = 0; i < x.shape.size(); ++i) {
    if (!reduced[i])
      out.push_back(x.shape[i]);
    else if (attrs.keepDims)
      out.push_back(1);
  }
  return std::vector<TensorType>{{outType, std::move(out)}};
}

Expected<std::vector<TensorType>> inferSoftmax(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  if (!isFloatType(x.dtype))
    return layerError(desc, std::string("softmax expects a floating-point input, found ") +
                                dataTypeName(x.dtype));
  KILN_RETURN_IF_ERROR(
      normalizeAxis(desc, desc.layer->as<SoftmaxAttrs>().axis, static_cast<int64_t>(x.shape.size()))
          .status());
  return std::vector<TensorType>{x};
}

Expected<std::vector<TensorType>> inferNormalization(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  if (!isFloatType(x.dtype))
    return layerError(desc, std::string("normalization expects a floating-point input, found ") +
                                dataTypeName(x.dtype));
  KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc, desc.layer->as<NormalizationAttrs>().axis,
                                                    static_cast<int64_t>(x.shape.size())));
  const Shape normalized(x.shape.begin() + axis, x.shape.end());
  for (size_t k = 1; k < desc.inputs.size(); ++k) {
    if (!desc.hasInput(k)) continue;
    const char* name = k == 1 ? "scale" : "bias";
    const TensorType& t = desc.inputs[k];
    if (t.dtype != x.dtype)
      return layerError(desc, std::string(name) + " must have the type of x (" +
                                  dataTypeName(x.dtype) + "), found " + dataTypeName(t.dtype));
    KILN_RETURN_IF_ERROR(checkBroadcastsTo(desc, name, t, normalized));
  }
  return std::vector<TensorType>{x};
}

Expected<std::vector<TensorType>> inferGather(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<GatherAttrs>();
  const TensorType& data = desc.inputs[0];
  const TensorType& indices = desc.inputs[1];
  if (indices.dtype != DataType::kInt32 && indices.dtype != DataType::kInt64)
    return layerError(
        desc, std::string("indices must be i32 or i64, found ") + dataTypeName(indices.dtype));
  const int64_t r = static_cast<int64_t>(data.shape.size());
  const int64_t q = static_cast<int64_t>(indices.shape.size());
  switch (attrs.mode) {
    case GatherMode::kDefault: {
      // out = data[:axis] + indices + data[axis+1:]
      KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc, attrs.axis, r));
      Shape out(data.shape.begin(), data.shape.begin() + axis);
      out.insert(out.end(), indices.shape.begin(), indices.shape.end());
      out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
      return std::vector<TensorType>{{data.dtype, std::move(out)}};
    }
    case GatherMode::kElements: {
      KILN_RETURN_IF_ERROR(normalizeAxis(desc, attrs.axis, r).status());
      if (q != r)
        return layerError(desc, "gather elements needs indices " + shapeToString(indices.shape) +
                                    " of the rank of data " + shapeToString(data.shape));
      return std::vector<TensorType>{{data.dtype, indices.shape}};
    }
    case GatherMode::kND: {
      // ONNX GatherND: out = indices[:-1] + data[b + k:], k = indices[-1] in [1, r - b].
      const int64_t b = attrs.batchDims;
      if (r < 1 || q < 1)
        return layerError(desc, "gather nd needs data and indices of rank >= 1, found " +
                                    shapeToString(data.shape) + " and " +
                                    shapeToString(indices.shape));
      if (b < 0 || b >= std::min(q, r))
        return layerError(desc, "batch_dims " + std::to_string(b) +
                                    " must be in [0, min(rank(data), rank(indices))) = [0, " +
                                    std::to_string(std::min(q, r)) + ")");
      for (int64_t i = 0; i < b; ++i)
        if (Dim::provablyDifferent(data.shape[static_cast<size_t>(i)],
                                   indices.shape[static_cast<size_t>(i)]))
          return layerError(desc, "batch dim " + std::to_string(i) + " differs: data " +
                                      shapeToString(data.shape) + ", indices " +
                                      shapeToString(indices.shape));
      const Dim& last = indices.shape.back();
      if (!last.isStatic())
        return unsupported("layer '" + desc.name() +
                           "' (Gather): the last dim of GatherND's indices must be known when "
                           "building, found " +
                           shapeToString(indices.shape));
      const int64_t k = last.value();
      if (k < 1 || k > r - b)
        return layerError(desc, "the last dim of indices " + shapeToString(indices.shape) +
                                    " must be in [1, " + std::to_string(r - b) + "], found " +
                                    std::to_string(k));
      Shape out(indices.shape.begin(), indices.shape.end() - 1);
      out.insert(out.end(), data.shape.begin() + b + k, data.shape.end());
      return std::vector<TensorType>{{data.dtype, std::move(out)}};
    }
  }
  return internalError("unknown gather mode");
}

/// Whether a tensor holds exactly one element (rank 0 or [1]).
static bool isScalarLike(const Shape& s) {
  return s.empty() || (s.size() == 1 && s[0] == 1);
}

Expected<std::vector<TensorType>> inferFill(const InferDesc& desc) {
  const DataType t = desc.inputs[0].dtype;
  static const char* const kNames[] = {"start", "limit", "delta"};
  for (size_t k = 0; k < 3; ++k) {
    if (desc.inputs[k].dtype != t)
      return layerError(desc, std::string("start, limit and delta must have one type, found ") +
                                  dataTypeName(desc.inputs[0].dtype) + ", " +
                                  dataTypeName(desc.inputs[1].dtype) + ", " +
                                  dataTypeName(desc.inputs[2].dtype));
    if (!isScalarLike(desc.inputs[k].shape))
      return layerError(desc, std::string(kNames[k]) + " must be a scalar, found dims " +
                                  shapeToString(desc.inputs[k].shape));
  }
  if (t == DataType::kBool) return layerError(desc, "range over bool values is undefined");
  bool known = true;
  for (size_t k = 0; k < 3; ++k)
    known = known && (isFloatType(t) ? desc.constantInputs[k] != nullptr : desc.valuesKnown(k));
  if (known) {
    KILN_ASSIGN_OR_RETURN(int64_t count, rangeCount(desc, t));
    return std::vector<TensorType>{{t, {Dim(count)}}};
  }
  if (isFloatType(t)) return std::vector<TensorType>{{t, {InferDesc::opaque()}}};
  // Symbolic integer params (shape arithmetic): count = max(ceil((limit - start) / delta), 0).
  Dim v[3];
  for (size_t k = 0; k < 3; ++k) {
    KILN_ASSIGN_OR_RETURN(DimValues d, desc.dimsInput(k));
    if (d.size() != 1) return layerError(desc, std::string(kNames[k]) + " must be one value");
    v[k] = d[0];
  }
  if (v[2] == 0) return layerError(desc, "range delta is 0");
  if (!v[2].isStatic()) return std::vector<TensorType>{{t, {InferDesc::opaque()}}};
  const Dim diff = v[1] - v[0];
  if (!diff.isKnown())
    return layerError(
        desc, "range output size overflows: from " + v[0].toString() + " to " + v[1].toString());
  return std::vector<TensorType>{{t, {Dim::max(Dim::ceilDiv(diff, v[2]), 0)}}};
}

Expected<std::vector<TensorType>> inferCumulative(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  if (!isScalarLike(desc.inputs[1].shape))
    return layerError(
        desc, "axis (input 1) must be a scalar, found dims " + shapeToString(desc.inputs[1].shape));
  if (!desc.valuesKnown(1)) return std::vector<TensorType>{x};  // checked when it is known
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axis, desc.intsInput(1, "axis"));
  if (axis.size() != 1) return layerError(desc, "axis (input 1) must be one value");
  KILN_RETURN_IF_ERROR(normalizeAxis(desc, axis[0], static_cast<int64_t>(x.shape.size())).status());
  return std::vector<TensorType>{x};
}

Expected<std::vector<TensorType>> inferSymbolicConstant(const InferDesc& desc) {
  const auto& a = desc.layer->as<SymbolicConstantAttrs>();
  auto count = elementCount(a.dims, desc.name());
  if (!count) return count.status();
  if (*count != static_cast<int64_t>(a.values.size()))
    return layerError(desc, "holds " + std::to_string(a.values.size()) + " values for dims " +
                                dimsToString(a.dims));
  if (a.dtype != DataType::kInt64 && a.dtype != DataType::kInt32)
    return layerError(
        desc, std::string("symbolic constants are i64 or i32, found ") + dataTypeName(a.dtype));
  return std::vector<TensorType>{{a.dtype, shapeFromDims(a.dims)}};
}

}  // namespace kiln
