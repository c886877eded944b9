// kiln — shape inference for the math and loss layers: NegativeLogLikelihood.
#include <string>

#include "ir/shape_inference.h"

namespace kiln {

Expected<std::vector<TensorType>> inferNegativeLogLikelihood(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<NegativeLogLikelihoodAttrs>();
  const TensorType& x = desc.inputs[0];
  const TensorType& target = desc.inputs[1];
  if (x.dtype != DataType::kFloat32 && x.dtype != DataType::kFloat64 &&
      x.dtype != DataType::kFloat16 && x.dtype != DataType::kBFloat16)
    return layerError(
        desc, std::string("input 0 must be floating-point, found ") + dataTypeName(x.dtype));
  if (target.dtype != DataType::kInt32 && target.dtype != DataType::kInt64)
    return layerError(desc, std::string("the target (input 1) must be i32 or i64, found ") +
                                dataTypeName(target.dtype));
  if (x.shape.size() < 2)
    return layerError(desc,
                      "input 0 must have rank >= 2 (N, C, ...), found " + shapeToString(x.shape));
  if (target.shape.size() + 1 != x.shape.size())
    return layerError(desc, "the target must have rank " + std::to_string(x.shape.size() - 1) +
                                " (N, d...), found " + shapeToString(target.shape));
  for (size_t i = 0; i < target.shape.size(); ++i) {
    const Dim& xd = x.shape[i == 0 ? 0 : i + 1];
    if (Dim::provablyDifferent(xd, target.shape[i]))
      return layerError(desc, "the target dims " + shapeToString(target.shape) +
                                  " do not match the input dims " + shapeToString(x.shape));
  }
  if (desc.hasInput(2)) {
    const TensorType& w = desc.inputs[2];
    if (w.dtype != x.dtype)
      return layerError(desc, std::string("the weight (input 2) must have the input's type ") +
                                  dataTypeName(x.dtype) + ", found " + dataTypeName(w.dtype));
    if (w.shape.size() != 1 || Dim::provablyDifferent(w.shape[0], x.shape[1]))
      return layerError(desc, "the weight must have dims [C] = [" + x.shape[1].toString() +
                                  "], found " + shapeToString(w.shape));
  }
  if (attrs.reduction == LossReduction::kNone)
    return std::vector<TensorType>{{x.dtype, target.shape}};
  return std::vector<TensorType>{{x.dtype, Shape{}}};
}

}  // namespace kiln
