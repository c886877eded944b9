#include <algorithm>
#include <memory>
#include <set>

#include "ir/shape_inference.h"
#include "passes/events.h"
#include "passes/passes.h"

namespace kiln {

namespace {

/// A Constant of `dtype` holding static integer `values` with `dims`.
Expected<Weights> intWeights(DataType dtype, const Dims& dims, const DimValues& values) {
  std::vector<int64_t> v;
  for (const Dim& d : values)
    v.push_back(d.value());
  if (dtype == DataType::kInt64)
    return Weights::copyFrom(DataType::kInt64, dims, v.data(), v.size() * sizeof(int64_t));
  KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(dtype, dims));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype) {
      case DataType::kInt32:
        static_cast<int32_t*>(w.mutableData())[i] = static_cast<int32_t>(v[i]);
        break;
      case DataType::kInt8:
        static_cast<int8_t*>(w.mutableData())[i] = static_cast<int8_t>(v[i]);
        break;
      case DataType::kUInt8:
      case DataType::kBool:
        static_cast<uint8_t*>(w.mutableData())[i] = static_cast<uint8_t>(v[i]);
        break;
      default:
        return internalError("folding values of an unexpected dtype");
    }
  }
  return w;
}

/// Replaces layer `id` by Constant layers holding `values` (one per output).
/// Replaces layer `id` by Constant layers holding `values` (one per output), recorded as a
/// "fold" rewrite event; each constant keeps the folded layer's origins (EventBuilder).
void replaceByConstants(NetworkDefinition& net, LayerId id, std::vector<Weights> values) {
  EventBuilder event("fold", "fold");
  event.matched(net, id);
  Layer& layer = net.layer(id);
  if (layer.outputs.size() == 1) {
    layer.attrs = ConstantAttrs{std::move(values[0])};
    net.setLayerInputs(id, {});
    Tensor& t = net.tensor(layer.outputs[0]);
    t.valuesKnown = false;
    t.values.clear();
    event.produced(id);
    event.commit(net);
    return;
  }
  std::vector<TensorId> olds = layer.outputs;
  net.removeLayer(id);
  for (size_t k = 0; k < olds.size(); ++k) {
    std::string name = net.tensor(olds[k]).name;
    TensorId nt = net.addConstant(name + "#folded", std::move(values[k]));
    net.replaceAllUses(olds[k], nt);
    net.renameTensor(nt, name);
    net.layer(net.tensor(nt).producer).name = name;
    event.produced(net.tensor(nt).producer);
  }
  event.commit(net);
}

}  // namespace

Status inferAndFold(NetworkDefinition& net, size_t foldLimitBytes,
                    const ConstantEvaluator& evaluator, BuildLog& log) {
  int folded = 0, symbolic = 0;
  size_t count = net.layers().size();  // layers appended while folding are constants: skip
  for (size_t i = 0; i < count; ++i) {
    const LayerId id = static_cast<LayerId>(i);
    if (net.layer(id).removed) continue;
    const LayerKind kind = net.layer(id).kind();
    KILN_RETURN_IF_ERROR(inferLayer(net, id));
    if (kind == LayerKind::kConstant || kind == LayerKind::kSymbolicConstant) continue;
    Layer& layer = net.layer(id);
    const std::string what = std::string(layerKindName(kind)) + " '" + layer.name + "'";

    // Outputs known from shapes alone (shape arithmetic): a Constant, or a SymbolicConstant.
    bool allValues = layer.outputs.size() == 1;
    bool allStatic = true;
    for (TensorId t : layer.outputs) {
      const Tensor& x = net.tensor(t);
      allValues = allValues && x.valuesKnown;
      for (const Dim& d : x.values)
        allStatic = allStatic && d.isStatic();
    }
    if (allValues) {
      const Tensor& x = net.tensor(layer.outputs[0]);
      auto dims = staticDims(x.shape);
      if (dims && allStatic) {
        KILN_ASSIGN_OR_RETURN(Weights w, intWeights(x.dtype, *dims, x.values));
        // fold: Kind(shapes) -> Constant(values)
        replaceByConstants(net, id, {std::move(w)});
        log.add("fold: " + what + " -> constant (from shapes)");
        ++folded;
        continue;
      }
      // Opaque dims ("%tensor[i]", data-dependent) get values only when the layers before run,
      // after a SymbolicConstant is evaluated: such values are computed by the layer itself.
      bool opaque = false;
      for (const Dim& d : x.values) {
        std::set<std::string> syms;
        d.collectSymbols(syms);
        for (const std::string& sym : syms)
          opaque = opaque || (!sym.empty() && sym[0] == '%');
      }
      if (dims && !opaque && (x.dtype == DataType::kInt64 || x.dtype == DataType::kInt32)) {
        // fold: Kind(shapes) -> SymbolicConstant(expressions of the input dims)
        SymbolicConstantAttrs a{x.dtype, *dims, x.values};
        std::string values = shapeToString(x.values);
        EventBuilder event("fold", "fold");
        event.matched(net, id);
        layer.attrs = std::move(a);
        net.setLayerInputs(id, {});
        event.produced(id);
        event.commit(net);
        log.add("fold: " + what + " -> symbolic constant " + values);
        ++symbolic;
        continue;
      }
    }

    // Every input a constant: evaluate once (the builder's evaluator: the reference backend).
    InferDesc idesc = inferDescOf(net, id);
    bool allConstant = true;
    for (size_t k = 0; k < idesc.inputs.size(); ++k)
      if (idesc.hasInput(k) && idesc.constantInputs[k] == nullptr) allConstant = false;
    if (!allConstant) continue;
    LayerDesc desc;
    desc.layer = &layer;
    bool concrete = true;
    for (size_t k = 0; k < idesc.inputs.size(); ++k) {
      auto dims = staticDims(idesc.inputs[k].shape);
      concrete = concrete && (dims || !idesc.hasInput(k));
      desc.inputs.push_back({idesc.inputs[k].dtype, dims.value_or(Dims{})});
      desc.inputPresent.push_back(idesc.hasInput(k));
      desc.constantInputs.push_back(idesc.constantInputs[k]);
    }
    uint64_t outBytes = 0;
    for (TensorId t : layer.outputs) {
      const Tensor& x = net.tensor(t);
      auto dims = staticDims(x.shape);
      if (!dims) {
        concrete = false;
        break;
      }
      desc.outputs.push_back({x.dtype, *dims});
      auto b = byteSize(x.dtype, *dims, x.name);
      if (!b) return b.status();
      outBytes += *b;
    }
    if (!concrete || outBytes > foldLimitBytes) continue;
    auto values = evaluator.evaluate(desc);
    if (!values) return values.status().withContext("constant folding");
    // fold: Kind(constants...) -> Constant(evaluated on the reference backend)
    replaceByConstants(net, id, std::move(*values));
    log.add("fold: " + what + " -> constant");
    ++folded;
  }
  if (folded) log.add("fold: " + std::to_string(folded) + " layers folded to constants");
  if (symbolic)
    log.add("fold: " + std::to_string(symbolic) +
            " shape computations folded to symbolic constants");
  return net.topologicalSort();
}

}  // namespace kiln
