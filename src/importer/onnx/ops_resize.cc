// ONNX resampling operators: Resize, Upsample, GridSample, AffineGrid.
#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {
namespace {

/// Input `i` of the node, or kNoTensor when it is absent or a constant with no elements (ONNX
/// spells an omitted roi or scales that way).
TensorId nonEmptyInput(const NodeContext& ctx, int i) {
  TensorId t = ctx.optionalInput(i);
  if (t == kNoTensor) return t;
  if (const Weights* w = ctx.constantInput(i); w && w->count() == 0) return kNoTensor;
  return t;
}

template <class E, size_t N>
Expected<E> parseChoice(const NodeContext& ctx, const char* attr, const char* dflt,
                        const std::pair<const char*, E> (&choices)[N]) {
  KILN_ASSIGN_OR_RETURN(std::string name, ctx.getString(attr, dflt));
  std::string list;
  for (const auto& [text, value] : choices) {
    if (name == text) return value;
    list += (list.empty() ? "" : ", ") + std::string(text);
  }
  return invalidModel(std::string("attribute '") + attr + "' is '" + name + "'; expected " + list);
}

Status checkModeCombination(const ResizeAttrs& a) {
  if (a.mode == ResizeMode::kNearest && a.excludeOutside)
    return unsupported("exclude_outside with mode 'nearest' is not supported");
  if (a.mode == ResizeMode::kNearest && a.antialias)
    return unsupported("antialias with mode 'nearest' is not supported");
  return Status::ok();
}

}  // namespace

// Resize(X, roi?, scales?, sizes?) -> Resize{attrs}(x, roi?, scales?, sizes?). Opset 10 takes
// (X, scales) and samples asymmetrically (nearest rounds down), as Upsample does; opset 11
// adds roi, sizes and the coordinate, nearest and cubic attributes; opset 18 adds antialias,
// axes, keep_aspect_ratio_policy and half_pixel_symmetric. roi is kept only where
// tf_crop_and_resize reads it.
Status importResize(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  ResizeAttrs a;
  KILN_ASSIGN_OR_RETURN(a.mode, parseChoice<ResizeMode>(ctx, "mode", "nearest",
                                                        {{"nearest", ResizeMode::kNearest},
                                                         {"linear", ResizeMode::kLinear},
                                                         {"cubic", ResizeMode::kCubic}}));
  if (ctx.opset() < 11) {
    if (a.mode == ResizeMode::kCubic) return invalidModel("mode 'cubic' needs opset 11 or later");
    a.coordinates = ResizeCoordinates::kAsymmetric;
    a.nearestMode = ResizeNearestMode::kFloor;
    KILN_ASSIGN_OR_RETURN(TensorId scales, ctx.input(1));
    return ctx.addOutputLayer(a, {x, kNoTensor, scales});
  }
  KILN_ASSIGN_OR_RETURN(a.coordinates,
                        parseChoice<ResizeCoordinates>(
                            ctx, "coordinate_transformation_mode", "half_pixel",
                            {{"half_pixel", ResizeCoordinates::kHalfPixel},
                             {"half_pixel_symmetric", ResizeCoordinates::kHalfPixelSymmetric},
                             {"pytorch_half_pixel", ResizeCoordinates::kPytorchHalfPixel},
                             {"align_corners", ResizeCoordinates::kAlignCorners},
                             {"asymmetric", ResizeCoordinates::kAsymmetric},
                             {"tf_half_pixel_for_nn", ResizeCoordinates::kTfHalfPixelForNn},
                             {"tf_crop_and_resize", ResizeCoordinates::kTfCropAndResize}}));
  KILN_ASSIGN_OR_RETURN(
      a.nearestMode,
      parseChoice<ResizeNearestMode>(ctx, "nearest_mode", "round_prefer_floor",
                                     {{"round_prefer_floor", ResizeNearestMode::kRoundPreferFloor},
                                      {"round_prefer_ceil", ResizeNearestMode::kRoundPreferCeil},
                                      {"floor", ResizeNearestMode::kFloor},
                                      {"ceil", ResizeNearestMode::kCeil}}));
  KILN_ASSIGN_OR_RETURN(a.cubicCoeffA, ctx.getFloat("cubic_coeff_a", -0.75f));
  KILN_ASSIGN_OR_RETURN(int64_t exclude, ctx.getInt("exclude_outside", 0));
  a.excludeOutside = exclude != 0;
  KILN_ASSIGN_OR_RETURN(a.extrapolationValue, ctx.getFloat("extrapolation_value", 0.0f));
  KILN_ASSIGN_OR_RETURN(int64_t antialias, ctx.getInt("antialias", 0));
  a.antialias = antialias != 0;
  KILN_ASSIGN_OR_RETURN(a.axes, ctx.getInts("axes", {}));
  KILN_ASSIGN_OR_RETURN(
      a.aspectRatioPolicy,
      parseChoice<AspectRatioPolicy>(ctx, "keep_aspect_ratio_policy", "stretch",
                                     {{"stretch", AspectRatioPolicy::kStretch},
                                      {"not_larger", AspectRatioPolicy::kNotLarger},
                                      {"not_smaller", AspectRatioPolicy::kNotSmaller}}));
  KILN_RETURN_IF_ERROR(checkModeCombination(a));
  TensorId roi =
      a.coordinates == ResizeCoordinates::kTfCropAndResize ? nonEmptyInput(ctx, 1) : kNoTensor;
  TensorId scales = nonEmptyInput(ctx, 2), sizes = nonEmptyInput(ctx, 3);
  if (scales != kNoTensor && sizes != kNoTensor)
    return invalidModel("both scales and sizes are given; expected exactly one");
  if (scales == kNoTensor && sizes == kNoTensor)
    return invalidModel("neither scales nor sizes is given; expected exactly one");
  std::vector<TensorId> inputs = {x, roi, scales, sizes};
  while (inputs.back() == kNoTensor)
    inputs.pop_back();
  return ctx.addOutputLayer(a, inputs);
}

// Upsample(X, scales) -> Resize{asymmetric, nearest rounding down}(x, -, scales). Opset 7
// gives the scales as an attribute; they become a constant input.
Status importUpsample(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  ResizeAttrs a;
  KILN_ASSIGN_OR_RETURN(a.mode, parseChoice<ResizeMode>(ctx, "mode", "nearest",
                                                        {{"nearest", ResizeMode::kNearest},
                                                         {"linear", ResizeMode::kLinear},
                                                         {"bilinear", ResizeMode::kLinear}}));
  a.coordinates = ResizeCoordinates::kAsymmetric;
  a.nearestMode = ResizeNearestMode::kFloor;
  if (ctx.opset() >= 9) {
    KILN_ASSIGN_OR_RETURN(TensorId scales, ctx.input(1));
    return ctx.addOutputLayer(a, {x, kNoTensor, scales});
  }
  KILN_ASSIGN_OR_RETURN(std::vector<float> scales, ctx.getFloats("scales"));
  if (scales.empty()) return invalidModel("attribute 'scales' is required");
  KILN_ASSIGN_OR_RETURN(Weights w,
                        Weights::copyFrom(DataType::kFloat32, {static_cast<int64_t>(scales.size())},
                                          scales.data(), scales.size() * sizeof(float), "scales"));
  TensorId s = ctx.addConstant("scales", std::move(w));
  return ctx.addOutputLayer(a, {x, kNoTensor, s});
}

}  // namespace kiln::onnx_import

namespace kiln::onnx_import {

// GridSample(X, grid) -> GridSample{mode, padding, align_corners}. Opset 16 spells the modes
// bilinear and bicubic and samples 4-D inputs only; opset 20 renames them linear and cubic and
// samples any number of spatial dims.
Status importGridSample(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId grid, ctx.input(1));
  GridSampleAttrs a;
  const bool old = ctx.opset() < 20;
  KILN_ASSIGN_OR_RETURN(a.mode, old ? parseChoice<ResizeMode>(ctx, "mode", "bilinear",
                                                              {{"bilinear", ResizeMode::kLinear},
                                                               {"nearest", ResizeMode::kNearest},
                                                               {"bicubic", ResizeMode::kCubic}})
                                    : parseChoice<ResizeMode>(ctx, "mode", "linear",
                                                              {{"linear", ResizeMode::kLinear},
                                                               {"nearest", ResizeMode::kNearest},
                                                               {"cubic", ResizeMode::kCubic}}));
  KILN_ASSIGN_OR_RETURN(
      a.padding, parseChoice<GridPaddingMode>(ctx, "padding_mode", "zeros",
                                              {{"zeros", GridPaddingMode::kZeros},
                                               {"border", GridPaddingMode::kBorder},
                                               {"reflection", GridPaddingMode::kReflection}}));
  KILN_ASSIGN_OR_RETURN(int64_t align, ctx.getInt("align_corners", 0));
  a.alignCorners = align != 0;
  if (a.mode == ResizeMode::kCubic) {
    auto rank = ctx.rankOf(x);
    if (rank && *rank != 4)
      return unsupported("mode 'cubic' samples 2-D inputs (rank 4) only; x has rank " +
                         std::to_string(*rank));
  }
  return ctx.addOutputLayer(a, {x, grid});
}

// AffineGrid(theta, size) -> AffineGrid{align_corners}.
Status importAffineGrid(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId theta, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId size, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(int64_t align, ctx.getInt("align_corners", 0));
  return ctx.addOutputLayer(AffineGridAttrs{align != 0}, {theta, size});
}

}  // namespace kiln::onnx_import
