// kiln — shape inference for windowed layers: Convolution and Pooling. The window geometry
// (defaults, auto padding, output size) is resolveWindow's; this file checks the operands.
//
// Reached through inferOutputs(), which has already checked the number of inputs and the
// presence of required ones.
#include <string>

#include "ir/shape_inference.h"

namespace kiln {

namespace {

/// Transposed convolution: x[N, C, *], w[C, M/group, *], b[M]? -> y[N, M, *].
Expected<std::vector<TensorType>> inferTransposed(const InferDesc& desc, const Dims& kernel) {
  const auto& attrs = desc.layer->as<ConvolutionAttrs>();
  const TensorType& x = desc.inputs[0];
  const TensorType& w = desc.inputs[1];
  const int64_t group = attrs.group;
  if (Dim::provablyDifferent(w.shape[0], x.shape[1]))
    return layerError(desc, "x has " + x.shape[1].toString() +
                                " channels but the transposed weights " + shapeToString(w.shape) +
                                " ([C, M/group, kernel...]) expect " + w.shape[0].toString());
  if (x.shape[1].isStatic() && x.shape[1].value() % group != 0)
    return layerError(desc, "input channels " + x.shape[1].toString() +
                                " are not divisible by group " + std::to_string(group));
  const Dim outChannels = w.shape[1] * group;
  if (!outChannels.isKnown() && w.shape[1].isKnown())
    return layerError(desc, "output channels overflow (weights " + shapeToString(w.shape) +
                                ", group " + std::to_string(group) + ")");
  if (!attrs.kernelShape.empty() && attrs.kernelShape != kernel)
    return layerError(desc, "kernel_shape " + dimsToString(attrs.kernelShape) +
                                " disagrees with the weights' spatial dims " +
                                dimsToString(kernel));
  if (desc.hasInput(2)) {
    const TensorType& b = desc.inputs[2];
    if (b.shape.size() != 1 || Dim::provablyDifferent(b.shape[0], outChannels))
      return layerError(desc, "bias must have dims [" + outChannels.toString() +
                                  "] (output channels), found " + shapeToString(b.shape));
    if (b.dtype != x.dtype)
      return layerError(desc, std::string("bias must have the type of x (") +
                                  dataTypeName(x.dtype) + "), found " + dataTypeName(b.dtype));
  }
  KILN_ASSIGN_OR_RETURN(WindowGeometry g, resolveTransposedWindow(desc, kernel, attrs, x.shape));
  Shape out{x.shape[0], outChannels};
  out.insert(out.end(), g.outputSpatial.begin(), g.outputSpatial.end());
  KILN_RETURN_IF_ERROR(checkEpilogue(desc, {x.dtype, out}, attrs.activation, attrs.residual));
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

}  // namespace

Expected<std::vector<TensorType>> inferConvolution(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<ConvolutionAttrs>();
  const TensorType& x = desc.inputs[0];
  const TensorType& w = desc.inputs[1];
  if (x.shape.size() < 3)
    return layerError(
        desc, "input x must have rank >= 3 [N, C, spatial...], found " + shapeToString(x.shape));
  if (w.shape.size() != x.shape.size())
    return layerError(desc, "weights " + shapeToString(w.shape) + " must have the rank of x " +
                                shapeToString(x.shape) + " ([M, C/group, kernel...])");
  if (w.dtype != x.dtype)
    return layerError(desc, std::string("weights must have the type of x (") +
                                dataTypeName(x.dtype) + "), found " + dataTypeName(w.dtype));
  auto kernelDims = staticDims(Shape(w.shape.begin() + 2, w.shape.end()));
  if (!kernelDims)
    return unsupported("layer '" + desc.name() +
                       "' (Convolution): the kernel's spatial dims must be known when building, "
                       "found weights " +
                       shapeToString(w.shape));
  const int64_t group = attrs.group;
  if (group < 1) return layerError(desc, "group must be >= 1, found " + std::to_string(group));
  if (attrs.transposed) return inferTransposed(desc, *kernelDims);
  const Dim channels = x.shape[1], outChannels = w.shape[0];
  if (Dim::provablyDifferent(w.shape[1] * group, channels))
    return layerError(desc, "x has " + channels.toString() + " channels but weights " +
                                shapeToString(w.shape) + " with group " + std::to_string(group) +
                                " expect " + (w.shape[1] * group).toString());
  if (outChannels.isStatic() && outChannels.value() % group != 0)
    return layerError(desc, "output channels " + outChannels.toString() +
                                " are not divisible by group " + std::to_string(group));
  if (!attrs.kernelShape.empty() && attrs.kernelShape != *kernelDims)
    return layerError(desc, "kernel_shape " + dimsToString(attrs.kernelShape) +
                                " disagrees with the weights' spatial dims " +
                                dimsToString(*kernelDims));
  if (desc.hasInput(2)) {
    const TensorType& b = desc.inputs[2];
    if (b.shape.size() != 1 || Dim::provablyDifferent(b.shape[0], outChannels))
      return layerError(desc, "bias must have dims [" + outChannels.toString() +
                                  "] (output channels), found " + shapeToString(b.shape));
    if (b.dtype != x.dtype)
      return layerError(desc, std::string("bias must have the type of x (") +
                                  dataTypeName(x.dtype) + "), found " + dataTypeName(b.dtype));
  }
  KILN_ASSIGN_OR_RETURN(WindowGeometry g,
                        resolveWindow(desc, *kernelDims, attrs.strides, attrs.dilations,
                                      attrs.padsBegin, attrs.padsEnd, attrs.padding,
                                      /*ceilMode=*/false, x.shape));
  Shape out{x.shape[0], outChannels};
  out.insert(out.end(), g.outputSpatial.begin(), g.outputSpatial.end());
  KILN_RETURN_IF_ERROR(checkEpilogue(desc, {x.dtype, out}, attrs.activation, attrs.residual));
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorType>> inferPooling(const InferDesc& desc) {
  const auto& attrs = desc.layer->as<PoolingAttrs>();
  const TensorType& x = desc.inputs[0];
  if (x.dtype == DataType::kBool)
    return layerError(desc, "pooling expects a numeric input, found bool");
  if (attrs.global) {
    // ONNX GlobalXxxPool: N x C x D1..Dn -> N x C x 1..1 (rank 2 has no spatial dims to pool).
    if (x.shape.size() < 2)
      return layerError(desc, "global pooling expects an input of rank >= 2 [N, C, ...], found " +
                                  shapeToString(x.shape));
    Shape out = x.shape;
    for (size_t i = 2; i < out.size(); ++i)
      out[i] = 1;
    return std::vector<TensorType>{{x.dtype, std::move(out)}};
  }
  if (attrs.kernelShape.empty()) return layerError(desc, "windowed pooling needs a kernel_shape");
  KILN_ASSIGN_OR_RETURN(
      WindowGeometry g,
      resolveWindow(desc, attrs.kernelShape, attrs.strides, attrs.dilations, attrs.padsBegin,
                    attrs.padsEnd, attrs.padding, attrs.ceilMode, x.shape));
  Shape out{x.shape[0], x.shape[1]};
  out.insert(out.end(), g.outputSpatial.begin(), g.outputSpatial.end());
  return std::vector<TensorType>{{x.dtype, std::move(out)}};
}

}  // namespace kiln
