// kiln — shape inference of the resampling layers: Resize, GridSample, AffineGrid.
#include <algorithm>
#include <cmath>
#include <string>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

/// Largest output dim a Resize may produce: far above any real tensor, low enough that a
/// double holds it exactly.
constexpr double kMaxResizeDim = 9007199254740992.0;  // 2^53

/// The resized axes of a rank-`rank` input, normalized: `axes` (empty: every axis).
Expected<std::vector<int64_t>> resizedAxes(const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i)
      out.push_back(i);
    return out;
  }
  for (int64_t a : axes) {
    const int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank)
      return invalidModel("axis " + std::to_string(a) + " is out of range for rank " +
                          std::to_string(rank));
    if (std::find(out.begin(), out.end(), n) != out.end())
      return invalidModel("axis " + std::to_string(a) + " is repeated");
    out.push_back(n);
  }
  return out;
}

std::string doubleText(double v) {
  std::string s = std::to_string(v);
  return s;
}

/// Whether input k of a Resize is present with at least one element (an empty roi, scales or
/// sizes tensor means "absent" in ONNX).
bool nonEmptyInput(const InferDesc& desc, size_t k) {
  if (!desc.hasInput(k)) return false;
  auto dims = staticDims(desc.inputs[k].shape);
  return !dims || volume(*dims) != 0;
}

}  // namespace

Expected<ResizeGeometry> resolveResize(const ResizeAttrs& attrs, const Dims& input,
                                       const std::vector<double>* roi,
                                       const std::vector<double>* scales,
                                       const std::vector<int64_t>* sizes) {
  const int64_t rank = static_cast<int64_t>(input.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, resizedAxes(attrs.axes, rank));
  const size_t n = axes.size();
  if (scales && scales->empty()) scales = nullptr;
  if (sizes && sizes->empty()) sizes = nullptr;
  if (roi && roi->empty()) roi = nullptr;
  if ((scales == nullptr) == (sizes == nullptr))
    return invalidModel(scales ? "both scales and sizes are given; expected exactly one"
                               : "neither scales nor sizes is given; expected exactly one");
  const size_t given = scales ? scales->size() : sizes->size();
  if (given != n)
    return invalidModel(std::string(scales ? "scales" : "sizes") + " holds " +
                        std::to_string(given) + " values; expected one per resized axis (" +
                        std::to_string(n) + ")");
  ResizeGeometry g;
  g.output = input;
  g.scales.assign(input.size(), 1.0);
  g.roiStart.assign(input.size(), 0.0);
  g.roiEnd.assign(input.size(), 1.0);
  if (scales) {
    if (attrs.aspectRatioPolicy != AspectRatioPolicy::kStretch)
      return invalidModel(std::string("keep_aspect_ratio_policy ") +
                          enumName(attrs.aspectRatioPolicy) + " applies to sizes, not scales");
    for (size_t i = 0; i < n; ++i) {
      const double s = (*scales)[i];
      const size_t a = static_cast<size_t>(axes[i]);
      if (!std::isfinite(s) || s <= 0)
        return invalidModel("scale " + doubleText(s) + " of axis " + std::to_string(axes[i]) +
                            " must be finite and positive");
      const double out = std::floor(static_cast<double>(input[a]) * s);
      if (!(out <= kMaxResizeDim))
        return invalidModel("scale " + doubleText(s) + " makes axis " + std::to_string(axes[i]) +
                            " of size " + std::to_string(input[a]) + " too large");
      g.output[a] = static_cast<int64_t>(out);
      g.scales[a] = s;
    }
  } else {
    for (size_t i = 0; i < n; ++i)
      if ((*sizes)[i] < 0)
        return invalidModel("size " + std::to_string((*sizes)[i]) + " of axis " +
                            std::to_string(axes[i]) + " is negative");
    if (attrs.aspectRatioPolicy == AspectRatioPolicy::kStretch) {
      for (size_t i = 0; i < n; ++i) {
        const size_t a = static_cast<size_t>(axes[i]);
        g.output[a] = (*sizes)[i];
        g.scales[a] =
            input[a] == 0 ? 1.0 : static_cast<double>((*sizes)[i]) / static_cast<double>(input[a]);
      }
    } else {
      // One scale for every resized axis: the smallest (not_larger) or largest (not_smaller)
      // ratio; the output dims are scale * input rounded half up.
      double scale = 0;
      for (size_t i = 0; i < n; ++i) {
        const size_t a = static_cast<size_t>(axes[i]);
        if (input[a] == 0)
          return invalidModel("keep_aspect_ratio_policy " +
                              std::string(enumName(attrs.aspectRatioPolicy)) +
                              " cannot scale axis " + std::to_string(axes[i]) + " of size 0");
        const double r = static_cast<double>((*sizes)[i]) / static_cast<double>(input[a]);
        if (i == 0)
          scale = r;
        else
          scale = attrs.aspectRatioPolicy == AspectRatioPolicy::kNotLarger ? std::min(scale, r)
                                                                           : std::max(scale, r);
      }
      for (size_t i = 0; i < n; ++i) {
        const size_t a = static_cast<size_t>(axes[i]);
        const double out = std::floor(scale * static_cast<double>(input[a]) + 0.5);
        if (!(out <= kMaxResizeDim))
          return invalidModel("sizes make axis " + std::to_string(axes[i]) + " too large");
        g.output[a] = static_cast<int64_t>(out);
        g.scales[a] = scale;
      }
    }
  }
  for (size_t a = 0; a < input.size(); ++a)
    if (input[a] == 0 && g.output[a] != 0)
      return invalidModel("cannot resize axis " + std::to_string(a) + " of size 0 to " +
                          std::to_string(g.output[a]));
  if (attrs.coordinates == ResizeCoordinates::kTfCropAndResize && roi) {
    if (roi->size() != 2 * n)
      return invalidModel("roi holds " + std::to_string(roi->size()) +
                          " values; expected 2 per resized axis (" + std::to_string(2 * n) + ")");
    for (size_t i = 0; i < n; ++i) {
      const size_t a = static_cast<size_t>(axes[i]);
      g.roiStart[a] = (*roi)[i];
      g.roiEnd[a] = (*roi)[i + n];
      if (!std::isfinite(g.roiStart[a]) || !std::isfinite(g.roiEnd[a]))
        return invalidModel("roi of axis " + std::to_string(axes[i]) + " is not finite");
    }
  }
  KILN_RETURN_IF_ERROR(elementCount(g.output, "the Resize output").status());
  return g;
}

Expected<std::vector<TensorType>> inferResize(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  const auto& a = desc.layer->as<ResizeAttrs>();
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) return layerError(desc, "cannot resize a scalar");
  auto axes = resizedAxes(a.axes, rank);
  if (!axes) return layerError(desc, axes.status().message());
  const bool hasScales = nonEmptyInput(desc, 2), hasSizes = nonEmptyInput(desc, 3);
  if (hasScales == hasSizes)
    return layerError(desc, hasScales ? "both scales (input 2) and sizes (input 3) are given; "
                                        "expected exactly one"
                                      : "neither scales (input 2) nor sizes (input 3) is given; "
                                        "expected exactly one");
  for (size_t k = 1; k <= 3; ++k) {
    if (!desc.hasInput(k)) continue;
    if (desc.inputs[k].shape.size() != 1)
      return layerError(desc, "input " + std::to_string(k) + " must be 1-D, found dims " +
                                  shapeToString(desc.inputs[k].shape));
  }
  if (hasSizes && desc.inputs[3].dtype != DataType::kInt64)
    return layerError(desc, std::string("sizes (input 3) must be int64, found ") +
                                dataTypeName(desc.inputs[3].dtype));
  // Concrete when the input dims and the values deciding the output are known.
  const size_t k = hasScales ? 2 : 3;
  auto dims = staticDims(x.shape);
  const Weights* w = desc.constantInputs[k];
  if (dims && w) {
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    if (hasScales) {
      KILN_ASSIGN_OR_RETURN(scales, w->toDoubles());
    } else {
      KILN_ASSIGN_OR_RETURN(sizes, w->toInts());
    }
    auto g = resolveResize(a, *dims, nullptr, hasScales ? &scales : nullptr,
                           hasSizes ? &sizes : nullptr);
    if (!g) return layerError(desc, g.status().message());
    return std::vector<TensorType>{{x.dtype, shapeFromDims(g->output)}};
  }
  // Symbolic: sizes (stretched) are the output dims; integer scales multiply the input dims;
  // anything else is known when the input shapes are set.
  Shape out = x.shape;
  if (hasSizes && a.aspectRatioPolicy == AspectRatioPolicy::kStretch) {
    KILN_ASSIGN_OR_RETURN(DimValues sizes, desc.dimsInput(3));
    if (sizes.size() != axes->size())
      return layerError(desc, "sizes (input 3) holds " + std::to_string(sizes.size()) +
                                  " values; expected one per resized axis (" +
                                  std::to_string(axes->size()) + ")");
    for (size_t i = 0; i < axes->size(); ++i)
      out[static_cast<size_t>((*axes)[i])] = sizes[i];
    return std::vector<TensorType>{{x.dtype, std::move(out)}};
  }
  std::vector<double> scales;
  if (hasScales && w) {
    KILN_ASSIGN_OR_RETURN(scales, w->toDoubles());
    if (scales.size() != axes->size())
      return layerError(desc, "scales (input 2) holds " + std::to_string(scales.size()) +
                                  " values; expected one per resized axis (" +
                                  std::to_string(axes->size()) + ")");
  }
  for (size_t i = 0; i < axes->size(); ++i) {
    const size_t ax = static_cast<size_t>((*axes)[i]);
    const bool integral = i < scales.size() && scales[i] >= 1 && scales[i] <= 1024 &&
                          scales[i] == std::floor(scales[i]);
    out[ax] = integral ? x.shape[ax] * Dim(static_cast<int64_t>(scales[i])) : InferDesc::opaque();
  }
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

}  // namespace kiln

namespace kiln {
namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

/// DimValues as text, for messages.
std::string valuesText(const DimValues& v) {
  return shapeToString(Shape(v.begin(), v.end()));
}

}  // namespace

Expected<std::vector<TensorType>> inferGridSample(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  const TensorType& grid = desc.inputs[1];
  const size_t rank = x.shape.size();
  if (rank < 3)
    return layerError(desc, "x (input 0) must have rank >= 3 (N, C, spatial...), found " +
                                shapeToString(x.shape));
  const size_t r = rank - 2;
  if (grid.shape.size() != rank)
    return layerError(desc, "grid (input 1) must have rank " + std::to_string(rank) +
                                " (N, spatial..., " + std::to_string(r) + "), found " +
                                shapeToString(grid.shape));
  if (Dim::provablyDifferent(grid.shape.back(), Dim(static_cast<int64_t>(r))))
    return layerError(desc, "the last dim of grid " + shapeToString(grid.shape) + " must be " +
                                std::to_string(r) + ", one coordinate per spatial dim");
  if (Dim::provablyDifferent(grid.shape[0], x.shape[0]))
    return layerError(desc, "grid " + shapeToString(grid.shape) + " and x " +
                                shapeToString(x.shape) + " differ in the batch dim");
  if (!isFloatType(x.dtype) || !isFloatType(grid.dtype))
    return layerError(desc, std::string("x and grid must be floating point, found ") +
                                dataTypeName(x.dtype) + " and " + dataTypeName(grid.dtype));
  Shape out = {x.shape[0], x.shape[1]};
  for (size_t i = 0; i < r; ++i)
    out.push_back(grid.shape[1 + i]);
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorType>> inferAffineGrid(const InferDesc& desc) {
  const TensorType& theta = desc.inputs[0];
  if (theta.shape.size() != 3)
    return layerError(desc, "theta (input 0) must be [N, 2, 3] or [N, 3, 4], found " +
                                shapeToString(theta.shape));
  if (desc.inputs[1].shape.size() != 1)
    return layerError(
        desc, "size (input 1) must be 1-D, found dims " + shapeToString(desc.inputs[1].shape));
  KILN_ASSIGN_OR_RETURN(DimValues size, desc.dimsInput(1));
  if (size.size() != 4 && size.size() != 5)
    return layerError(desc, "size (input 1) holds " + std::to_string(size.size()) +
                                " values; expected 4 (N, C, H, W) or 5 (N, C, D, H, W)");
  const int64_t r = static_cast<int64_t>(size.size()) - 2;
  if (Dim::provablyDifferent(theta.shape[1], Dim(r)) ||
      Dim::provablyDifferent(theta.shape[2], Dim(r + 1)))
    return layerError(desc, "theta " + shapeToString(theta.shape) + " must be [N, " +
                                std::to_string(r) + ", " + std::to_string(r + 1) + "] for size " +
                                valuesText(size));
  if (Dim::provablyDifferent(theta.shape[0], size[0]))
    return layerError(desc, "theta " + shapeToString(theta.shape) + " and size " +
                                valuesText(size) + " differ in N");
  if (!isFloatType(theta.dtype))
    return layerError(
        desc, std::string("theta must be floating point, found ") + dataTypeName(theta.dtype));
  for (const Dim& d : size)
    if (d.bounds().max < 0) return layerError(desc, "size " + valuesText(size) + " is negative");
  Shape out = {theta.shape[0]};
  for (size_t i = 2; i < size.size(); ++i)
    out.push_back(size[i]);
  out.push_back(Dim(r));
  return std::vector<TensorType>{{theta.dtype, std::move(out)}};
}

}  // namespace kiln
