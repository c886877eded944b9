// kiln — describeLayer: a layer's LayerDesc when its input shapes are static (rules that need
// concrete dims, and the rewriter's constant evaluation).
#include "ir/describe.h"

#include "ir/shape_inference.h"

namespace kiln {

Expected<LayerDesc> describeLayer(const NetworkDefinition& net, LayerId id) {
  const InferDesc idesc = inferDescOf(net, id);
  const Layer& l = net.layer(id);
  LayerDesc desc;
  desc.layer = &l;
  for (size_t k = 0; k < idesc.inputs.size(); ++k) {
    auto dims = staticDims(idesc.inputs[k].shape);
    if (idesc.hasInput(k) && !dims)
      return invalidModel("layer '" + l.name + "': input " + std::to_string(k) + " has shape " +
                          shapeToString(idesc.inputs[k].shape) + ", which is not static");
    desc.inputs.push_back({idesc.inputs[k].dtype, dims.value_or(Dims{})});
    desc.inputPresent.push_back(idesc.hasInput(k));
    desc.constantInputs.push_back(idesc.constantInputs[k]);
  }
  bool outputsKnown = true;
  std::vector<TensorDesc> outs;
  for (TensorId t : l.outputs) {
    const Tensor& x = net.tensor(t);
    auto dims = x.shapeKnown ? staticDims(x.shape) : std::nullopt;
    if (!dims) {
      outputsKnown = false;
      break;
    }
    outs.push_back({x.dtype, *dims});
  }
  if (outputsKnown) desc.outputs = std::move(outs);
  return desc;
}

}  // namespace kiln
