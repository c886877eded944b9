// kiln — shape inference for layers that move data without computing on it: Shuffle (reshape,
// squeeze, unsqueeze, flatten, transpose), Concatenation, Slice, Split, Expand and ShapeOf.
//
// Reached through inferOutputs(), which has already checked the number of inputs, the presence
// of required ones, and that param inputs are integer tensors. Param values may be symbolic
// (InferDesc::dimsInput): the formulas below work on Dims, so one formula serves symbolic
// builds and concrete runs.
#include <algorithm>
#include <optional>
#include <string>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

std::string dimsListString(const DimValues& v) {
  return shapeToString(v);
}

/// Values of the list-valued param input k (ONNX makes these 1-D; a scalar counts as one value).
Expected<DimValues> listParam(const InferDesc& desc, size_t k, const char* what) {
  if (!desc.hasInput(k))
    return layerError(
        desc, std::string(what) + " (input " + std::to_string(k) + ") is required but absent");
  if (desc.inputs[k].shape.size() > 1)
    return layerError(desc, std::string(what) + " (input " + std::to_string(k) +
                                ") must be 1-D, found dims " + shapeToString(desc.inputs[k].shape));
  return desc.dimsInput(k);
}

/// Integer values of the list-valued param input k, which must be known now.
Expected<std::vector<int64_t>> intListParam(const InferDesc& desc, size_t k, const char* what) {
  if (desc.inputs[k].shape.size() > 1)
    return layerError(desc, std::string(what) + " (input " + std::to_string(k) +
                                ") must be 1-D, found dims " + shapeToString(desc.inputs[k].shape));
  return desc.intsInput(k, what);
}

/// Normalizes each axis against `rank` and rejects repeats.
Expected<std::vector<int64_t>> normalizeAxes(const InferDesc& desc,
                                             const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
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

Dim product(const Shape& s, size_t begin, size_t end) {
  Dim v = 1;
  for (size_t i = begin; i < end && i < s.size(); ++i)
    v = v * s[i];
  return v;
}

Expected<Shape> reshapeShape(const InferDesc& desc, const Shape& in, bool allowZero) {
  KILN_ASSIGN_OR_RETURN(DimValues shape, listParam(desc, 1, "reshape shape"));
  Shape out = shape;
  int64_t inferred = -1;  // index of the -1 entry
  bool hasZero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const Dim& v = shape[i];
    if (!v.isStatic()) continue;  // a symbolic value is the dim itself
    if (v.value() == -1) {
      if (inferred >= 0)
        return layerError(desc, "reshape shape " + dimsListString(shape) + " has more than one -1");
      inferred = static_cast<int64_t>(i);
    } else if (v.value() < -1) {
      return layerError(
          desc, "reshape shape " + dimsListString(shape) + " has invalid value " + v.toString());
    } else if (v.value() == 0) {
      hasZero = true;
      if (allowZero) continue;
      if (i >= in.size())
        return layerError(desc, "reshape shape " + dimsListString(shape) + " has 0 at index " +
                                    std::to_string(i) + " (copy the input dim) but the input " +
                                    shapeToString(in) + " has rank " + std::to_string(in.size()));
      out[i] = in[i];
    }
  }
  const Dim total = product(in, 0, in.size());
  if (inferred >= 0) {
    if (allowZero && hasZero)
      return layerError(desc, "reshape shape " + dimsListString(shape) +
                                  " has both -1 and 0 while allow_zero is set");
    Dim known = 1;
    for (size_t i = 0; i < out.size(); ++i)
      if (static_cast<int64_t>(i) != inferred) known = known * out[i];
    if (known == 0 || (known.isStatic() && total.isStatic() && total.value() % known.value() != 0))
      return layerError(desc, "cannot reshape " + shapeToString(in) + " (" + total.toString() +
                                  " elements) to " + dimsListString(shape) +
                                  ": the -1 dim cannot be inferred");
    out[static_cast<size_t>(inferred)] = Dim::floorDiv(total, known);
  }
  const Dim outTotal = product(out, 0, out.size());
  if (Dim::provablyDifferent(outTotal, total))
    return layerError(desc, "cannot reshape " + shapeToString(in) + " (" + total.toString() +
                                " elements) to " + dimsListString(shape) + " = " +
                                shapeToString(out) + " (" + outTotal.toString() + " elements)");
  return out;
}

/// The number of axes of param input 1 when its values are not known when building, or nothing
/// when they are known (or the count is unknown too: then intListParam reports it).
std::optional<int64_t> unknownAxesCount(const InferDesc& desc) {
  if (!desc.hasInput(1) || desc.valuesKnown(1)) return std::nullopt;
  auto dims = staticDims(desc.inputs[1].shape);
  if (!dims || dims->size() > 1) return std::nullopt;
  return dims->empty() ? 1 : (*dims)[0];
}

Expected<Shape> squeezeShape(const InferDesc& desc, const Shape& in) {
  Shape out;
  if (auto n = unknownAxesCount(desc)) {
    // Axes that depend on data: the rank is known, the dims are not.
    if (*n > static_cast<int64_t>(in.size()))
      return layerError(desc, "squeeze has more axes than input dims");
    return Shape(in.size() - static_cast<size_t>(*n), InferDesc::opaque());
  }
  if (!desc.hasInput(1)) {  // no axes: drop every size-1 dim (symbolic dims are taken as > 1)
    for (const Dim& d : in)
      if (d != 1) out.push_back(d);
    return out;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> raw, intListParam(desc, 1, "squeeze axes"));
  const int64_t rank = static_cast<int64_t>(in.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalizeAxes(desc, raw, rank));
  std::vector<bool> drop(in.size(), false);
  for (int64_t a : axes) {
    if (Dim::provablyDifferent(in[static_cast<size_t>(a)], 1))
      return layerError(desc, "cannot squeeze axis " + std::to_string(a) + " of " +
                                  shapeToString(in) + ": its size is " +
                                  in[static_cast<size_t>(a)].toString() + ", not 1");
    drop[static_cast<size_t>(a)] = true;
  }
  for (size_t i = 0; i < in.size(); ++i)
    if (!drop[i]) out.push_back(in[i]);
  return out;
}

Expected<Shape> unsqueezeShape(const InferDesc& desc, const Shape& in) {
  if (!desc.hasInput(1)) return layerError(desc, "unsqueeze needs its axes (input 1)");
  if (auto n = unknownAxesCount(desc))  // axes that depend on data: the rank is known
    return Shape(in.size() + static_cast<size_t>(*n), InferDesc::opaque());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> raw, intListParam(desc, 1, "unsqueeze axes"));
  // Axes index the output, whose rank is known before the axes are resolved.
  const int64_t outRank = static_cast<int64_t>(in.size() + raw.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalizeAxes(desc, raw, outRank));
  std::vector<bool> inserted(static_cast<size_t>(outRank), false);
  for (int64_t a : axes)
    inserted[static_cast<size_t>(a)] = true;
  Shape out;
  size_t next = 0;
  for (size_t i = 0; i < inserted.size(); ++i)
    out.push_back(inserted[i] ? Dim(1) : in[next++]);
  return out;
}

Expected<Shape> flattenShape(const InferDesc& desc, const Shape& in, int64_t axis) {
  // ONNX Flatten accepts axis in [-r, r]: axis r gives [volume, 1].
  const int64_t rank = static_cast<int64_t>(in.size());
  if (axis < -rank || axis > rank)
    return layerError(desc, "flatten axis " + std::to_string(axis) + " is out of range for rank " +
                                std::to_string(rank) + " (expected [" + std::to_string(-rank) +
                                ", " + std::to_string(rank) + "])");
  if (axis < 0) axis += rank;
  return Shape{product(in, 0, static_cast<size_t>(axis)),
               product(in, static_cast<size_t>(axis), in.size())};
}

Expected<Shape> transposeShape(const InferDesc& desc, const Shape& in, std::vector<int64_t> perm) {
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
                                std::to_string(rank) + " dims of " + shapeToString(in));
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i)
    out[i] = in[static_cast<size_t>(perm[i])];
  return out;
}

/// Whether a dim is known to be negative (-1), non-negative (+1), or neither (0).
int signOf(const Dim& d) {
  DimRange r = d.bounds();
  return r.min >= 0 ? 1 : r.max < 0 ? -1 : 0;
}

/// Number of elements ONNX Slice takes along one axis of size `dim`.
Dim sliceCount(const Dim& dim, const Dim& rawStart, const Dim& rawEnd, int64_t step) {
  // ONNX: negative starts/ends count from the end; then clamp to [0, dim] for positive steps and
  // to [0, dim-1] (start) / [-1, dim-1] (end) for negative ones. INT64_MAX / INT64_MIN ends ("to
  // the end") fall out of the clamping; adding dim to a negative value cannot overflow.
  const int ss = signOf(rawStart), se = signOf(rawEnd);
  if (ss == 0 || se == 0) return InferDesc::opaque();
  const Dim start = ss < 0 ? rawStart + dim : rawStart;
  const Dim end = se < 0 ? rawEnd + dim : rawEnd;
  if (step > 0) {
    const Dim s = Dim::min(Dim::max(start, 0), dim), e = Dim::min(Dim::max(end, 0), dim);
    return Dim::max(Dim::ceilDiv(e - s, step), 0);
  }
  if (dim == 0) return 0;
  const Dim s = Dim::min(Dim::max(start, 0), dim - 1), e = Dim::min(Dim::max(end, -1), dim - 1);
  return Dim::max(Dim::ceilDiv(s - e, -step), 0);
}

}  // namespace

Expected<std::vector<TensorType>> inferShuffle(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<ShuffleAttrs>();
  const TensorType& x = desc.inputs[0];
  Expected<Shape> shape = internalError("unknown shuffle mode");
  switch (attrs.mode) {
    case ShuffleMode::kReshape:
      shape = reshapeShape(desc, x.shape, attrs.allowZero);
      break;
    case ShuffleMode::kSqueeze:
      shape = squeezeShape(desc, x.shape);
      break;
    case ShuffleMode::kUnsqueeze:
      shape = unsqueezeShape(desc, x.shape);
      break;
    case ShuffleMode::kFlatten:
      shape = flattenShape(desc, x.shape, attrs.axis);
      break;
    case ShuffleMode::kTranspose:
      shape = transposeShape(desc, x.shape, attrs.perm);
      break;
  }
  if (!shape) return shape.status();
  return std::vector<TensorType>{{x.dtype, std::move(shape).value()}};
}

Expected<std::vector<TensorType>> inferConcatenation(const InferDesc& desc) {
  const TensorType& first = desc.inputs[0];
  const int64_t rank = static_cast<int64_t>(first.shape.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(desc, desc.layer->as<ConcatenationAttrs>().axis, rank));
  Shape out = first.shape;
  for (size_t k = 1; k < desc.inputs.size(); ++k) {
    const TensorType& t = desc.inputs[k];
    if (t.dtype != first.dtype)
      return layerError(desc, "input " + std::to_string(k) + " has type " + dataTypeName(t.dtype) +
                                  " but input 0 has " + dataTypeName(first.dtype));
    bool same = t.shape.size() == first.shape.size();
    for (int64_t i = 0; same && i < rank; ++i)
      same = i == axis || !Dim::provablyDifferent(t.shape[static_cast<size_t>(i)],
                                                  first.shape[static_cast<size_t>(i)]);
    if (!same)
      return layerError(desc, "input " + std::to_string(k) + " " + shapeToString(t.shape) +
                                  " does not match input 0 " + shapeToString(first.shape) +
                                  " outside the concatenation axis " + std::to_string(axis));
    for (int64_t i = 0; i < rank; ++i) {
      Dim& o = out[static_cast<size_t>(i)];
      const Dim& d = t.shape[static_cast<size_t>(i)];
      if (i == axis)
        o = o + d;
      else if (!o.isStatic() && d.isStatic())
        o = d;  // the most precise of equal dims
    }
  }
  return std::vector<TensorType>{{first.dtype, std::move(out)}};
}

Expected<std::vector<TensorType>> inferSlice(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  KILN_ASSIGN_OR_RETURN(DimValues starts, listParam(desc, 1, "starts"));
  KILN_ASSIGN_OR_RETURN(DimValues ends, listParam(desc, 2, "ends"));
  const size_t n = starts.size();
  std::vector<int64_t> rawAxes;
  std::vector<Dim> steps(n, Dim(1));
  bool axesKnown = true;
  if (desc.hasInput(3)) {
    if (desc.valuesKnown(3)) {
      KILN_ASSIGN_OR_RETURN(rawAxes, intListParam(desc, 3, "axes"));
    } else {
      KILN_ASSIGN_OR_RETURN(DimValues a, listParam(desc, 3, "axes"));
      rawAxes.assign(a.size(), 0);
      axesKnown = false;
    }
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
  Shape out = x.shape;
  if (!axesKnown) {
    // Which axes are sliced depends on data: every dim may change.
    for (Dim& d : out)
      d = InferDesc::opaque();
    return std::vector<TensorType>{{x.dtype, std::move(out)}};
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalizeAxes(desc, rawAxes, rank));
  for (size_t i = 0; i < n; ++i) {
    const size_t axis = static_cast<size_t>(axes[i]);
    if (!steps[i].isStatic()) {
      out[axis] = InferDesc::opaque();
      continue;
    }
    const int64_t step = steps[i].value();
    if (step == 0)
      return layerError(desc, "slice step on axis " + std::to_string(axes[i]) + " is 0");
    out[axis] = sliceCount(x.shape[axis], starts[i], ends[i], step);
  }
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorType>> inferSplit(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<SplitAttrs>();
  const TensorType& x = desc.inputs[0];
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(desc, attrs.axis, static_cast<int64_t>(x.shape.size())));
  const Dim dim = x.shape[static_cast<size_t>(axis)];
  const int64_t parts = static_cast<int64_t>(desc.layer->outputs.size());
  if (parts < 1) return layerError(desc, "split needs at least one output tensor");
  DimValues sizes;
  if (desc.hasInput(1)) {
    KILN_ASSIGN_OR_RETURN(sizes, listParam(desc, 1, "split"));
    if (static_cast<int64_t>(sizes.size()) != parts)
      return layerError(desc, "split " + dimsListString(sizes) + " has " +
                                  std::to_string(sizes.size()) + " sizes but the layer has " +
                                  std::to_string(parts) + " outputs");
  } else {
    if (attrs.numOutputs != 0 && attrs.numOutputs != parts)
      return layerError(desc, "num_outputs is " + std::to_string(attrs.numOutputs) +
                                  " but the layer has " + std::to_string(parts) + " outputs");
    // ONNX opset 18: parts of ceil(dim / parts), the last one smaller.
    const Dim chunk = Dim::ceilDiv(dim, parts);
    sizes.assign(static_cast<size_t>(parts), chunk);
    sizes.back() = dim - chunk * (parts - 1);
    if (sizes.back().bounds().max < 0)
      return layerError(desc, "cannot split axis " + std::to_string(axis) + " of size " +
                                  dim.toString() + " into " + std::to_string(parts) +
                                  " parts of at most " + chunk.toString());
  }
  Dim sum = 0;
  for (const Dim& s : sizes) {
    if (s.bounds().max < 0)
      return layerError(desc, "split " + dimsListString(sizes) + " has a negative size");
    sum = sum + s;
  }
  if (Dim::provablyDifferent(sum, dim))
    return layerError(desc, "split sizes " + dimsListString(sizes) + " sum to " + sum.toString() +
                                " but axis " + std::to_string(axis) + " of " +
                                shapeToString(x.shape) + " has size " + dim.toString());
  std::vector<TensorType> outs;
  for (const Dim& s : sizes) {
    outs.push_back(x);
    outs.back().shape[static_cast<size_t>(axis)] = s;
  }
  return outs;
}

Expected<std::vector<TensorType>> inferExpand(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  KILN_ASSIGN_OR_RETURN(DimValues shape, listParam(desc, 1, "expand shape"));
  for (const Dim& d : shape)
    if (d.bounds().max < 0)
      return layerError(desc, "expand shape " + dimsListString(shape) + " has a negative dim");
  // ONNX Expand broadcasts both ways: a 1 in `shape` keeps x's dim.
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastShapes(desc, x.shape, shape));
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorType>> inferShapeOf(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<ShapeOfAttrs>();
  const int64_t rank = static_cast<int64_t>(desc.inputs[0].shape.size());
  auto clampToRank = [rank](int64_t v) {
    return std::clamp<int64_t>(v < 0 ? (v < -rank ? 0 : v + rank) : v, 0, rank);
  };
  const int64_t start = clampToRank(attrs.start), end = clampToRank(attrs.end);
  return std::vector<TensorType>{{DataType::kInt64, {Dim(std::max<int64_t>(end - start, 0))}}};
}

}  // namespace kiln
