#include <set>

#include "passes/passes.h"

namespace kiln {

Status bindInputShapes(NetworkDefinition& net, const std::map<std::string, Dims>& inputShapes,
                       const std::map<std::string, int64_t>& symbols, BuildLog& log) {
  for (const auto& [name, dims] : inputShapes) {
    TensorId t = net.findTensor(name);
    if (t < 0 || !net.tensor(t).isInput) {
      std::string known;
      for (TensorId in : net.inputs())
        known += (known.empty() ? "" : ", ") + net.tensor(in).name;
      return invalidArgument("a shape was given for '" + name +
                             "', which is not an input of the network (inputs: " + known + ")");
    }
  }
  std::map<std::string, int64_t> values = symbols;
  for (TensorId in : net.inputs()) {
    Tensor& t = net.tensor(in);
    auto given = inputShapes.find(t.name);
    if (given == inputShapes.end()) continue;
    const Dims& dims = given->second;
    if (dims.size() != t.shape.size())
      return invalidArgument("input '" + t.name + "' has rank " + std::to_string(t.shape.size()) +
                             " " + shapeToString(t.shape) + ", but the shape given is " +
                             dimsToString(dims));
    for (size_t i = 0; i < dims.size(); ++i) {
      const Dim& d = t.shape[i];
      if (dims[i] < 0)
        return invalidArgument("input '" + t.name + "': dimension " + std::to_string(i) +
                               " of the given shape is negative");
      if (d.isStatic() && d.value != dims[i])
        return invalidArgument("input '" + t.name + "' has static dimension " + std::to_string(i) +
                               " = " + std::to_string(d.value) + " (shape " +
                               shapeToString(t.shape) + "), but the shape given is " +
                               dimsToString(dims));
      if (!d.symbol.empty()) {
        auto it = values.find(d.symbol);
        if (it != values.end() && it->second != dims[i])
          return invalidArgument("symbol '" + d.symbol + "' is " + std::to_string(it->second) +
                                 " elsewhere but input '" + t.name + "' gives it " +
                                 std::to_string(dims[i]));
        values[d.symbol] = dims[i];
      }
    }
  }
  std::set<std::string> missing;
  for (TensorId in : net.inputs()) {
    Tensor& t = net.tensor(in);
    for (Dim& d : t.shape) {
      if (d.isStatic()) continue;
      auto it = values.find(d.symbol);
      if (it == values.end()) {
        return invalidArgument("input '" + t.name + "' has dynamic shape " +
                               shapeToString(t.shape) + ": give its shape (kiln --shapes " +
                               t.name +
                               "=AxBx..., or BuilderConfig::inputShapes) or the value "
                               "of symbol '" +
                               d.symbol + "'");
      }
    }
  }
  // Substitute every symbol in the network (inputs and any annotated tensors).
  for (size_t i = 0; i < net.tensors().size(); ++i) {
    Tensor& t = net.tensor(static_cast<TensorId>(i));
    for (Dim& d : t.shape) {
      if (d.symbol.empty()) continue;
      auto it = values.find(d.symbol);
      if (it != values.end()) d = Dim::fixed(it->second);
    }
  }
  for (const auto& [sym, v] : values)
    log.add("bind: symbol " + sym + " = " + std::to_string(v));
  return Status::ok();
}

}  // namespace kiln
