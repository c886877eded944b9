// kiln — shape checks of the epilogue that Convolution and MatrixMultiply may carry
// (layers.h, "epilogues"): a residual input broadcasts to the output and has its dtype; the
// activation takes a float.
#include <string>

#include "ir/shape_inference.h"

namespace kiln {

Status checkEpilogue(const InferDesc& desc, const TensorType& out, ActivationKind activation,
                     ResidualMode residual) {
  const bool hasResidual = desc.hasInput(3);
  if (hasResidual != (residual != ResidualMode::kNone))
    return layerError(desc, hasResidual ? "input 3 (residual) is given but residual=none"
                                        : std::string("residual=") + enumName(residual) +
                                              " needs input 3 (the residual)");
  if (activation != ActivationKind::kNone && out.dtype != DataType::kFloat32 &&
      out.dtype != DataType::kFloat64 && out.dtype != DataType::kFloat16 &&
      out.dtype != DataType::kBFloat16)
    return layerError(desc, std::string("a fused activation needs a float output, found ") +
                                dataTypeName(out.dtype));
  if (hasResidual) {
    const TensorType& r = desc.inputs[3];
    if (r.dtype != out.dtype)
      return layerError(desc, std::string("residual has dtype ") + dataTypeName(r.dtype) +
                                  ", the output " + dataTypeName(out.dtype));
    if (!mayBroadcastTo(r.shape, out.shape))
      return layerError(desc, "residual " + shapeToString(r.shape) +
                                  " does not broadcast to the output " + shapeToString(out.shape));
  }
  return Status::ok();
}

}  // namespace kiln
