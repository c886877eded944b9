#include <set>

#include "passes/passes.h"

namespace kiln {

namespace {

bool isIdentity(const NetworkDefinition& net, const Layer& l) {
  if (l.kind() == LayerKind::kUnary) return l.as<UnaryAttrs>().kind == UnaryKind::kIdentity;
  if (l.kind() == LayerKind::kShuffle && l.inputs[0] != kNoTensor) {
    // A reshape/squeeze/unsqueeze/flatten that keeps the shape, or an identity permutation.
    const Tensor& in = net.tensor(l.inputs[0]);
    const Tensor& out = net.tensor(l.outputs[0]);
    if (!in.shapeKnown || !out.shapeKnown || !(in.shape == out.shape)) return false;
    const auto& a = l.as<ShuffleAttrs>();
    if (a.mode != ShuffleMode::kTranspose) return true;
    for (size_t i = 0; i < a.perm.size(); ++i)
      if (a.perm[i] != static_cast<int64_t>(i)) return false;
    return !a.perm.empty() || in.shape.size() <= 1;
  }
  return false;
}

}  // namespace

int removeIdentities(NetworkDefinition& net, BuildLog& log) {
  int removed = 0;
  for (size_t i = 0; i < net.layers().size(); ++i) {
    Layer& l = net.layer(static_cast<LayerId>(i));
    if (l.removed || !isIdentity(net, l)) continue;
    TensorId in = l.inputs[0], out = l.outputs[0];
    // Keep the graph output's name: an identity that produces an output stays (copy).
    if (net.tensor(out).isOutput) continue;
    // identity(x) -> x
    net.replaceAllUses(out, in);
    net.removeLayer(static_cast<LayerId>(i));
    ++removed;
  }
  if (removed) log.add("identity: removed " + std::to_string(removed) + " identity layers");
  return removed;
}

Status materializeOutputs(NetworkDefinition& net, BuildLog& log) {
  std::set<TensorId> seen;
  for (size_t i = 0; i < net.outputs().size(); ++i) {
    TensorId t = net.outputs()[i];
    const Tensor x = net.tensor(t);
    const LayerId producer = net.tensor(t).producer;
    bool constant = net.constantValue(t) != nullptr ||
                    (producer >= 0 && net.layer(producer).kind() == LayerKind::kSymbolicConstant);
    bool duplicate = !seen.insert(t).second;
    if (!x.isInput && !constant && !duplicate) continue;
    // The output is not written by an executed layer of its own: give it an Identity copy
    // that takes over its name.
    std::string name = x.name;
    std::string why = x.isInput ? "a graph input" : constant ? "a constant" : "listed twice";
    auto lid = net.addLayer(name + "#copy", UnaryAttrs{UnaryKind::kIdentity}, {t}, 1);
    if (!lid) return lid.status();
    TensorId copy = net.layer(*lid).outputs[0];
    Tensor& c = net.tensor(copy);
    c.dtype = net.tensor(t).dtype;
    c.shape = net.tensor(t).shape;
    c.shapeKnown = true;
    net.setOutput(i, copy);
    if (x.isInput) {
      // Inputs keep their names; the output copy gets a distinct one.
      net.renameTensor(copy, name + ":output");
    } else if (!duplicate) {
      net.renameTensor(t, name + "#source");
      net.renameTensor(copy, name);
    } else {
      net.renameTensor(copy, name + "#" + std::to_string(i));
    }
    log.add("output: '" + name + "' is " + why + "; copied by an identity layer");
  }
  return Status::ok();
}

}  // namespace kiln
