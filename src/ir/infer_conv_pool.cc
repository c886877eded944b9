// kiln — shape inference for windowed layers: Convolution and Pooling. The window geometry
// (defaults, auto padding, output size) is resolveWindow's; this file checks the operands.
//
// Reached through inferOutputs(), which has already checked the number of inputs and the
// presence of required ones.
#include <string>

#include "ir/shape_inference.h"

namespace kiln {

Expected<std::vector<TensorDesc>> inferConvolution(const LayerDesc& desc) {
  const auto& attrs = desc.layer->as<ConvolutionAttrs>();
  const TensorDesc& x = desc.inputs[0];
  const TensorDesc& w = desc.inputs[1];
  if (x.dims.size() < 3)
    return layerError(
        desc, "input x must have rank >= 3 [N, C, spatial...], found " + dimsToString(x.dims));
  if (w.dims.size() != x.dims.size())
    return layerError(desc, "weights " + dimsToString(w.dims) + " must have the rank of x " +
                                dimsToString(x.dims) + " ([M, C/group, kernel...])");
  if (w.dtype != x.dtype)
    return layerError(desc, std::string("weights must have the type of x (") +
                                dataTypeName(x.dtype) + "), found " + dataTypeName(w.dtype));
  const int64_t group = attrs.group;
  const int64_t channels = x.dims[1], outChannels = w.dims[0];
  if (group < 1) return layerError(desc, "group must be >= 1, found " + std::to_string(group));
  if (channels % group != 0 || w.dims[1] * group != channels)
    return layerError(desc, "x has " + std::to_string(channels) + " channels but weights " +
                                dimsToString(w.dims) + " with group " + std::to_string(group) +
                                " expect " + std::to_string(w.dims[1] * group));
  if (outChannels % group != 0)
    return layerError(desc, "output channels " + std::to_string(outChannels) +
                                " are not divisible by group " + std::to_string(group));
  const Dims kernelFromWeights(w.dims.begin() + 2, w.dims.end());
  if (!attrs.kernelShape.empty() && attrs.kernelShape != kernelFromWeights)
    return layerError(desc, "kernel_shape " + dimsToString(attrs.kernelShape) +
                                " disagrees with the weights' spatial dims " +
                                dimsToString(kernelFromWeights));
  if (desc.hasInput(2)) {
    const TensorDesc& b = desc.inputs[2];
    if (b.dims != Dims{outChannels})
      return layerError(desc, "bias must have dims [" + std::to_string(outChannels) +
                                  "] (output channels), found " + dimsToString(b.dims));
    if (b.dtype != x.dtype)
      return layerError(desc, std::string("bias must have the type of x (") +
                                  dataTypeName(x.dtype) + "), found " + dataTypeName(b.dtype));
  }
  KILN_ASSIGN_OR_RETURN(WindowGeometry g,
                        resolveWindow(desc, kernelFromWeights, attrs.strides, attrs.dilations,
                                      attrs.padsBegin, attrs.padsEnd, attrs.padding,
                                      /*ceilMode=*/false, x.dims));
  Dims out{x.dims[0], outChannels};
  out.insert(out.end(), g.outputSpatial.begin(), g.outputSpatial.end());
  KILN_RETURN_IF_ERROR(checkEpilogue(desc, {x.dtype, out}, attrs.activation, attrs.residual));
  return std::vector<TensorDesc>{{x.dtype, std::move(out)}};
}

Expected<std::vector<TensorDesc>> inferPooling(const LayerDesc& desc) {
  const auto& attrs = desc.layer->as<PoolingAttrs>();
  const TensorDesc& x = desc.inputs[0];
  if (x.dtype == DataType::kBool)
    return layerError(desc, "pooling expects a numeric input, found bool");
  if (attrs.global) {
    // ONNX GlobalXxxPool: N x C x D1..Dn -> N x C x 1..1 (rank 2 has no spatial dims to pool).
    if (x.dims.size() < 2)
      return layerError(desc, "global pooling expects an input of rank >= 2 [N, C, ...], found " +
                                  dimsToString(x.dims));
    Dims out = x.dims;
    for (size_t i = 2; i < out.size(); ++i)
      out[i] = 1;
    return std::vector<TensorDesc>{{x.dtype, std::move(out)}};
  }
  if (attrs.kernelShape.empty()) return layerError(desc, "windowed pooling needs a kernel_shape");
  KILN_ASSIGN_OR_RETURN(
      WindowGeometry g,
      resolveWindow(desc, attrs.kernelShape, attrs.strides, attrs.dilations, attrs.padsBegin,
                    attrs.padsEnd, attrs.padding, attrs.ceilMode, x.dims));
  Dims out{x.dims[0], x.dims[1]};
  out.insert(out.end(), g.outputSpatial.begin(), g.outputSpatial.end());
  return std::vector<TensorDesc>{{x.dtype, std::move(out)}};
}

}  // namespace kiln
