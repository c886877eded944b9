// kiln — shape inference for the elementwise family: Activation, Unary, Elementwise, Select, Cast.
//
// Like every infer<Kind>, these are reached through inferOutputs(), which has already checked the
// number of inputs, the presence of required ones and that param inputs are constants.
#include <string>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

/// Integer element types (not bool).
bool isIntegerType(DataType t) {
  switch (t) {
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kInt16:
    case DataType::kUInt16:
    case DataType::kInt32:
    case DataType::kUInt32:
    case DataType::kInt64:
    case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}

bool isFloatType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
         t == DataType::kFloat64;
}

}  // namespace

Expected<std::vector<TensorType>> inferActivation(const InferDesc& desc) {
  const TensorType& x = desc.inputs[0];
  if (x.dtype == DataType::kBool)
    return layerError(desc, std::string("activation '") +
                                enumName(desc.layer->as<ActivationAttrs>().kind) +
                                "' expects a numeric input, found bool");
  return std::vector<TensorType>{x};
}

Expected<std::vector<TensorType>> inferUnary(const InferDesc& desc) {
  const UnaryKind kind = desc.layer->as<UnaryAttrs>().kind;
  const TensorType& x = desc.inputs[0];
  const std::string op = std::string("unary '") + enumName(kind) + "'";
  switch (kind) {
    case UnaryKind::kNot:
      if (x.dtype != DataType::kBool)
        return layerError(desc, op + " expects a bool input, found " + dataTypeName(x.dtype));
      return std::vector<TensorType>{x};
    case UnaryKind::kIsNaN:
    case UnaryKind::kIsInf:
    case UnaryKind::kIsPosInf:
    case UnaryKind::kIsNegInf:
      if (!isFloatType(x.dtype))
        return layerError(desc,
                          op + " expects a floating-point input, found " + dataTypeName(x.dtype));
      return std::vector<TensorType>{{DataType::kBool, x.shape}};
    case UnaryKind::kIdentity:
      return std::vector<TensorType>{x};
    case UnaryKind::kBitwiseNot:
      if (!isIntegerType(x.dtype))
        return layerError(desc, op + " expects an integer input, found " + dataTypeName(x.dtype));
      return std::vector<TensorType>{x};
    default:
      if (x.dtype == DataType::kBool)
        return layerError(desc, op + " expects a numeric input, found bool");
      return std::vector<TensorType>{x};
  }
}

Expected<std::vector<TensorType>> inferElementwise(const InferDesc& desc) {
  const ElementwiseKind kind = desc.layer->as<ElementwiseAttrs>().kind;
  const TensorType& a = desc.inputs[0];
  const TensorType& b = desc.inputs[1];
  const std::string op = std::string("elementwise '") + enumName(kind) + "'";
  // The IR keeps one element type per elementwise op (ONNX Pow's mixed types are cast by the
  // importer), so kernels never convert.
  if (a.dtype != b.dtype)
    return layerError(desc, op + " expects inputs of one type, found " + dataTypeName(a.dtype) +
                                " and " + dataTypeName(b.dtype));
  KILN_ASSIGN_OR_RETURN(Shape dims, broadcastShapes(desc, a.shape, b.shape));
  DataType outType = a.dtype;
  switch (kind) {
    case ElementwiseKind::kAnd:
    case ElementwiseKind::kOr:
    case ElementwiseKind::kXor:
      if (a.dtype != DataType::kBool)
        return layerError(desc, op + " expects bool inputs, found " + dataTypeName(a.dtype));
      break;
    case ElementwiseKind::kEqual:
      outType = DataType::kBool;  // ONNX Equal also compares bools
      break;
    case ElementwiseKind::kLess:
    case ElementwiseKind::kLessOrEqual:
    case ElementwiseKind::kGreater:
    case ElementwiseKind::kGreaterOrEqual:
      if (a.dtype == DataType::kBool)
        return layerError(desc, op + " expects numeric inputs, found bool");
      outType = DataType::kBool;
      break;
    case ElementwiseKind::kBitShiftLeft:
    case ElementwiseKind::kBitShiftRight:
    case ElementwiseKind::kBitwiseAnd:
    case ElementwiseKind::kBitwiseOr:
    case ElementwiseKind::kBitwiseXor:
      if (!isIntegerType(a.dtype))
        return layerError(desc, op + " expects integer inputs, found " + dataTypeName(a.dtype));
      break;
    default:  // arithmetic, max, min, mod, prelu
      if (a.dtype == DataType::kBool)
        return layerError(desc, op + " expects numeric inputs, found bool");
      break;
  }
  return std::vector<TensorType>{{outType, std::move(dims)}};
}

Expected<std::vector<TensorType>> inferSelect(const InferDesc& desc) {
  const TensorType& cond = desc.inputs[0];
  const TensorType& x = desc.inputs[1];
  const TensorType& y = desc.inputs[2];
  if (cond.dtype != DataType::kBool)
    return layerError(desc,
                      std::string("condition must be bool, found ") + dataTypeName(cond.dtype));
  if (x.dtype != y.dtype)
    return layerError(desc, std::string("x and y must have one type, found ") +
                                dataTypeName(x.dtype) + " and " + dataTypeName(y.dtype));
  KILN_ASSIGN_OR_RETURN(Shape xy, broadcastShapes(desc, x.shape, y.shape));
  KILN_ASSIGN_OR_RETURN(Shape dims, broadcastShapes(desc, cond.shape, xy));
  return std::vector<TensorType>{{x.dtype, std::move(dims)}};
}

Expected<std::vector<TensorType>> inferCast(const InferDesc& desc) {
  return std::vector<TensorType>{{desc.layer->as<CastAttrs>().to, desc.inputs[0].shape}};
}

}  // namespace kiln
