#include "passes/rule_util.h"

namespace kiln {

std::vector<int64_t> transposePerm(const NetworkDefinition& net, const Layer& l) {
  const auto& a = l.as<ShuffleAttrs>();
  if (!a.perm.empty()) return a.perm;
  const size_t rank = net.tensor(l.inputs.at(0)).shape.size();
  std::vector<int64_t> p(rank);
  for (size_t i = 0; i < rank; ++i)
    p[i] = static_cast<int64_t>(rank - 1 - i);
  return p;
}

const Layer* producerOf(const NetworkDefinition& net, TensorId t) {
  if (t == kNoTensor) return nullptr;
  LayerId p = net.tensor(t).producer;
  if (p < 0 || net.layer(p).removed) return nullptr;
  return &net.layer(p);
}

bool isFloat(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64;
}

}  // namespace kiln
