// kiln — shape inference for Pointwise (fused elementwise chains): every input broadcasts to
// the output; the dtype is the expression's (ir/pointwise_expr.h).
#include <string>

#include "ir/pointwise_expr.h"
#include "ir/shape_inference.h"

namespace kiln {

Expected<std::vector<TensorType>> inferPointwise(const InferDesc& desc) {
  const std::string& text = desc.layer->as<PointwiseAttrs>().expression;
  auto expr = pointwise::parse(text);
  if (!expr) return layerError(desc, expr.status().message());
  if (static_cast<size_t>(expr->inputCount()) != desc.inputs.size())
    return layerError(desc, "expression '" + text + "' reads " +
                                std::to_string(expr->inputCount()) + " inputs, the layer has " +
                                std::to_string(desc.inputs.size()));
  std::vector<DataType> types;
  Shape shape;
  for (size_t k = 0; k < desc.inputs.size(); ++k) {
    types.push_back(desc.inputs[k].dtype);
    KILN_ASSIGN_OR_RETURN(shape, broadcastShapes(desc, shape, desc.inputs[k].shape));
  }
  auto t = pointwise::typeCheck(*expr, types);
  if (!t) return layerError(desc, t.status().message());
  return std::vector<TensorType>{{t->back(), std::move(shape)}};
}

}  // namespace kiln
