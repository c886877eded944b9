#include "builder/precision.h"

#include <map>
#include <utility>

#include "ir/pointwise_expr.h"
#include "ir/shape_inference.h"
#include "util/float16.h"

namespace kiln {
namespace {

/// Why a layer of this kind stays float32 in `narrow` ("" when it may be lowered). Kernels of
/// the kinds listed accumulate in float32 whatever their storage type, so storing their
/// inputs and outputs narrow costs one rounding per tensor. Sums over many elements, cumulative
/// sums and the integer-valued layers stay float32; float16 also keeps exp, log and pow, whose
/// results leave its range (65504) for ordinary inputs.
std::string kindRefusal(const Layer& l, DataType narrow) {
  const bool half = narrow == DataType::kFloat16;
  switch (l.kind()) {
    case LayerKind::kConvolution:
    case LayerKind::kMatrixMultiply:
    case LayerKind::kPooling:
    case LayerKind::kActivation:
    case LayerKind::kSoftmax:
    case LayerKind::kNormalization:
    case LayerKind::kShuffle:
    case LayerKind::kConcatenation:
    case LayerKind::kSlice:
    case LayerKind::kSplit:
    case LayerKind::kGather:
    case LayerKind::kSelect:
    case LayerKind::kExpand:
    case LayerKind::kAttention:
    case LayerKind::kPad:
    case LayerKind::kResize:
      return "";
    case LayerKind::kUnary: {
      const UnaryKind u = l.as<UnaryAttrs>().kind;
      if (half && (u == UnaryKind::kExp || u == UnaryKind::kLog))
        return std::string(enumName(u)) + " leaves float16's range";
      return "";
    }
    case LayerKind::kElementwise:
      if (half && l.as<ElementwiseAttrs>().kind == ElementwiseKind::kPow)
        return "pow leaves float16's range";
      return "";
    case LayerKind::kPointwise: {
      auto e = pointwise::parse(l.as<PointwiseAttrs>().expression);
      if (!e) return "its expression does not parse: " + e.status().message();
      for (const pointwise::Node& n : e->nodes) {
        using Op = pointwise::Node::Op;
        if (half && n.op == Op::kUnary &&
            (n.unary == UnaryKind::kExp || n.unary == UnaryKind::kLog))
          return std::string("its ") + enumName(n.unary) + " leaves float16's range";
        if (half && n.op == Op::kBinary && n.binary == ElementwiseKind::kPow)
          return "its pow leaves float16's range";
      }
      return "";
    }
    default:
      return std::string(layerKindName(l.kind())) + " layers keep float32 accuracy";
  }
}

Expected<Weights> narrowed(const Weights& w, DataType narrow) {
  KILN_ASSIGN_OR_RETURN(Weights out, Weights::zeros(narrow, w.dims(), "narrowed constant"));
  storeNarrow(w.as<float>(), narrow == DataType::kFloat16,
              static_cast<uint16_t*>(out.mutableData()), w.count());
  return out;
}

}  // namespace

Expected<PrecisionReport> lowerPrecision(NetworkDefinition& net, const Backend& target,
                                         DataType narrow, const ConcreteShapes& opt) {
  if (narrow != DataType::kFloat16 && narrow != DataType::kBFloat16)
    return invalidArgument(std::string("lowerPrecision: ") + dataTypeName(narrow) +
                           " is not a narrow float type");
  PrecisionReport report;
  const std::string narrowName = dataTypeName(narrow);
  const size_t layerCount = net.layers().size();
  std::vector<DataType> original;
  for (const Tensor& t : net.tensors())
    original.push_back(t.dtype);
  auto narrows = [&](const Layer& l, size_t k) {
    const TensorId t = l.inputs[k];
    return t != kNoTensor && original[t] == DataType::kFloat32 && !isParamInput(l.kind(), k);
  };

  // Float32 constants stored narrow, made once per tensor (the check and the rewrite share them).
  std::map<TensorId, Weights> narrowValue;
  auto narrowConstant = [&](TensorId t) -> Expected<const Weights*> {
    auto it = narrowValue.find(t);
    if (it != narrowValue.end()) return &it->second;
    KILN_ASSIGN_OR_RETURN(Weights w, narrowed(*net.constantValue(t), narrow));
    return &narrowValue.emplace(t, std::move(w)).first->second;
  };

  // Decide: a layer is lowered when its kind allows it, inference gives narrow outputs for
  // narrow inputs, and the target has a tactic for it so.
  std::vector<bool> lowered(layerCount, false);
  for (size_t i = 0; i < layerCount; ++i) {
    const Layer& l = net.layers()[i];
    if (l.removed || l.kind() == LayerKind::kConstant) continue;
    bool floatLayer = false;
    for (TensorId t : l.outputs)
      floatLayer = floatLayer || original[t] == DataType::kFloat32;
    if (!floatLayer) continue;
    const LayerId id = static_cast<LayerId>(i);
    std::string why = kindRefusal(l, narrow);
    if (why.empty()) {
      InferDesc infer = inferDescOf(net, id);
      LayerDesc desc = concreteLayerDesc(net, id, opt);
      desc.allowTf32 = true;
      for (size_t k = 0; k < l.inputs.size() && why.empty(); ++k) {
        if (!narrows(l, k)) continue;
        infer.inputs[k].dtype = narrow;
        desc.inputs[k].dtype = narrow;
        if (net.constantValue(l.inputs[k])) {
          auto w = narrowConstant(l.inputs[k]);
          if (!w) return w.status().withContext("layer '" + l.name + "'");
          infer.constantInputs[k] = *w;
          desc.constantInputs[k] = *w;
        }
      }
      auto outs = inferOutputs(infer);
      if (!outs) {
        why = "inference refuses " + narrowName + " inputs (" + outs.status().message() + ")";
      } else {
        for (size_t k = 0; k < l.outputs.size() && why.empty(); ++k) {
          const DataType want =
              original[l.outputs[k]] == DataType::kFloat32 ? narrow : original[l.outputs[k]];
          if (k >= outs->size() || (*outs)[k].dtype != want)
            why = "its output " + net.tensor(l.outputs[k]).name + " would not be " +
                  dataTypeName(want);
          desc.outputs[k].dtype = want;
        }
      }
      if (why.empty()) {
        Status s = target.supports(desc);
        if (!s.isOk())
          why =
              "no " + target.name() + " tactic runs it in " + narrowName + " (" + s.message() + ")";
      }
    }
    if (!why.empty()) {
      report.keptFloat32.push_back(l.name + " (" + layerKindName(l.kind()) + "): " + why);
      continue;
    }
    lowered[i] = true;
    ++report.lowered;
  }

  // Rewrite: lowered layers write narrow tensors; every input gets the type its reader takes,
  // through one reformat layer (or one narrow copy of a constant) per tensor and type.
  for (size_t i = 0; i < layerCount; ++i) {
    if (!lowered[i]) continue;
    Layer& l = net.layer(static_cast<LayerId>(i));
    l.rules.push_back("lower-precision");
    for (TensorId t : l.outputs)
      if (original[t] == DataType::kFloat32) net.tensor(t).dtype = narrow;
    net.provenance().events.push_back(
        {"precision", "lower-precision", {l.name}, {l.name}, l.origins, {}});
  }
  std::map<std::pair<TensorId, DataType>, TensorId> converted;
  auto convert = [&](TensorId t, DataType to) -> Expected<TensorId> {
    auto key = std::make_pair(t, to);
    auto it = converted.find(key);
    if (it != converted.end()) return it->second;
    const std::string base = net.tensor(t).name;
    TensorId out = kNoTensor;
    if (net.constantValue(t) && to == narrow) {
      KILN_ASSIGN_OR_RETURN(const Weights* w, narrowConstant(t));
      out = net.addConstant(net.uniqueName(base + "/" + narrowName), *w);
      Layer& c = net.layer(net.tensor(out).producer);
      c.rules.push_back("store-narrow");
      ++report.converted;
      net.provenance().events.push_back({"precision", "store-narrow", {base}, {c.name}, {}, {}});
    } else {
      const std::string name = net.uniqueName(base + "/to_" + dataTypeName(to));
      KILN_ASSIGN_OR_RETURN(LayerId id, net.addLayer(name, CastAttrs{to}, {t}, 1, {name}));
      KILN_RETURN_IF_ERROR(inferLayer(net, id));
      net.layer(id).rules.push_back("insert-reformat");
      out = net.layer(id).outputs[0];
      ++report.reformats;
      net.provenance().events.push_back(
          {"precision", "insert-reformat", {}, {net.layer(id).name}, {}, {}});
    }
    converted.emplace(key, out);
    return out;
  };
  for (size_t i = 0; i < layerCount; ++i) {
    const LayerId id = static_cast<LayerId>(i);
    if (net.layer(id).removed || net.layer(id).kind() == LayerKind::kConstant) continue;
    // Only a shape is read: any element type will do.
    if (net.layer(id).kind() == LayerKind::kShapeOf) continue;
    for (size_t k = 0; k < net.layer(id).inputs.size(); ++k) {
      const TensorId t = net.layer(id).inputs[k];
      if (t == kNoTensor) continue;
      const DataType want = lowered[i] && narrows(net.layer(id), k) ? narrow : original[t];
      if (net.tensor(t).dtype == want) continue;
      KILN_ASSIGN_OR_RETURN(TensorId c, convert(t, want));
      net.setLayerInput(id, k, c);
    }
  }
  // Graph outputs keep their declared types and names.
  for (size_t k = 0; k < net.outputs().size(); ++k) {
    const TensorId t = net.outputs()[k];
    if (net.tensor(t).dtype == original[t]) continue;
    const std::string name = net.tensor(t).name;
    net.renameTensor(t, net.uniqueName(name + "/" + narrowName));
    KILN_ASSIGN_OR_RETURN(TensorId c, convert(t, original[t]));
    net.renameTensor(c, name);
    for (size_t j = k; j < net.outputs().size(); ++j)
      if (net.outputs()[j] == t) net.setOutput(j, c);
  }
  // Constants that no reader takes in float32 any more leave; their source nodes go with the
  // narrow copy.
  for (auto& [key, to] : converted) {
    const TensorId t = key.first;
    if (!net.constantValue(t) || key.second != narrow) continue;
    if (!net.consumers(t).empty() || net.tensor(t).isOutput) continue;
    const LayerId old = net.tensor(t).producer;
    Layer& copy = net.layer(net.tensor(to).producer);
    copy.origins = net.layer(old).origins;
    net.removeLayer(old);
  }
  KILN_RETURN_IF_ERROR(net.topologicalSort());
  net.compact();
  KILN_RETURN_IF_ERROR(net.verify());
  return report;
}

}  // namespace kiln
