#include "kiln/network.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "util/api_guard.h"

namespace kiln {

TensorId NetworkDefinition::newTensor(const std::string& name) {
  Tensor t;
  t.name = name;
  tensors_.push_back(std::move(t));
  users_.emplace_back();
  auto id = static_cast<TensorId>(tensors_.size() - 1);
  byName_[name] = id;
  return id;
}

void NetworkDefinition::renameTensor(TensorId t, const std::string& name) {
  Tensor& x = tensor(t);
  auto it = byName_.find(x.name);
  if (it != byName_.end() && it->second == t) byName_.erase(it);
  x.name = name;
  if (!x.removed) byName_[name] = t;
}

void NetworkDefinition::addUse(TensorId t, LayerId l) {
  if (t == kNoTensor) return;
  auto& u = users_[static_cast<size_t>(t)];
  if (std::find(u.begin(), u.end(), l) == u.end()) u.push_back(l);
}

void NetworkDefinition::dropUse(TensorId t, LayerId l) {
  if (t == kNoTensor) return;
  const Layer& layer = layers_[static_cast<size_t>(l)];
  // The layer may still read `t` through another input slot.
  if (!layer.removed && std::count(layer.inputs.begin(), layer.inputs.end(), t) > 0) return;
  auto& u = users_[static_cast<size_t>(t)];
  u.erase(std::remove(u.begin(), u.end(), l), u.end());
}

void NetworkDefinition::rebuildUses() {
  users_.assign(tensors_.size(), {});
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].removed) continue;
    for (TensorId t : layers_[i].inputs)
      addUse(t, static_cast<LayerId>(i));
  }
}

std::string NetworkDefinition::uniqueName(const std::string& base) const {
  if (findTensor(base) < 0) return base;
  for (int i = 1;; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (findTensor(n) < 0) return n;
  }
}

Expected<TensorId> NetworkDefinition::addInput(const std::string& name, DataType dtype,
                                               const Shape& shape) try {
  if (name.empty()) return invalidArgument("graph input with an empty name");
  if (findTensor(name) >= 0) return invalidArgument("duplicate tensor name '" + name + "'");
  TensorId id = newTensor(name);
  Tensor& t = tensors_[id];
  t.dtype = dtype;
  t.shape = shape;
  t.shapeKnown = true;
  t.isInput = true;
  inputs_.push_back(id);
  return id;
} catch (...) {
  return exceptionToStatus("NetworkDefinition::addInput");
}

TensorId NetworkDefinition::addConstant(const std::string& name, Weights value) {
  std::string tname = uniqueName(name.empty() ? "const" : name);
  Layer l;
  l.name = tname;
  DataType dtype = value.dtype();
  Shape shape = shapeFromDims(value.dims());
  l.attrs = ConstantAttrs{std::move(value)};
  TensorId id = newTensor(tname);
  Tensor& t = tensors_[id];
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.shapeKnown = true;
  t.producer = static_cast<LayerId>(layers_.size());
  l.outputs = {id};
  layers_.push_back(std::move(l));
  return id;
}

Expected<LayerId> NetworkDefinition::addLayer(const std::string& name, LayerAttrs attrs,
                                              const std::vector<TensorId>& inputs, int numOutputs,
                                              const std::vector<std::string>& outputNames) try {
  if (std::holds_alternative<std::monostate>(attrs))
    return invalidArgument("layer '" + name + "' has no attributes (no kind)");
  for (TensorId in : inputs) {
    if (in == kNoTensor) continue;
    if (in < 0 || static_cast<size_t>(in) >= tensors_.size() || tensors_[in].removed)
      return invalidArgument("layer '" + name + "' reads tensor id " + std::to_string(in) +
                             ", which does not exist");
  }
  if (!outputNames.empty() && outputNames.size() != static_cast<size_t>(numOutputs))
    return invalidArgument("layer '" + name + "': " + std::to_string(outputNames.size()) +
                           " output names for " + std::to_string(numOutputs) + " outputs");
  if (numOutputs < 0)
    return invalidArgument("layer '" + name + "': negative number of outputs " +
                           std::to_string(numOutputs));
  // Names are checked before any tensor is created, so that a refused layer leaves the network
  // as it was.
  for (size_t k = 0; k < outputNames.size(); ++k) {
    if (findTensor(outputNames[k]) >= 0 ||
        std::find(outputNames.begin(), outputNames.begin() + static_cast<long>(k),
                  outputNames[k]) != outputNames.begin() + static_cast<long>(k))
      return invalidArgument("layer '" + name + "': output tensor '" + outputNames[k] +
                             "' is already defined");
  }
  LayerId lid = static_cast<LayerId>(layers_.size());
  Layer l;
  l.name = name;
  l.attrs = std::move(attrs);
  l.inputs = inputs;
  for (TensorId in : inputs)
    addUse(in, lid);
  for (int k = 0; k < numOutputs; ++k) {
    std::string tname;
    if (!outputNames.empty()) {
      tname = outputNames[k];
    } else {
      tname = uniqueName(name + (numOutputs == 1 ? std::string() : ":" + std::to_string(k)));
    }
    TensorId t = newTensor(tname);
    tensors_[t].producer = lid;
    l.outputs.push_back(t);
  }
  layers_.push_back(std::move(l));
  return lid;
} catch (...) {
  return exceptionToStatus("NetworkDefinition::addLayer");
}

Status NetworkDefinition::markOutput(TensorId tensor) try {
  if (tensor < 0 || static_cast<size_t>(tensor) >= tensors_.size() || tensors_[tensor].removed)
    return invalidArgument("markOutput: tensor id " + std::to_string(tensor) + " does not exist");
  if (tensors_[tensor].isOutput)
    return invalidArgument("tensor '" + tensors_[tensor].name + "' is already an output");
  tensors_[tensor].isOutput = true;
  outputs_.push_back(tensor);
  return Status::ok();
} catch (...) {
  return exceptionToStatus("NetworkDefinition::markOutput");
}

namespace {
Expected<TensorId> singleOutput(NetworkDefinition& net, Expected<LayerId> lid) {
  if (!lid) return lid.status();
  return net.layer(*lid).outputs[0];
}
}  // namespace

Expected<TensorId> NetworkDefinition::addActivation(TensorId x, ActivationKind kind, float alpha,
                                                    float beta) {
  std::string name = std::string(enumName(kind)) + "_" + std::to_string(layers_.size());
  return singleOutput(*this, addLayer(name, ActivationAttrs{kind, alpha, beta}, {x}));
}

Expected<TensorId> NetworkDefinition::addElementwise(TensorId a, TensorId b, ElementwiseKind kind) {
  std::string name = std::string(enumName(kind)) + "_" + std::to_string(layers_.size());
  return singleOutput(*this, addLayer(name, ElementwiseAttrs{kind}, {a, b}));
}

Expected<TensorId> NetworkDefinition::addConvolution(TensorId x, TensorId w, TensorId b,
                                                     ConvolutionAttrs attrs) {
  std::string name = "conv_" + std::to_string(layers_.size());
  return singleOutput(*this, addLayer(name, std::move(attrs), {x, w, b}));
}

Expected<TensorId> NetworkDefinition::addMatrixMultiply(TensorId a, TensorId b, TensorId c,
                                                        MatrixMultiplyAttrs attrs) {
  std::string name = "matmul_" + std::to_string(layers_.size());
  std::vector<TensorId> ins = {a, b};
  if (c != kNoTensor) ins.push_back(c);
  return singleOutput(*this, addLayer(name, attrs, ins));
}

TensorId NetworkDefinition::findTensor(const std::string& name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? -1 : it->second;
}

const Weights* NetworkDefinition::constantValue(TensorId t) const {
  if (t < 0 || static_cast<size_t>(t) >= tensors_.size()) return nullptr;
  LayerId p = tensors_[t].producer;
  if (p < 0 || layers_[p].removed || layers_[p].kind() != LayerKind::kConstant) return nullptr;
  return &layers_[p].as<ConstantAttrs>().value;
}

size_t NetworkDefinition::liveLayerCount() const {
  return static_cast<size_t>(
      std::count_if(layers_.begin(), layers_.end(), [](const Layer& l) { return !l.removed; }));
}

void NetworkDefinition::replaceLayerUses(TensorId from, TensorId to) {
  if (from == to) return;
  std::vector<LayerId> readers = users_[static_cast<size_t>(from)];
  for (LayerId l : readers) {
    for (TensorId& in : layers_[static_cast<size_t>(l)].inputs)
      if (in == from) in = to;
    addUse(to, l);
  }
  users_[static_cast<size_t>(from)].clear();
}

void NetworkDefinition::replaceAllUses(TensorId from, TensorId to) {
  replaceLayerUses(from, to);
  for (TensorId& out : outputs_) {
    if (out == from) {
      out = to;
      tensors_[to].isOutput = true;
      tensors_[from].isOutput = false;
    }
  }
}

void NetworkDefinition::setLayerInput(LayerId id, size_t k, TensorId t) {
  Layer& l = layers_.at(static_cast<size_t>(id));
  TensorId old = l.inputs.at(k);
  l.inputs[k] = t;
  dropUse(old, id);
  addUse(t, id);
}

void NetworkDefinition::setLayerInputs(LayerId id, const std::vector<TensorId>& inputs) {
  Layer& l = layers_.at(static_cast<size_t>(id));
  std::vector<TensorId> old = std::move(l.inputs);
  l.inputs = inputs;
  for (TensorId t : old)
    dropUse(t, id);
  for (TensorId t : inputs)
    addUse(t, id);
}

void NetworkDefinition::setOutput(size_t index, TensorId t) {
  TensorId old = outputs_.at(index);
  outputs_[index] = t;
  tensors_[t].isOutput = true;
  tensors_[old].isOutput = std::find(outputs_.begin(), outputs_.end(), old) != outputs_.end();
}

void NetworkDefinition::removeLayer(LayerId id) {
  Layer& l = layers_.at(static_cast<size_t>(id));
  l.removed = true;
  for (TensorId t : l.inputs)
    dropUse(t, id);
  for (TensorId t : l.outputs) {
    tensors_[t].removed = true;
    if (byName_.count(tensors_[t].name) && byName_[tensors_[t].name] == t)
      byName_.erase(tensors_[t].name);
  }
}

const std::vector<LayerId>& NetworkDefinition::consumers(TensorId t) const {
  return users_.at(static_cast<size_t>(t));
}

bool NetworkDefinition::hasSingleUse(TensorId t) const {
  return consumers(t).size() == 1 && !tensors_.at(static_cast<size_t>(t)).isOutput;
}

void NetworkDefinition::compact() {
  // Canonical tensor order: graph inputs, then each live layer's outputs in layer order. A
  // network rebuilt from a plan (inputs first, then layers) gets the same ids.
  std::vector<TensorId> tmap(tensors_.size(), kNoTensor);
  std::deque<Tensor> nt;
  auto take = [&](TensorId t) {
    if (tmap[t] != kNoTensor || tensors_[t].removed) return;
    tmap[t] = static_cast<TensorId>(nt.size());
    nt.push_back(tensors_[t]);
  };
  for (TensorId t : inputs_)
    take(t);
  for (const Layer& l : layers_)
    if (!l.removed)
      for (TensorId t : l.outputs)
        take(t);
  std::deque<Layer> nl;
  for (Layer& l : layers_) {
    if (l.removed) continue;
    for (TensorId& t : l.inputs)
      if (t != kNoTensor) t = tmap[t];
    for (TensorId& t : l.outputs)
      t = tmap[t];
    for (TensorId t : l.outputs)
      nt[t].producer = static_cast<LayerId>(nl.size());
    nl.push_back(std::move(l));
  }
  for (TensorId& t : inputs_)
    t = tmap[t];
  for (TensorId& t : outputs_)
    t = tmap[t];
  tensors_ = std::move(nt);
  layers_ = std::move(nl);
  byName_.clear();
  for (size_t i = 0; i < tensors_.size(); ++i)
    byName_[tensors_[i].name] = static_cast<TensorId>(i);
  rebuildUses();
}

Status NetworkDefinition::topologicalSort() try {
  // Kahn's algorithm, taking ready layers in their current order (stable).
  size_t n = layers_.size();
  for (const Layer& l : layers_)
    for (TensorId out : l.outputs)
      if (out < 0 || static_cast<size_t>(out) >= tensors_.size())
        return invalidModel("layer '" + l.name + "' writes tensor id " + std::to_string(out) +
                            ", which does not exist");
  std::vector<int> pending(n, 0);
  std::unordered_map<TensorId, std::vector<LayerId>> readers;
  for (size_t i = 0; i < n; ++i) {
    if (layers_[i].removed) continue;
    std::unordered_set<TensorId> seen;
    for (TensorId in : layers_[i].inputs) {
      if (in == kNoTensor || !seen.insert(in).second) continue;
      if (in < 0 || static_cast<size_t>(in) >= tensors_.size())
        return invalidModel("layer '" + layers_[i].name + "' reads tensor id " +
                            std::to_string(in) + ", which does not exist");
      LayerId p = tensors_[in].producer;
      if (p >= 0 && static_cast<size_t>(p) < n && !layers_[p].removed) {
        ++pending[i];
        readers[in].push_back(static_cast<LayerId>(i));
      }
    }
  }
  std::vector<LayerId> order;
  std::vector<bool> done(n, false);
  bool progress = true;
  while (progress) {
    progress = false;
    for (size_t i = 0; i < n; ++i) {
      if (layers_[i].removed || done[i] || pending[i] != 0) continue;
      done[i] = true;
      progress = true;
      order.push_back(static_cast<LayerId>(i));
      for (TensorId out : layers_[i].outputs)
        for (LayerId r : readers[out])
          --pending[r];
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (!layers_[i].removed && !done[i])
      return invalidModel("the graph has a cycle through layer '" + layers_[i].name + "'");
  std::deque<Layer> sorted;
  std::vector<LayerId> newId(n, -1);
  for (LayerId id : order) {
    newId[id] = static_cast<LayerId>(sorted.size());
    sorted.push_back(std::move(layers_[id]));
  }
  for (size_t i = 0; i < n; ++i)
    if (layers_[i].removed) sorted.push_back(std::move(layers_[i]));  // keep tombstones last
  for (size_t i = 0; i < n; ++i)
    if (newId[i] < 0) newId[i] = static_cast<LayerId>(order.size() + 0);  // unused
  layers_ = std::move(sorted);
  for (size_t i = 0; i < layers_.size(); ++i)
    for (TensorId t : layers_[i].outputs)
      tensors_[t].producer = static_cast<LayerId>(i);
  rebuildUses();
  return Status::ok();
} catch (...) {
  return exceptionToStatus("NetworkDefinition::topologicalSort");
}

Status NetworkDefinition::verify() const try {
  // Tensors and layers are public structs that a caller may edit: every id is range-checked
  // here before anything indexes with it.
  auto validTensor = [&](TensorId t) {
    return t >= 0 && static_cast<size_t>(t) < tensors_.size() && !tensors_[t].removed;
  };
  std::unordered_set<std::string> names;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    if (t.removed) continue;
    if (!names.insert(t.name).second) return invalidModel("two tensors are named '" + t.name + "'");
    if (t.producer < 0 && !t.isInput)
      return invalidModel("tensor '" + t.name +
                          "' is neither a graph input nor produced by a layer");
    if (t.producer >= 0) {
      if (static_cast<size_t>(t.producer) >= layers_.size() || layers_[t.producer].removed)
        return invalidModel("tensor '" + t.name + "' names producer layer " +
                            std::to_string(t.producer) + ", which does not exist");
      const auto& outs = layers_[t.producer].outputs;
      if (std::find(outs.begin(), outs.end(), static_cast<TensorId>(i)) == outs.end())
        return invalidModel("tensor '" + t.name + "' is not an output of its producer '" +
                            layers_[t.producer].name + "'");
    }
  }
  std::vector<bool> defined(tensors_.size(), false);
  for (TensorId in : inputs_) {
    if (!validTensor(in))
      return invalidModel("a graph input refers to a removed or unknown tensor");
    defined[in] = true;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    if (l.removed) continue;
    if (std::holds_alternative<std::monostate>(l.attrs))
      return invalidModel("layer '" + l.name + "' has no attributes (no kind)");
    for (TensorId out : l.outputs)
      if (!validTensor(out))
        return invalidModel("layer '" + l.name + "' writes a removed or unknown tensor id " +
                            std::to_string(out));
    for (size_t k = 0; k < l.inputs.size(); ++k) {
      TensorId in = l.inputs[k];
      if (in == kNoTensor) continue;
      if (in < 0 || static_cast<size_t>(in) >= tensors_.size() || tensors_[in].removed)
        return invalidModel("layer '" + l.name + "' input " + std::to_string(k) +
                            " refers to a removed or unknown tensor");
      if (!defined[in])
        return invalidModel("layer '" + l.name + "' reads '" + tensors_[in].name +
                            "' before it is produced");
    }
    for (TensorId out : l.outputs) {
      if (tensors_[out].producer != static_cast<LayerId>(i))
        return invalidModel("tensor '" + tensors_[out].name + "' has an inconsistent producer");
      defined[out] = true;
    }
  }
  // The use-def index: exactly the live readers of each tensor.
  if (users_.size() != tensors_.size())
    return invalidModel("use-def index: " + std::to_string(users_.size()) + " entries for " +
                        std::to_string(tensors_.size()) + " tensors");
  size_t uses = 0, indexed = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    if (l.removed) continue;
    std::unordered_set<TensorId> seen;
    for (TensorId in : l.inputs) {
      if (in == kNoTensor || !seen.insert(in).second) continue;
      ++uses;
      const auto& u = users_[static_cast<size_t>(in)];
      if (std::find(u.begin(), u.end(), static_cast<LayerId>(i)) == u.end())
        return invalidModel("use-def index: layer '" + l.name + "' reads '" + tensors_[in].name +
                            "' but is not listed as its user (an edit bypassed the mutators)");
    }
  }
  for (const auto& u : users_)
    indexed += u.size();
  if (indexed != uses)
    return invalidModel("use-def index lists " + std::to_string(indexed) +
                        " uses, the layers make " + std::to_string(uses) +
                        " (an edit bypassed the mutators)");
  if (outputs_.empty()) return invalidModel("the network has no outputs");
  for (TensorId out : outputs_) {
    if (out < 0 || static_cast<size_t>(out) >= tensors_.size() || tensors_[out].removed)
      return invalidModel("a graph output refers to a removed or unknown tensor");
    if (!defined[out])
      return invalidModel("graph output '" + tensors_[out].name + "' is never produced");
  }
  return Status::ok();
} catch (...) {
  return exceptionToStatus("NetworkDefinition::verify");
}

namespace {

/// Formats one attribute field for text dumps.
struct AttrPrinter {
  std::ostringstream& os;
  bool first = true;
  void sep(const char* name) {
    if (!first) os << ", ";
    first = false;
    os << name << "=";
  }
  void operator()(const char* name, const Weights& w) {
    sep(name);
    os << dataTypeName(w.dtype()) << dimsToString(w.dims());
    if (w.count() <= 8 && w.count() > 0) {
      auto d = w.toDoubles();
      if (d) {
        os << "{";
        for (size_t i = 0; i < d->size(); ++i)
          os << (i ? "," : "") << (*d)[i];
        os << "}";
      }
    }
  }
  void operator()(const char* name, const std::string& v) {
    sep(name);
    os << '"' << v << '"';
  }
  void operator()(const char* name, const std::vector<int64_t>& v) {
    if (v.empty()) return;
    sep(name);
    os << dimsToString(v);
  }
  void operator()(const char* name, const std::vector<Dim>& v) {
    sep(name);
    os << shapeToString(v);
  }
  void operator()(const char* name, bool v) {
    sep(name);
    os << (v ? "true" : "false");
  }
  void operator()(const char* name, int64_t v) {
    sep(name);
    os << v;
  }
  void operator()(const char* name, float v) {
    sep(name);
    os << v;
  }
  template <class E>
  void operator()(const char* name, E v) requires std::is_enum_v<E> {
    sep(name);
    os << enumName(v);
  }
};

}  // namespace

std::string attrsToString(const LayerAttrs& attrs) {
  std::ostringstream os;
  AttrPrinter p{os};
  std::visit(
      [&](const auto& a) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(a)>, std::monostate>) a.visit(p);
      },
      attrs);
  return os.str();
}

std::string NetworkDefinition::toString() const {
  std::ostringstream os;
  auto tensorStr = [&](TensorId t) {
    if (t == kNoTensor) return std::string("-");
    const Tensor& x = tensors_[t];
    return "%" + x.name +
           (x.shapeKnown ? ":" + std::string(dataTypeName(x.dtype)) + shapeToString(x.shape)
                         : std::string());
  };
  for (TensorId t : inputs_)
    os << "input " << tensorStr(t) << "\n";
  for (const Layer& l : layers_) {
    if (l.removed) continue;
    for (size_t k = 0; k < l.outputs.size(); ++k)
      os << (k ? ", " : "") << tensorStr(l.outputs[k]);
    os << " = " << layerKindName(l.kind()) << "{" << attrsToString(l.attrs) << "}(";
    for (size_t k = 0; k < l.inputs.size(); ++k)
      os << (k ? ", " : "") << (l.inputs[k] == kNoTensor ? "-" : "%" + tensors_[l.inputs[k]].name);
    os << ")  # " << l.name << "\n";
  }
  for (TensorId t : outputs_)
    os << "output " << tensorStr(t) << "\n";
  return os.str();
}

}  // namespace kiln
