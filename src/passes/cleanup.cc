#include <set>

#include "passes/passes.h"

namespace kiln {

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
    net.layer(*lid).rules = {"output-copy"};
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
