#include "runtime/shape_pass.h"

#include <cstring>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

bool isNotExecuted(LayerKind k) {
  return k == LayerKind::kConstant || k == LayerKind::kSymbolicConstant;
}

Expected<Weights> evaluateSymbolicConstant(const Layer& l, const SymbolValues& symbols) {
  const auto& a = l.as<SymbolicConstantAttrs>();
  std::vector<int64_t> v;
  v.reserve(a.values.size());
  for (const Dim& d : a.values) {
    auto x = d.evaluate(symbols);
    if (!x) return x.status().withContext("layer '" + l.name + "' (SymbolicConstant)");
    v.push_back(*x);
  }
  auto count = elementCount(a.dims, l.name);
  if (!count || *count != static_cast<int64_t>(v.size()))
    return internalError("layer '" + l.name + "': SymbolicConstant values do not fill its dims");
  if (a.dtype == DataType::kInt64)
    return Weights::copyFrom(DataType::kInt64, a.dims, v.data(), v.size() * sizeof(int64_t));
  std::vector<int32_t> narrow;
  for (int64_t x : v) {
    if (x < INT32_MIN || x > INT32_MAX)
      return invalidArgument("layer '" + l.name + "': value " + std::to_string(x) +
                             " does not fit its i32 type");
    narrow.push_back(static_cast<int32_t>(x));
  }
  return Weights::copyFrom(DataType::kInt32, a.dims, narrow.data(),
                           narrow.size() * sizeof(int32_t));
}

}  // namespace

ShapeProgram analyzeShapes(const NetworkDefinition& net) {
  const size_t nl = net.layers().size(), nt = net.tensors().size();
  ShapeProgram p;
  p.executed.assign(nl, false);
  p.hostEvaluated.assign(nl, false);
  p.hostValue.assign(nt, false);
  p.dataUsed.assign(nt, false);
  for (TensorId t : net.outputs())
    p.dataUsed[t] = true;
  // Backwards: a layer runs when its outputs are data of a running layer or graph outputs; it is
  // evaluated on the host when its values decide shapes.
  for (size_t i = nl; i-- > 0;) {
    const Layer& l = net.layers()[i];
    if (l.removed) continue;
    bool data = false, value = false;
    for (TensorId t : l.outputs) {
      data = data || p.dataUsed[t];
      value = value || p.hostValue[t];
    }
    if (isNotExecuted(l.kind())) continue;
    p.executed[i] = data;
    p.hostEvaluated[i] = value;
    for (size_t k = 0; k < l.inputs.size(); ++k) {
      TensorId t = l.inputs[k];
      if (t == kNoTensor) continue;
      if (value) p.hostValue[t] = true;
      if (data) {
        if (isParamInput(l.kind(), k))
          p.hostValue[t] = true;
        else
          p.dataUsed[t] = true;
      }
    }
  }
  for (TensorId t : net.inputs())
    if (p.hostValue[t]) p.readsInputValues = true;
  return p;
}

Expected<SymbolValues> bindInputSymbols(const NetworkDefinition& net,
                                        const std::vector<Dims>& inputDims) {
  if (inputDims.size() != net.inputs().size())
    return internalError("shape pass: " + std::to_string(inputDims.size()) + " input shapes for " +
                         std::to_string(net.inputs().size()) + " inputs");
  SymbolValues symbols;
  std::map<std::string, std::string> boundBy;  // symbol -> "input 'x' dim 0"
  for (size_t i = 0; i < inputDims.size(); ++i) {
    const Tensor& t = net.tensor(net.inputs()[i]);
    const Dims& dims = inputDims[i];
    if (dims.size() != t.shape.size())
      return invalidArgument("input '" + t.name + "' has rank " + std::to_string(t.shape.size()) +
                             " " + shapeToString(t.shape) + ", but its shape is set to " +
                             dimsToString(dims));
    for (size_t j = 0; j < dims.size(); ++j) {
      const Dim& d = t.shape[j];
      if (dims[j] < 0)
        return invalidArgument("input '" + t.name + "': dimension " + std::to_string(j) +
                               " of shape " + dimsToString(dims) + " is negative");
      if (d.isStatic()) {
        if (d.value() != dims[j])
          return invalidArgument("input '" + t.name + "' has static dimension " +
                                 std::to_string(j) + " = " + d.toString() + " (shape " +
                                 shapeToString(t.shape) + "), but its shape is set to " +
                                 dimsToString(dims));
        continue;
      }
      if (!d.isSymbol()) continue;  // an expression: checked once every symbol is bound
      const std::string sym = d.symbol();
      const std::string where = "input '" + t.name + "' dim " + std::to_string(j);
      auto it = symbols.find(sym);
      if (it != symbols.end() && it->second != dims[j])
        return invalidArgument("dimension '" + sym + "' is " + std::to_string(it->second) + " in " +
                               boundBy[sym] + " but " + std::to_string(dims[j]) + " in " + where +
                               ": inputs that share a named dimension must agree");
      symbols[sym] = dims[j];
      boundBy[sym] = where;
    }
  }
  for (size_t i = 0; i < inputDims.size(); ++i) {
    const Tensor& t = net.tensor(net.inputs()[i]);
    for (size_t j = 0; j < t.shape.size(); ++j) {
      const Dim& d = t.shape[j];
      if (d.isStatic() || d.isSymbol()) continue;
      auto v = d.evaluate(symbols);
      if (!v || *v != inputDims[i][j])
        return invalidArgument("input '" + t.name + "' dim " + std::to_string(j) + " must be " +
                               d.toString() + ", found " + std::to_string(inputDims[i][j]));
    }
  }
  return symbols;
}

Status computeShapes(const NetworkDefinition& net, const ShapeProgram& program,
                     const std::vector<Dims>& inputDims, const std::vector<const void*>& inputData,
                     const HostEvaluator& evaluate, ConcreteShapes& out) {
  KILN_ASSIGN_OR_RETURN(out.symbols, bindInputSymbols(net, inputDims));
  const size_t nt = net.tensors().size();
  out.tensors.assign(nt, TensorDesc{});
  out.values.assign(nt, Weights());
  for (size_t i = 0; i < net.inputs().size(); ++i) {
    TensorId t = net.inputs()[i];
    const Tensor& x = net.tensor(t);
    KILN_RETURN_IF_ERROR(byteSize(x.dtype, inputDims[i], x.name).status());
    out.tensors[t] = {x.dtype, inputDims[i]};
    if (program.hostValue[t]) {
      if (i >= inputData.size() || inputData[i] == nullptr)
        return invalidArgument("input '" + x.name +
                               "' decides the shapes of other tensors: its data must be bound "
                               "(on the host) before its shapes can be computed");
      KILN_ASSIGN_OR_RETURN(uint64_t bytes, byteSize(x.dtype, inputDims[i], x.name));
      KILN_ASSIGN_OR_RETURN(out.values[t], Weights::copyFrom(x.dtype, inputDims[i], inputData[i],
                                                             bytes, "input '" + x.name + "'"));
    }
  }
  for (size_t i = 0; i < net.layers().size(); ++i) {
    const Layer& l = net.layers()[i];
    if (l.removed) continue;
    if (l.kind() == LayerKind::kConstant) {
      const Weights& w = l.as<ConstantAttrs>().value;
      out.tensors[l.outputs[0]] = {w.dtype(), w.dims()};
      if (program.hostValue[l.outputs[0]]) out.values[l.outputs[0]] = w;
      continue;
    }
    if (l.kind() == LayerKind::kSymbolicConstant) {
      KILN_ASSIGN_OR_RETURN(Weights w, evaluateSymbolicConstant(l, out.symbols));
      out.tensors[l.outputs[0]] = {w.dtype(), w.dims()};
      out.values[l.outputs[0]] = std::move(w);
      continue;
    }
    if (!program.executed[i] && !program.hostEvaluated[i]) continue;
    // Concrete inference: the authoritative check of this layer's shapes.
    InferDesc d;
    d.layer = &l;
    for (TensorId t : l.inputs) {
      if (t == kNoTensor) {
        d.inputs.push_back({});
        d.inputPresent.push_back(false);
        d.constantInputs.push_back(nullptr);
        d.valueInputs.push_back(nullptr);
        continue;
      }
      d.inputs.push_back({out.tensors[t].dtype, shapeFromDims(out.tensors[t].dims)});
      d.inputPresent.push_back(true);
      const Weights* c = net.constantValue(t);
      if (!c && !out.values[t].empty()) c = &out.values[t];
      d.constantInputs.push_back(c);
      d.valueInputs.push_back(nullptr);
    }
    KILN_ASSIGN_OR_RETURN(std::vector<TensorType> types, inferOutputs(d));
    for (size_t k = 0; k < l.outputs.size(); ++k) {
      const Tensor& x = net.tensor(l.outputs[k]);
      auto dims = staticDims(types[k].shape);
      if (!dims)
        return internalError("layer '" + l.name + "': concrete inference left symbolic dims " +
                             shapeToString(types[k].shape));
      if (dims->size() != x.shape.size() || types[k].dtype != x.dtype)
        return invalidArgument("these input shapes give tensor '" + x.name +
                               "' (output of layer '" + l.name + "') the type " +
                               dataTypeName(types[k].dtype) + dimsToString(*dims) +
                               ", but the engine was built for " + dataTypeName(x.dtype) +
                               shapeToString(x.shape) + " (rank " + std::to_string(x.shape.size()) +
                               "); rebuild the engine with these shapes in its profile");
      KILN_RETURN_IF_ERROR(byteSize(types[k].dtype, *dims, x.name).status());
      out.tensors[l.outputs[k]] = {types[k].dtype, std::move(*dims)};
    }
    if (program.hostEvaluated[i]) {
      LayerDesc desc = concreteLayerDesc(net, static_cast<LayerId>(i), out);
      for (size_t k = 0; k < l.inputs.size(); ++k)
        if (desc.hasInput(k) && desc.constantInputs[k] == nullptr)
          return internalError("layer '" + l.name + "': input " + std::to_string(k) +
                               " has no host value for the shape pass");
      auto values = evaluate(desc);
      if (!values)
        return values.status().withContext("computing shape values of layer '" + l.name + "'");
      for (size_t k = 0; k < l.outputs.size(); ++k)
        out.values[l.outputs[k]] = std::move((*values)[k]);
    }
  }
  return Status::ok();
}

LayerDesc concreteLayerDesc(const NetworkDefinition& net, LayerId id, const ConcreteShapes& cs) {
  const Layer& l = net.layer(id);
  LayerDesc d;
  d.layer = &l;
  for (TensorId t : l.inputs) {
    if (t == kNoTensor) {
      d.inputs.push_back({});
      d.inputPresent.push_back(false);
      d.constantInputs.push_back(nullptr);
      continue;
    }
    d.inputs.push_back(cs.tensors[t]);
    d.inputPresent.push_back(true);
    const Weights* c = net.constantValue(t);
    if (!c && static_cast<size_t>(t) < cs.values.size() && !cs.values[t].empty()) c = &cs.values[t];
    d.constantInputs.push_back(c);
  }
  for (TensorId t : l.outputs)
    d.outputs.push_back(cs.tensors[t]);
  return d;
}

std::vector<TensorDesc> evaluateShapes(const NetworkDefinition& net, const SymbolValues& symbols) {
  std::vector<TensorDesc> out(net.tensors().size());
  for (size_t t = 0; t < net.tensors().size(); ++t) {
    const Tensor& x = net.tensors()[t];
    if (x.removed) continue;
    out[t].dtype = x.dtype;
    for (const Dim& d : x.shape) {
      std::set<std::string> syms;
      d.collectSymbols(syms);
      SymbolValues v = symbols;
      for (const std::string& s : syms)
        v.emplace(s, 1);
      auto value = d.evaluate(v);
      out[t].dims.push_back(value && *value >= 0 ? *value : 1);
    }
  }
  return out;
}

}  // namespace kiln
