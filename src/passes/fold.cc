#include <algorithm>
#include <memory>

#include "ir/describe.h"
#include "ir/shape_inference.h"
#include "passes/events.h"
#include "passes/passes.h"

namespace kiln {

namespace {

/// shape(x)[start:end] -> constant, for a static x (x's values are not needed).
Weights foldShapeOf(const LayerDesc& desc) {
  const auto& a = desc.layer->as<ShapeOfAttrs>();
  const Dims& dims = desc.inputs[0].dims;
  int64_t rank = static_cast<int64_t>(dims.size());
  auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  int64_t start = clamp(a.start), end = clamp(a.end);
  std::vector<int64_t> v;
  for (int64_t i = start; i < end; ++i)
    v.push_back(dims[i]);
  return Weights::fromInts(v);
}

}  // namespace

Status inferAndFold(NetworkDefinition& net, size_t foldLimitBytes,
                    const ConstantEvaluator& evaluator, BuildLog& log) {
  int folded = 0;
  size_t count = net.layers().size();  // layers appended while folding are constants: skip
  for (size_t i = 0; i < count; ++i) {
    if (net.layer(static_cast<LayerId>(i)).removed) continue;
    if (net.layer(static_cast<LayerId>(i)).kind() == LayerKind::kConstant) continue;
    KILN_ASSIGN_OR_RETURN(LayerDesc desc, describeLayer(net, static_cast<LayerId>(i)));
    KILN_ASSIGN_OR_RETURN(desc.outputs, inferOutputs(desc));
    Layer& layer = net.layer(static_cast<LayerId>(i));
    if (desc.outputs.size() != layer.outputs.size())
      return internalError("shape inference of layer '" + layer.name + "' gave " +
                           std::to_string(desc.outputs.size()) + " outputs for " +
                           std::to_string(layer.outputs.size()));
    size_t outBytes = 0;
    for (size_t k = 0; k < desc.outputs.size(); ++k) {
      Tensor& t = net.tensor(layer.outputs[k]);
      t.dtype = desc.outputs[k].dtype;
      t.shape = shapeFromDims(desc.outputs[k].dims);
      t.shapeKnown = true;
      outBytes += desc.outputs[k].bytes();
    }
    bool allConstant = true;
    for (size_t k = 0; k < desc.inputs.size(); ++k)
      if (desc.hasInput(k) && desc.constantInputs[k] == nullptr) allConstant = false;
    bool shapeOf = layer.kind() == LayerKind::kShapeOf;
    if ((!allConstant && !shapeOf) || outBytes > foldLimitBytes) continue;

    auto values = shapeOf ? Expected<std::vector<Weights>>(std::vector<Weights>{foldShapeOf(desc)})
                          : evaluator.evaluate(desc);
    if (!values) return values.status().withContext("constant folding");
    // fold: Kind(constants...) -> Constant(evaluated on the reference backend)
    std::string what = std::string(layerKindName(layer.kind())) + " '" + layer.name + "'";
    EventBuilder event("fold", "fold");
    event.matched(net, static_cast<LayerId>(i));
    if (layer.outputs.size() == 1) {
      layer.attrs = ConstantAttrs{std::move((*values)[0])};
      net.setLayerInputs(static_cast<LayerId>(i), {});
      event.produced(static_cast<LayerId>(i));
    } else {
      // One constant per output; each keeps the folded layer's origins (EventBuilder).
      std::vector<TensorId> olds = layer.outputs;
      net.removeLayer(static_cast<LayerId>(i));
      for (size_t k = 0; k < olds.size(); ++k) {
        std::string name = net.tensor(olds[k]).name;
        TensorId nt = net.addConstant(name + "#folded", std::move((*values)[k]));
        net.replaceAllUses(olds[k], nt);
        net.renameTensor(nt, name);
        net.layer(net.tensor(nt).producer).name = name;
        event.produced(net.tensor(nt).producer);
      }
    }
    event.commit(net);
    log.add("fold: " + what + " -> constant");
    ++folded;
  }
  if (folded) log.add("fold: " + std::to_string(folded) + " layers folded to constants");
  return net.topologicalSort();
}

}  // namespace kiln
