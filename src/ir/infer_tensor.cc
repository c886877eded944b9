// kiln — shape inference of the tensor and data-movement layers: Pad, Trilu.
#include <algorithm>
#include <string>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

/// Axes of `values` normalized against `rank`; error naming the layer on a repeat or an axis
/// out of range.
Expected<std::vector<int64_t>> uniqueAxes(const InferDesc& desc, const std::vector<int64_t>& axes,
                                          int64_t rank) {
  std::vector<int64_t> out;
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, normalizeAxis(desc, a, rank));
    if (std::find(out.begin(), out.end(), n) != out.end())
      return layerError(desc, "axis " + std::to_string(a) + " is repeated");
    out.push_back(n);
  }
  return out;
}

}  // namespace

Expected<std::vector<TensorType>> inferPad(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> axes;
  if (desc.hasInput(3)) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> given, desc.intsInput(3, "axes"));
    KILN_ASSIGN_OR_RETURN(axes, uniqueAxes(desc, given, rank));
  } else {
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  if (desc.inputs[1].shape.size() > 1)
    return layerError(
        desc, "pads (input 1) must be 1-D, found dims " + shapeToString(desc.inputs[1].shape));
  KILN_ASSIGN_OR_RETURN(DimValues pads, desc.dimsInput(1));
  const size_t n = axes.size();
  if (pads.size() != 2 * n)
    return layerError(desc, "pads (input 1) holds " + std::to_string(pads.size()) +
                                " values; expected 2 per padded axis (" + std::to_string(2 * n) +
                                ")");
  if (desc.hasInput(2)) {
    if (desc.inputs[2].dtype != x.dtype)
      return layerError(desc, std::string("the pad value (input 2) has dtype ") +
                                  dataTypeName(desc.inputs[2].dtype) + ", expected " +
                                  dataTypeName(x.dtype));
    auto dims = staticDims(desc.inputs[2].shape);
    if (dims && volume(*dims) != 1)
      return layerError(desc, "the pad value (input 2) must hold one element, found dims " +
                                  shapeToString(desc.inputs[2].shape));
  }
  Shape out = x.shape;
  for (size_t i = 0; i < n; ++i) {
    const size_t a = static_cast<size_t>(axes[i]);
    out[a] = x.shape[a] + pads[i] + pads[i + n];
    if (out[a].bounds().max < 0)
      return layerError(desc, "pads " + shapeToString(pads) + " crop axis " +
                                  std::to_string(axes[i]) + " of " + shapeToString(x.shape) +
                                  " below size 0");
  }
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorType>> inferTrilu(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  if (x.shape.size() < 2)
    return layerError(desc, "input must have rank >= 2, found " + shapeToString(x.shape));
  if (desc.hasInput(1)) {
    const Shape& k = desc.inputs[1].shape;
    if (!(k.empty() || (k.size() == 1 && k[0] == 1)))
      return layerError(desc, "k (input 1) must be a scalar, found dims " + shapeToString(k));
  }
  return std::vector<TensorType>{x};
}

}  // namespace kiln
