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
Status checkBroadcastsTo(const LayerDesc& desc, const char* name, const TensorDesc& t,
                         const Dims& target) {
  auto merged = broadcastDims(desc, t.dims, target);
  if (!merged || *merged != target)
    return layerError(desc, std::string(name) + " " + dimsToString(t.dims) +
                                " does not broadcast to the normalized dims " +
                                dimsToString(target));
  return Status::ok();
}

/// Number of elements of Range(start, limit, delta): max(ceil((limit - start) / delta), 0), as
/// ONNX defines it (floats computed in the element type, narrower ones through float). Integers
/// go through 128 bits, where limit - start cannot wrap; a count above INT64_MAX, or whose bytes
/// do, is an error, as are non-finite float params and a zero delta.
Expected<int64_t> rangeCount(const LayerDesc& desc, DataType t) {
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

Expected<std::vector<TensorDesc>> inferConstant(const LayerDesc& desc) {
  const Weights& w = desc.layer->as<ConstantAttrs>().value;
  return std::vector<TensorDesc>{{w.dtype(), w.dims()}};
}

Expected<std::vector<TensorDesc>> inferReduce(const LayerDesc& desc) {
  const auto& attrs = desc.layer->as<ReduceAttrs>();
  const TensorDesc& x = desc.inputs[0];
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  std::vector<int64_t> axes;
  if (desc.hasInput(1)) {
    KILN_ASSIGN_OR_RETURN(axes, desc.intsInput(1));
  }
  // ONNX: absent or empty axes reduce every dim, unless noop_with_empty_axes makes it identity.
  if (axes.empty() && attrs.noopWithEmptyAxes) return std::vector<TensorDesc>{x};
  std::vector<bool> reduced(x.dims.size(), axes.empty());
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, normalizeAxis(desc, a, rank));
    if (reduced[static_cast<size_t>(n)])
      return layerError(desc,
                        "axis " + std::to_string(a) + " is repeated in axes " + dimsToString(axes));
    reduced[static_cast<size_t>(n)] = true;
  }
  Dims out;
  for (size_t i = 0; i < x.dims.size(); ++i) {
    if (!reduced[i])
      out.push_back(x.dims[i]);
    else if (attrs.keepDims)
      out.push_back(1);
  }
  return std::vector<TensorDesc>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorDesc>> inferSoftmax(const LayerDesc& desc) {
  const TensorDesc& x = desc.inputs[0];
  if (!isFloatType(x.dtype))
    return layerError(desc, std::string("softmax expects a floating-point input, found ") +
                                dataTypeName(x.dtype));
  KILN_RETURN_IF_ERROR(
      normalizeAxis(desc, desc.layer->as<SoftmaxAttrs>().axis, static_cast<int64_t>(x.dims.size()))
          .status());
  return std::vector<TensorDesc>{x};
}

Expected<std::vector<TensorDesc>> inferNormalization(const LayerDesc& desc) {
  const TensorDesc& x = desc.inputs[0];
  if (!isFloatType(x.dtype))
    return layerError(desc, std::string("normalization expects a floating-point input, found ") +
                                dataTypeName(x.dtype));
  KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc, desc.layer->as<NormalizationAttrs>().axis,
                                                    static_cast<int64_t>(x.dims.size())));
  const Dims normalized(x.dims.begin() + axis, x.dims.end());
  for (size_t k = 1; k < desc.inputs.size(); ++k) {
    if (!desc.hasInput(k)) continue;
    const char* name = k == 1 ? "scale" : "bias";
    const TensorDesc& t = desc.inputs[k];
    if (t.dtype != x.dtype)
      return layerError(desc, std::string(name) + " must have the type of x (" +
                                  dataTypeName(x.dtype) + "), found " + dataTypeName(t.dtype));
    KILN_RETURN_IF_ERROR(checkBroadcastsTo(desc, name, t, normalized));
  }
  return std::vector<TensorDesc>{x};
}

Expected<std::vector<TensorDesc>> inferGather(const LayerDesc& desc) {
  const auto& attrs = desc.layer->as<GatherAttrs>();
  const TensorDesc& data = desc.inputs[0];
  const TensorDesc& indices = desc.inputs[1];
  if (indices.dtype != DataType::kInt32 && indices.dtype != DataType::kInt64)
    return layerError(
        desc, std::string("indices must be i32 or i64, found ") + dataTypeName(indices.dtype));
  const int64_t r = static_cast<int64_t>(data.dims.size());
  const int64_t q = static_cast<int64_t>(indices.dims.size());
  switch (attrs.mode) {
    case GatherMode::kDefault: {
      // out = data[:axis] + indices + data[axis+1:]
      KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc, attrs.axis, r));
      Dims out(data.dims.begin(), data.dims.begin() + axis);
      out.insert(out.end(), indices.dims.begin(), indices.dims.end());
      out.insert(out.end(), data.dims.begin() + axis + 1, data.dims.end());
      return std::vector<TensorDesc>{{data.dtype, std::move(out)}};
    }
    case GatherMode::kElements: {
      KILN_RETURN_IF_ERROR(normalizeAxis(desc, attrs.axis, r).status());
      if (q != r)
        return layerError(desc, "gather elements needs indices " + dimsToString(indices.dims) +
                                    " of the rank of data " + dimsToString(data.dims));
      return std::vector<TensorDesc>{{data.dtype, indices.dims}};
    }
    case GatherMode::kND: {
      // ONNX GatherND: out = indices[:-1] + data[b + k:], k = indices[-1] in [1, r - b].
      const int64_t b = attrs.batchDims;
      if (r < 1 || q < 1)
        return layerError(desc, "gather nd needs data and indices of rank >= 1, found " +
                                    dimsToString(data.dims) + " and " + dimsToString(indices.dims));
      if (b < 0 || b >= std::min(q, r))
        return layerError(desc, "batch_dims " + std::to_string(b) +
                                    " must be in [0, min(rank(data), rank(indices))) = [0, " +
                                    std::to_string(std::min(q, r)) + ")");
      for (int64_t i = 0; i < b; ++i)
        if (data.dims[static_cast<size_t>(i)] != indices.dims[static_cast<size_t>(i)])
          return layerError(desc, "batch dim " + std::to_string(i) + " differs: data " +
                                      dimsToString(data.dims) + ", indices " +
                                      dimsToString(indices.dims));
      const int64_t k = indices.dims.back();
      if (k < 1 || k > r - b)
        return layerError(desc, "the last dim of indices " + dimsToString(indices.dims) +
                                    " must be in [1, " + std::to_string(r - b) + "], found " +
                                    std::to_string(k));
      Dims out(indices.dims.begin(), indices.dims.end() - 1);
      out.insert(out.end(), data.dims.begin() + b + k, data.dims.end());
      return std::vector<TensorDesc>{{data.dtype, std::move(out)}};
    }
  }
  return internalError("unknown gather mode");
}

Expected<std::vector<TensorDesc>> inferFill(const LayerDesc& desc) {
  const DataType t = desc.inputs[0].dtype;
  static const char* const kNames[] = {"start", "limit", "delta"};
  for (size_t k = 0; k < 3; ++k) {
    if (desc.inputs[k].dtype != t)
      return layerError(desc, std::string("start, limit and delta must have one type, found ") +
                                  dataTypeName(desc.inputs[0].dtype) + ", " +
                                  dataTypeName(desc.inputs[1].dtype) + ", " +
                                  dataTypeName(desc.inputs[2].dtype));
    if (volume(desc.inputs[k].dims) != 1 || desc.inputs[k].dims.size() > 1)
      return layerError(desc, std::string(kNames[k]) + " must be a scalar, found dims " +
                                  dimsToString(desc.inputs[k].dims));
  }
  if (t == DataType::kBool) return layerError(desc, "range over bool values is undefined");
  KILN_ASSIGN_OR_RETURN(int64_t count, rangeCount(desc, t));
  return std::vector<TensorDesc>{{t, {count}}};
}

Expected<std::vector<TensorDesc>> inferCumulative(const LayerDesc& desc) {
  const TensorDesc& x = desc.inputs[0];
  if (volume(desc.inputs[1].dims) != 1 || desc.inputs[1].dims.size() > 1)
    return layerError(
        desc, "axis (input 1) must be a scalar, found dims " + dimsToString(desc.inputs[1].dims));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axis, desc.intsInput(1));
  if (axis.size() != 1) return layerError(desc, "axis (input 1) must be one value");
  KILN_RETURN_IF_ERROR(normalizeAxis(desc, axis[0], static_cast<int64_t>(x.dims.size())).status());
  return std::vector<TensorDesc>{x};
}

}  // namespace kiln
