#include <vector>

#include "passes/events.h"
#include "passes/passes.h"

namespace kiln {

// A layer is live when one of its outputs is a graph output or is read by a live layer.
int eliminateDeadCode(NetworkDefinition& net, BuildLog& log) {
  const auto& layers = net.layers();
  std::vector<bool> needed(net.tensors().size(), false);
  for (TensorId t : net.outputs())
    needed[t] = true;
  int removed = 0;
  EventBuilder event("dce", "dce");
  for (size_t i = layers.size(); i-- > 0;) {
    const Layer& l = layers[i];
    if (l.removed) continue;
    bool live = false;
    for (TensorId t : l.outputs)
      live = live || needed[t];
    if (!live) {
      event.matched(net, static_cast<LayerId>(i));
      net.removeLayer(static_cast<LayerId>(i));
      ++removed;
      continue;
    }
    for (TensorId t : l.inputs)
      if (t != kNoTensor) needed[t] = true;
  }
  if (removed) {
    event.commit(net);
    log.add("dce: removed " + std::to_string(removed) + " unused layers");
  }
  return removed;
}

}  // namespace kiln
