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

Expected<TensorId> shapeTensor(Rewriter& rw, std::string base, const Shape& dims) {
  if (auto d = staticDims(dims)) return rw.addConstant(base, Weights::fromInts(*d));
  for (const Dim& d : dims)
    if (!d.isKnown()) return internalError("shape tensor '" + base + "': a dim is unknown");
  SymbolicConstantAttrs a;
  a.dtype = DataType::kInt64;
  a.dims = {static_cast<int64_t>(dims.size())};
  a.values = dims;
  return rw.add(base, a, {});
}

Expected<TensorId> reshapeTo(Rewriter& rw, std::string base, TensorId x, const Shape& dims) {
  KILN_ASSIGN_OR_RETURN(TensorId shape, shapeTensor(rw, base + "#shape", dims));
  ShuffleAttrs a;
  a.mode = ShuffleMode::kReshape;
  a.allowZero = true;
  return rw.add(base, a, {x, shape});
}

}  // namespace kiln
