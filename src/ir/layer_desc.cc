#include "ir/layer_desc.h"

namespace kiln {

Expected<std::vector<int64_t>> LayerDesc::intsInput(size_t k) const {
  std::string what = "layer '" + layer->name + "' (" + layerKindName(layer->kind()) + "): input " +
                     std::to_string(k);
  if (!hasInput(k)) return invalidModel(what + " is required but absent");
  if (k >= constantInputs.size() || constantInputs[k] == nullptr)
    return unsupported(what +
                       " must be a build-time constant (shapes that depend on runtime data are "
                       "not supported yet)");
  auto v = constantInputs[k]->toInts();
  if (!v) return v.status().withContext(what);
  return v;
}

}  // namespace kiln
