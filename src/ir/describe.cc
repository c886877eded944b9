#include "ir/describe.h"

namespace kiln {

Expected<LayerDesc> describeLayer(const NetworkDefinition& net, LayerId id) {
  const Layer& l = net.layer(id);
  LayerDesc d;
  d.layer = &l;
  for (size_t k = 0; k < l.inputs.size(); ++k) {
    TensorId t = l.inputs[k];
    if (t == kNoTensor) {
      d.inputs.push_back({});
      d.inputPresent.push_back(false);
      d.constantInputs.push_back(nullptr);
      continue;
    }
    const Tensor& x = net.tensor(t);
    auto dims = staticDims(x.shape);
    if (!x.shapeKnown || !dims)
      return invalidModel("layer '" + l.name + "' (" + layerKindName(l.kind()) + "): input " +
                          std::to_string(k) + " '" + x.name + "' has unresolved shape " +
                          shapeToString(x.shape));
    d.inputs.push_back({x.dtype, *dims});
    d.inputPresent.push_back(true);
    d.constantInputs.push_back(net.constantValue(t));
  }
  for (TensorId t : l.outputs) {
    const Tensor& x = net.tensor(t);
    auto dims = staticDims(x.shape);
    d.outputs.push_back(x.shapeKnown && dims ? TensorDesc{x.dtype, *dims} : TensorDesc{});
  }
  return d;
}

}  // namespace kiln
