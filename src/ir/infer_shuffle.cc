// kiln — shape inference for layers that move data without computing on it: Shuffle (reshape,
// squeeze, unsqueeze, flatten, transpose), Concatenation, Slice, Split, Expand and ShapeOf.
//
// Reached through inferOutputs(), which has already checked the number of inputs, the presence
// of required ones, and that param inputs are integer constants.
#include <algorithm>
#include <string>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

/// Values of the list-valued param input k (ONNX makes these 1-D; a scalar counts as one value).
Expected<std::vector<int64_t>> listParam(const LayerDesc& desc, size_t k, const char* what) {
  if (!desc.hasInput(k))
    return layerError(
        desc, std::string(what) + " (input " + std::to_string(k) + ") is required but absent");
  if (desc.inputs[k].dims.size() > 1)
    return layerError(desc, std::string(what) + " (input " + std::to_string(k) +
                                ") must be 1-D, found dims " + dimsToString(desc.inputs[k].dims));
  return desc.intsInput(k);
}

/// Normalizes each axis against `rank` and rejects repeats.
Expected<std::vector<int64_t>> normalizeAxes(const LayerDesc& desc,
                                             const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, normalizeAxis(desc, a, rank));
    if (seen[static_cast<size_t>(n)])
      return layerError(desc,
                        "axis " + std::to_string(a) + " is repeated in axes " + dimsToString(axes));
    seen[static_cast<size_t>(n)] = true;
    out.push_back(n);
  }
  return out;
}

Expected<Dims> reshapeDims(const LayerDesc& desc, const Dims& in, bool allowZero) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, listParam(desc, 1, "reshape shape"));
  Dims out = shape;
  int64_t inferred = -1;  // index of the -1 entry
  bool hasZero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t v = shape[i];
    if (v == -1) {
      if (inferred >= 0)
        return layerError(desc, "reshape shape " + dimsToString(shape) + " has more than one -1");
      inferred = static_cast<int64_t>(i);
    } else if (v < -1) {
      return layerError(
          desc, "reshape shape " + dimsToString(shape) + " has invalid value " + std::to_string(v));
    } else if (v == 0) {
      hasZero = true;
      if (allowZero) continue;
      if (i >= in.size())
        return layerError(desc, "reshape shape " + dimsToString(shape) + " has 0 at index " +
                                    std::to_string(i) + " (copy the input dim) but the input " +
                                    dimsToString(in) + " has rank " + std::to_string(in.size()));
      out[i] = in[i];
    }
  }
  const int64_t total = volume(in);
  if (inferred >= 0) {
    if (allowZero && hasZero)
      return layerError(desc, "reshape shape " + dimsToString(shape) +
                                  " has both -1 and 0 while allow_zero is set");
    Dims rest = out;  // the shape values come from a file: their product is checked
    rest[static_cast<size_t>(inferred)] = 1;
    const auto restCount = elementCount(rest, "reshape shape");
    const int64_t known = restCount ? *restCount : 0;
    if (known == 0 || total % known != 0)
      return layerError(desc, "cannot reshape " + dimsToString(in) + " (" + std::to_string(total) +
                                  " elements) to " + dimsToString(shape) +
                                  ": the -1 dim cannot be inferred");
    out[static_cast<size_t>(inferred)] = total / known;
  }
  const auto count = elementCount(out, "reshape shape");
  if (!count || *count != total)
    return layerError(desc, "cannot reshape " + dimsToString(in) + " (" + std::to_string(total) +
                                " elements) to " + dimsToString(shape) + " = " + dimsToString(out) +
                                " (" + (count ? std::to_string(*count) : "too many") +
                                " elements)");
  return out;
}

Expected<Dims> squeezeDims(const LayerDesc& desc, const Dims& in) {
  Dims out;
  if (!desc.hasInput(1)) {  // no axes: drop every size-1 dim
    for (int64_t d : in)
      if (d != 1) out.push_back(d);
    return out;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> raw, listParam(desc, 1, "squeeze axes"));
  const int64_t rank = static_cast<int64_t>(in.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalizeAxes(desc, raw, rank));
  std::vector<bool> drop(in.size(), false);
  for (int64_t a : axes) {
    if (in[static_cast<size_t>(a)] != 1)
      return layerError(desc, "cannot squeeze axis " + std::to_string(a) + " of " +
                                  dimsToString(in) + ": its size is " +
                                  std::to_string(in[static_cast<size_t>(a)]) + ", not 1");
    drop[static_cast<size_t>(a)] = true;
  }
  for (size_t i = 0; i < in.size(); ++i)
    if (!drop[i]) out.push_back(in[i]);
  return out;
}

Expected<Dims> unsqueezeDims(const LayerDesc& desc, const Dims& in) {
  if (!desc.hasInput(1)) return layerError(desc, "unsqueeze needs its axes (input 1)");
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> raw, listParam(desc, 1, "unsqueeze axes"));
  // Axes index the output, whose rank is known before the axes are resolved.
  const int64_t outRank = static_cast<int64_t>(in.size() + raw.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalizeAxes(desc, raw, outRank));
  std::vector<bool> inserted(static_cast<size_t>(outRank), false);
  for (int64_t a : axes)
    inserted[static_cast<size_t>(a)] = true;
  Dims out;
  size_t next = 0;
  for (size_t i = 0; i < inserted.size(); ++i)
    out.push_back(inserted[i] ? 1 : in[next++]);
  return out;
}

Expected<Dims> flattenDims(const LayerDesc& desc, const Dims& in, int64_t axis) {
  // ONNX Flatten accepts axis in [-r, r]: axis r gives [volume, 1].
  const int64_t rank = static_cast<int64_t>(in.size());
  if (axis < -rank || axis > rank)
    return layerError(desc, "flatten axis " + std::to_string(axis) + " is out of range for rank " +
                                std::to_string(rank) + " (expected [" + std::to_string(-rank) +
                                ", " + std::to_string(rank) + "])");
  if (axis < 0) axis += rank;
  const Dims outer(in.begin(), in.begin() + axis), inner(in.begin() + axis, in.end());
  return Dims{volume(outer), volume(inner)};
}

Expected<Dims> transposeDims(const LayerDesc& desc, const Dims& in, std::vector<int64_t> perm) {
  const size_t rank = in.size();
  if (perm.empty())
    for (size_t i = 0; i < rank; ++i)
      perm.push_back(static_cast<int64_t>(rank - 1 - i));
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank;
  for (size_t i = 0; valid && i < perm.size(); ++i) {
    valid =
        perm[i] >= 0 && perm[i] < static_cast<int64_t>(rank) && !seen[static_cast<size_t>(perm[i])];
    if (valid) seen[static_cast<size_t>(perm[i])] = true;
  }
  if (!valid)
    return layerError(desc, "perm " + dimsToString(perm) + " is not a permutation of the " +
                                std::to_string(rank) + " dims of " + dimsToString(in));
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i)
    out[i] = in[static_cast<size_t>(perm[i])];
  return out;
}

}  // namespace

Expected<std::vector<TensorDesc>> inferShuffle(const LayerDesc& desc) {
  const auto& attrs = desc.layer->as<ShuffleAttrs>();
  const TensorDesc& x = desc.inputs[0];
  Expected<Dims> dims = internalError("unknown shuffle mode");
  switch (attrs.mode) {
    case ShuffleMode::kReshape:
      dims = reshapeDims(desc, x.dims, attrs.allowZero);
      break;
    case ShuffleMode::kSqueeze:
      dims = squeezeDims(desc, x.dims);
      break;
    case ShuffleMode::kUnsqueeze:
      dims = unsqueezeDims(desc, x.dims);
      break;
    case ShuffleMode::kFlatten:
      dims = flattenDims(desc, x.dims, attrs.axis);
      break;
    case ShuffleMode::kTranspose:
      dims = transposeDims(desc, x.dims, attrs.perm);
      break;
  }
  if (!dims) return dims.status();
  return std::vector<TensorDesc>{{x.dtype, std::move(dims).value()}};
}

Expected<std::vector<TensorDesc>> inferConcatenation(const LayerDesc& desc) {
  const TensorDesc& first = desc.inputs[0];
  const int64_t rank = static_cast<int64_t>(first.dims.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(desc, desc.layer->as<ConcatenationAttrs>().axis, rank));
  Dims out = first.dims;
  for (size_t k = 1; k < desc.inputs.size(); ++k) {
    const TensorDesc& t = desc.inputs[k];
    if (t.dtype != first.dtype)
      return layerError(desc, "input " + std::to_string(k) + " has type " + dataTypeName(t.dtype) +
                                  " but input 0 has " + dataTypeName(first.dtype));
    bool same = t.dims.size() == first.dims.size();
    for (int64_t i = 0; same && i < rank; ++i)
      same = i == axis || t.dims[static_cast<size_t>(i)] == first.dims[static_cast<size_t>(i)];
    if (!same)
      return layerError(desc, "input " + std::to_string(k) + " " + dimsToString(t.dims) +
                                  " does not match input 0 " + dimsToString(first.dims) +
                                  " outside the concatenation axis " + std::to_string(axis));
    out[static_cast<size_t>(axis)] += t.dims[static_cast<size_t>(axis)];
  }
  return std::vector<TensorDesc>{{first.dtype, std::move(out)}};
}

Expected<std::vector<TensorDesc>> inferSlice(const LayerDesc& desc) {
  const TensorDesc& x = desc.inputs[0];
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> starts, listParam(desc, 1, "starts"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ends, listParam(desc, 2, "ends"));
  const size_t n = starts.size();
  std::vector<int64_t> rawAxes, steps(n, 1);
  if (desc.hasInput(3)) {
    KILN_ASSIGN_OR_RETURN(rawAxes, listParam(desc, 3, "axes"));
  } else {
    for (size_t i = 0; i < n; ++i)
      rawAxes.push_back(static_cast<int64_t>(i));
  }
  if (desc.hasInput(4)) {
    KILN_ASSIGN_OR_RETURN(steps, listParam(desc, 4, "steps"));
  }
  if (ends.size() != n || rawAxes.size() != n || steps.size() != n)
    return layerError(desc, "starts, ends, axes and steps must have one length, found " +
                                std::to_string(n) + ", " + std::to_string(ends.size()) + ", " +
                                std::to_string(rawAxes.size()) + ", " +
                                std::to_string(steps.size()));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalizeAxes(desc, rawAxes, rank));
  Dims out = x.dims;
  for (size_t i = 0; i < n; ++i) {
    const int64_t dim = x.dims[static_cast<size_t>(axes[i])], step = steps[i];
    if (step == 0)
      return layerError(desc, "slice step on axis " + std::to_string(axes[i]) + " is 0");
    // ONNX: negative starts/ends count from the end; then clamp to [0, dim] for positive steps
    // and to [0, dim-1] (start) / [-1, dim-1] (end) for negative ones. INT64_MAX / INT64_MIN
    // ends ("to the end") fall out of the clamping; adding dim to a negative value cannot
    // overflow.
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = end > start ? (end - start + step - 1) / step : 0;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      count = start > end ? (start - end - step - 1) / -step : 0;
    }
    out[static_cast<size_t>(axes[i])] = count;
  }
  return std::vector<TensorDesc>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorDesc>> inferSplit(const LayerDesc& desc) {
  const auto& attrs = desc.layer->as<SplitAttrs>();
  const TensorDesc& x = desc.inputs[0];
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(desc, attrs.axis, static_cast<int64_t>(x.dims.size())));
  const int64_t dim = x.dims[static_cast<size_t>(axis)];
  const int64_t parts = static_cast<int64_t>(desc.layer->outputs.size());
  if (parts < 1) return layerError(desc, "split needs at least one output tensor");
  std::vector<int64_t> sizes;
  if (desc.hasInput(1)) {
    KILN_ASSIGN_OR_RETURN(sizes, listParam(desc, 1, "split"));
    if (static_cast<int64_t>(sizes.size()) != parts)
      return layerError(desc, "split " + dimsToString(sizes) + " has " +
                                  std::to_string(sizes.size()) + " sizes but the layer has " +
                                  std::to_string(parts) + " outputs");
  } else {
    if (attrs.numOutputs != 0 && attrs.numOutputs != parts)
      return layerError(desc, "num_outputs is " + std::to_string(attrs.numOutputs) +
                                  " but the layer has " + std::to_string(parts) + " outputs");
    // ONNX opset 18: parts of ceil(dim / parts), the last one smaller.
    const int64_t chunk = (dim + parts - 1) / parts;
    sizes.assign(static_cast<size_t>(parts), chunk);
    sizes.back() = dim - chunk * (parts - 1);
    if (sizes.back() < 0)
      return layerError(desc, "cannot split axis " + std::to_string(axis) + " of size " +
                                  std::to_string(dim) + " into " + std::to_string(parts) +
                                  " parts of at most " + std::to_string(chunk));
  }
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) return layerError(desc, "split " + dimsToString(sizes) + " has a negative size");
    sum += s;
  }
  if (sum != dim)
    return layerError(desc, "split sizes " + dimsToString(sizes) + " sum to " +
                                std::to_string(sum) + " but axis " + std::to_string(axis) + " of " +
                                dimsToString(x.dims) + " has size " + std::to_string(dim));
  std::vector<TensorDesc> outs;
  for (int64_t s : sizes) {
    outs.push_back(x);
    outs.back().dims[static_cast<size_t>(axis)] = s;
  }
  return outs;
}

Expected<std::vector<TensorDesc>> inferExpand(const LayerDesc& desc) {
  const TensorDesc& x = desc.inputs[0];
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, listParam(desc, 1, "expand shape"));
  for (int64_t d : shape)
    if (d < 0)
      return layerError(desc, "expand shape " + dimsToString(shape) + " has a negative dim");
  // ONNX Expand broadcasts both ways: a 1 in `shape` keeps x's dim.
  KILN_ASSIGN_OR_RETURN(Dims out, broadcastDims(desc, x.dims, shape));
  return std::vector<TensorDesc>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorDesc>> inferShapeOf(const LayerDesc& desc) {
  const auto& attrs = desc.layer->as<ShapeOfAttrs>();
  const int64_t rank = static_cast<int64_t>(desc.inputs[0].dims.size());
  auto clampToRank = [rank](int64_t v) {
    return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank);
  };
  const int64_t start = clampToRank(attrs.start), end = clampToRank(attrs.end);
  return std::vector<TensorDesc>{{DataType::kInt64, {std::max<int64_t>(end - start, 0)}}};
}

}  // namespace kiln
