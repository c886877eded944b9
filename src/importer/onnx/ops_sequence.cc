// ONNX sequence and optional ops as static sequences: a sequence whose length and element
// positions are known at build time is a list of IR tensors in the importer (SequenceValue),
// so SequenceConstruct/Insert/Erase/At/Length edit or read that list, SplitToSequence becomes
// a Split and ConcatFromSequence a Concatenation. An optional is an alias of the value it
// holds, or an empty optional. Anything whose position or length depends on run-time values is
// refused with an error that names it: never a wrong answer.
#include <string>
#include <unordered_set>

#include "importer/onnx/importer.h"
#include "importer/onnx/tensor_proto.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

// ---- NodeContext: sequence and optional values -----------------------------------------------

const SequenceValue* NodeContext::sequenceInput(int i) const {
  if (i < 0 || i >= node_.input_size() || node_.input(i).empty()) return nullptr;
  auto it = state_.sequences.find(node_.input(i));
  return it == state_.sequences.end() ? nullptr : &it->second;
}

Expected<const SequenceValue*> NodeContext::requireSequence(int i) const {
  if (const SequenceValue* seq = sequenceInput(i)) return seq;
  if (i >= node_.input_size() || node_.input(i).empty())
    return invalidModel("required input #" + std::to_string(i) + " (a sequence) is missing");
  if (isEmptyOptional(i))
    return invalidModel("input #" + std::to_string(i) + " ('" + node_.input(i) +
                        "') is an empty optional, expected a sequence");
  return invalidModel("input #" + std::to_string(i) + " ('" + node_.input(i) +
                      "') is a tensor, expected a sequence");
}

bool NodeContext::isEmptyOptional(int i) const {
  return i >= 0 && i < node_.input_size() && !node_.input(i).empty() &&
         state_.emptyOptionals.count(node_.input(i)) > 0;
}

namespace {
bool outputTaken(const ImportState& s, const std::string& name) {
  return s.values.count(name) || s.sequences.count(name) || s.emptyOptionals.count(name);
}
Status alreadyProduced(const std::string& name) {
  return invalidModel("output '" + name +
                      "' is already produced by an earlier node, initializer or graph input");
}
}  // namespace

Status NodeContext::setSequenceOutput(int k, SequenceValue seq) {
  for (TensorId t : seq.elements) {
    std::optional<DataType> d = dtypeOf(t);
    if (!d) continue;
    if (seq.dtype && *seq.dtype != *d)
      return invalidModel(std::string("sequence elements must have one element type: ") +
                          dataTypeName(*seq.dtype) + " and " + dataTypeName(*d));
    seq.dtype = d;
  }
  if (static_cast<int64_t>(seq.elements.size()) > kMaxSequenceElements)
    return unsupported("the sequence would hold " + std::to_string(seq.elements.size()) +
                       " tensors; kiln imports sequences of at most " +
                       std::to_string(kMaxSequenceElements));
  if (k >= node_.output_size() || node_.output(k).empty()) return Status::ok();
  const std::string& name = node_.output(k);
  if (outputTaken(state_, name)) return alreadyProduced(name);
  state_.sequences.emplace(name, std::move(seq));
  return Status::ok();
}

Status NodeContext::setEmptyOptionalOutput(int k) {
  if (k >= node_.output_size() || node_.output(k).empty()) return Status::ok();
  const std::string& name = node_.output(k);
  if (state_.graphOutputs.count(name))
    return unsupported("output '" + name +
                       "' is an empty optional and a graph output; kiln has no "
                       "optional graph outputs");
  if (outputTaken(state_, name)) return alreadyProduced(name);
  state_.emptyOptionals.insert(name);
  return Status::ok();
}

Status NodeContext::forwardInput(int i, int k) {
  if (const SequenceValue* seq = sequenceInput(i)) return setSequenceOutput(k, *seq);
  if (isEmptyOptional(i)) return setEmptyOptionalOutput(k);
  KILN_ASSIGN_OR_RETURN(TensorId t, input(i));
  return setOutput(k, t);
}

Expected<int64_t> NodeContext::constantScalarInt(int i, const std::string& what) const {
  KILN_ASSIGN_OR_RETURN(TensorId t, input(i));
  const Tensor& x = state_.net.tensor(t);
  if (x.dtype != DataType::kInt32 && x.dtype != DataType::kInt64)
    return invalidModel(what + " must be an int32 or int64 tensor, not " + dataTypeName(x.dtype));
  if (x.shapeKnown && x.shape.size() > 1)
    return invalidModel(what + " must be a scalar or a 1-element tensor");
  if (const Weights* w = constantInput(i)) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v, w->toInts());
    if (v.size() != 1)
      return invalidModel(what + " must hold one value, it holds " + std::to_string(v.size()));
    return v[0];
  }
  if (x.valuesKnown && x.values.size() == 1 && x.values[0].isStatic()) return x.values[0].value();
  return unsupported(what + " ('" + x.name +
                     "') must be a build-time constant: kiln imports sequences whose length "
                     "and positions are known at build time");
}

// ---- helpers -------------------------------------------------------------------------------

namespace {

/// A sequence position in [-n, n) (or [-n, n] when `insert`), made non-negative.
Expected<int64_t> normalizePosition(int64_t pos, size_t length, bool insert,
                                    const std::string& what) {
  const int64_t n = static_cast<int64_t>(length);
  const int64_t hi = insert ? n : n - 1;
  if (pos < -n || pos > hi)
    return invalidModel(what + " " + std::to_string(pos) + " is out of range for a sequence of " +
                        std::to_string(n) + " tensor(s) (valid: " + std::to_string(-n) + " to " +
                        std::to_string(hi) + ")");
  return pos < 0 ? pos + n : pos;
}

/// The element type of the tensors a sequence holds, from its elements or its declared dtype.
Status checkElementType(const NodeContext& ctx, const SequenceValue& seq, TensorId t) {
  std::optional<DataType> d = ctx.dtypeOf(t);
  if (seq.dtype && d && *seq.dtype != *d)
    return invalidModel(std::string("the tensor is ") + dataTypeName(*d) +
                        " but the sequence holds " + dataTypeName(*seq.dtype));
  return Status::ok();
}

/// A static dim of `t` on `axis` (normalized), or an error naming what needs it.
Expected<int64_t> staticDim(NodeContext& ctx, TensorId t, int64_t axis, const std::string& why) {
  const Tensor& x = ctx.net().tensor(t);
  const Dim& d = x.shape[static_cast<size_t>(axis)];
  if (!d.isStatic())
    return unsupported("axis " + std::to_string(axis) + " of '" + x.name + "' has size " +
                       d.toString() + ", which must be a build-time constant " + why);
  return d.value();
}

}  // namespace

// ---- sequence ops --------------------------------------------------------------------------

// SequenceEmpty(): an empty sequence of element type `dtype` (default float).
Status importSequenceEmpty(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t code, ctx.getInt("dtype", ::onnx::TensorProto::FLOAT));
  std::optional<DataType> dtype = dataTypeFromOnnx(static_cast<int32_t>(code));
  if (!dtype)
    return unsupported("attribute 'dtype' is " + onnxDataTypeName(static_cast<int32_t>(code)) +
                       ", which kiln does not support");
  SequenceValue seq;
  seq.dtype = dtype;
  return ctx.setSequenceOutput(0, std::move(seq));
}

// SequenceConstruct(inputs...): the sequence of its inputs, in order.
Status importSequenceConstruct(NodeContext& ctx) {
  if (ctx.numInputs() < 1) return invalidModel("SequenceConstruct needs at least one input");
  SequenceValue seq;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    KILN_ASSIGN_OR_RETURN(TensorId t, ctx.input(i));
    seq.elements.push_back(t);
  }
  return ctx.setSequenceOutput(0, std::move(seq));
}

// SequenceInsert(seq, tensor, position?): position in [-n, n], default n (append).
Status importSequenceInsert(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const SequenceValue* in, ctx.requireSequence(0));
  KILN_ASSIGN_OR_RETURN(TensorId t, ctx.input(1));
  KILN_RETURN_IF_ERROR(checkElementType(ctx, *in, t));
  SequenceValue seq = *in;
  int64_t pos = static_cast<int64_t>(seq.elements.size());
  if (ctx.hasInput(2)) {
    KILN_ASSIGN_OR_RETURN(int64_t p, ctx.constantScalarInt(2, "input #2 (position)"));
    KILN_ASSIGN_OR_RETURN(pos, normalizePosition(p, seq.elements.size(), true, "position"));
  }
  seq.elements.insert(seq.elements.begin() + pos, t);
  return ctx.setSequenceOutput(0, std::move(seq));
}

// SequenceErase(seq, position?): position in [-n, n), default -1 (the last).
Status importSequenceErase(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const SequenceValue* in, ctx.requireSequence(0));
  SequenceValue seq = *in;
  if (seq.elements.empty()) return invalidModel("cannot erase from an empty sequence");
  int64_t p = -1;
  if (ctx.hasInput(1)) {
    KILN_ASSIGN_OR_RETURN(p, ctx.constantScalarInt(1, "input #1 (position)"));
  }
  KILN_ASSIGN_OR_RETURN(int64_t pos, normalizePosition(p, seq.elements.size(), false, "position"));
  seq.elements.erase(seq.elements.begin() + pos);
  return ctx.setSequenceOutput(0, std::move(seq));
}

// SequenceAt(seq, position): the tensor at position in [-n, n).
Status importSequenceAt(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const SequenceValue* seq, ctx.requireSequence(0));
  KILN_ASSIGN_OR_RETURN(int64_t p, ctx.constantScalarInt(1, "input #1 (position)"));
  KILN_ASSIGN_OR_RETURN(int64_t pos, normalizePosition(p, seq->elements.size(), false, "position"));
  return ctx.setOutput(0, seq->elements[static_cast<size_t>(pos)]);
}

// SequenceLength(seq): an int64 scalar constant.
Status importSequenceLength(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const SequenceValue* seq, ctx.requireSequence(0));
  return ctx.addOutputConstant(
      Weights::fromInts({static_cast<int64_t>(seq->elements.size())}, /*scalar=*/true));
}

// SplitToSequence(input, split?): no split -> pieces of size 1 (the axis squeezed when
// keepdims=0); a scalar split -> pieces of that size, the last one smaller; a 1-D split ->
// one piece per entry (the entries may be run-time values, their count may not).
Status importSplitToSequence(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", 0));
  KILN_ASSIGN_OR_RETURN(int64_t keepDims, ctx.getInt("keepdims", 1));
  const Tensor& xt = ctx.net().tensor(x);
  const int64_t rank = static_cast<int64_t>(xt.shape.size());
  if (axis < -rank || axis >= rank)
    return invalidModel("attribute 'axis' is " + std::to_string(axis) + ", out of range for rank " +
                        std::to_string(rank));
  if (axis < 0) axis += rank;
  SplitAttrs a;
  a.axis = axis;
  TensorId split = kNoTensor;
  bool squeeze = false;
  int64_t parts = 0;
  if (!ctx.hasInput(1)) {
    KILN_ASSIGN_OR_RETURN(parts, staticDim(ctx, x, axis, "(SplitToSequence without 'split')"));
    if (parts > kMaxSequenceElements)
      return unsupported("splitting axis " + std::to_string(axis) + " of size " +
                         std::to_string(parts) + " makes more than " +
                         std::to_string(kMaxSequenceElements) + " tensors");
    split = parts > 0
                ? ctx.addIntsConstant("split", std::vector<int64_t>(static_cast<size_t>(parts), 1))
                : kNoTensor;
    squeeze = keepDims == 0;
  } else {
    KILN_ASSIGN_OR_RETURN(TensorId s, ctx.input(1));
    const Tensor& st = ctx.net().tensor(s);
    if (!st.shapeKnown || st.shape.size() > 1)
      return invalidModel("input #1 (split) must be a scalar or a 1-D tensor");
    if (st.shape.empty()) {
      KILN_ASSIGN_OR_RETURN(int64_t chunk, ctx.constantScalarInt(1, "input #1 (split)"));
      if (chunk <= 0)
        return invalidModel("input #1 (split) is " + std::to_string(chunk) + ", expected > 0");
      KILN_ASSIGN_OR_RETURN(int64_t dim, staticDim(ctx, x, axis, "(a scalar 'split')"));
      parts = dim / chunk + (dim % chunk != 0 ? 1 : 0);
      if (parts > kMaxSequenceElements)
        return unsupported("splitting axis " + std::to_string(axis) + " of size " +
                           std::to_string(dim) + " into pieces of " + std::to_string(chunk) +
                           " makes more than " + std::to_string(kMaxSequenceElements) + " tensors");
      std::vector<int64_t> sizes(static_cast<size_t>(parts), chunk);
      if (parts > 0) sizes.back() = dim - chunk * (parts - 1);
      split = parts > 0 ? ctx.addIntsConstant("split", sizes) : kNoTensor;
    } else {
      const Dim& n = st.shape[0];
      if (!n.isStatic())
        return unsupported("input #1 (split) has " + n.toString() +
                           " entries, which must be a build-time constant (the length of the "
                           "sequence)");
      parts = n.value();
      if (parts > kMaxSequenceElements)
        return unsupported("input #1 (split) has " + std::to_string(parts) +
                           " entries; kiln imports sequences of at most " +
                           std::to_string(kMaxSequenceElements));
      split = s;
    }
  }
  SequenceValue seq;
  seq.dtype = xt.dtype;
  if (parts == 0) {
    // An empty axis split into no pieces (split of size 1 over 0, or an empty split list).
    KILN_ASSIGN_OR_RETURN(int64_t dim, staticDim(ctx, x, axis, "(an empty split)"));
    if (dim != 0)
      return invalidModel("input #1 (split) has no entries but axis " + std::to_string(axis) +
                          " has size " + std::to_string(dim));
    return ctx.setSequenceOutput(0, std::move(seq));
  }
  a.numOutputs = parts;
  std::vector<TensorId> inputs = {x};
  if (split != kNoTensor) inputs.push_back(split);
  KILN_ASSIGN_OR_RETURN(std::vector<TensorId> pieces,
                        ctx.addInternalOutputs("split", a, inputs, static_cast<int>(parts)));
  if (squeeze) {
    TensorId axes = ctx.addIntsConstant("axes", {axis});
    for (size_t k = 0; k < pieces.size(); ++k) {
      KILN_ASSIGN_OR_RETURN(
          pieces[k], ctx.addInternal("squeeze_" + std::to_string(k),
                                     shuffleAttrs(ShuffleMode::kSqueeze), {pieces[k], axes}));
    }
  }
  seq.elements = std::move(pieces);
  return ctx.setSequenceOutput(0, std::move(seq));
}

// ConcatFromSequence(seq): Concatenation of the elements along `axis`; new_axis=1 first
// unsqueezes each element at `axis` (then in [-r-1, r]).
Status importConcatFromSequence(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const SequenceValue* seq, ctx.requireSequence(0));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.requireInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t newAxis, ctx.getInt("new_axis", 0));
  if (seq->elements.empty()) return invalidModel("cannot concatenate an empty sequence");
  std::vector<TensorId> inputs = seq->elements;
  if (newAxis != 0) {
    std::optional<int64_t> rank = ctx.rankOf(inputs[0]);
    if (!rank) return unsupported("the rank of the sequence's tensors is not known");
    if (axis < -*rank - 1 || axis > *rank)
      return invalidModel("attribute 'axis' is " + std::to_string(axis) +
                          ", out of range for new_axis=1 and rank " + std::to_string(*rank));
    if (axis < 0) axis += *rank + 1;
    TensorId axes = ctx.addIntsConstant("axes", {axis});
    for (size_t k = 0; k < inputs.size(); ++k) {
      KILN_ASSIGN_OR_RETURN(
          inputs[k], ctx.addInternal("unsqueeze_" + std::to_string(k),
                                     shuffleAttrs(ShuffleMode::kUnsqueeze), {inputs[k], axes}));
    }
  }
  return ctx.addOutputLayer(ConcatenationAttrs{axis}, inputs);
}

// SequenceMap(seq, inputs...): the body imported once per element (unrolled). Sequence inputs
// give the body their element k, tensor inputs are passed to every iteration; every sequence
// input must have the first one's length. Body output j of iteration k is element k of output
// sequence j. Body-local names get the prefix "<node>/iter_<k>/" so that each copy is unique.
Status importSequenceMap(NodeContext& ctx) {
  const ::onnx::NodeProto& node = ctx.node();
  const ::onnx::GraphProto* body = nullptr;
  for (const auto& a : node.attribute())
    if (a.name() == "body") {
      if (a.type() != ::onnx::AttributeProto::GRAPH)
        return invalidModel("attribute 'body' must be a graph");
      body = &a.g();
    }
  if (!body) return invalidModel("missing required attribute 'body'");
  KILN_ASSIGN_OR_RETURN(const SequenceValue* first, ctx.requireSequence(0));
  const size_t length = first->elements.size();
  if (body->input_size() != ctx.numInputs())
    return invalidModel("the body has " + std::to_string(body->input_size()) +
                        " inputs but the node has " + std::to_string(ctx.numInputs()));
  if (body->output_size() != ctx.numOutputs())
    return invalidModel("the body has " + std::to_string(body->output_size()) +
                        " outputs but the node has " + std::to_string(ctx.numOutputs()));
  if (body->sparse_initializer_size() > 0) return unsupported("the body has sparse initializers");
  for (int i = 0; i < ctx.numInputs(); ++i) {
    if (node.input(i).empty()) return invalidModel("input #" + std::to_string(i) + " is missing");
    if (ctx.isEmptyOptional(i))
      return unsupported("input #" + std::to_string(i) + " is an empty optional");
    if (const SequenceValue* seq = ctx.sequenceInput(i); seq && seq->elements.size() != length)
      return invalidModel("input #" + std::to_string(i) + " ('" + node.input(i) + "') holds " +
                          std::to_string(seq->elements.size()) + " tensors but input #0 holds " +
                          std::to_string(length) +
                          ": the sequences of SequenceMap must have one length");
  }
  ImportState& s = ctx.state();
  // Names the body defines; every other name it reads comes from the enclosing graph.
  std::unordered_set<std::string> local;
  for (const auto& vi : body->input())
    local.insert(vi.name());
  for (const auto& init : body->initializer())
    local.insert(init.name());
  for (const auto& n : body->node()) {
    for (const auto& a : n.attribute())
      if (a.type() == ::onnx::AttributeProto::GRAPH || a.type() == ::onnx::AttributeProto::GRAPHS)
        return unsupported("body node '" + n.name() + "' (" + n.op_type() +
                           ") has a subgraph; kiln does not import nested subgraphs here");
    for (const auto& out : n.output())
      if (!out.empty()) local.insert(out);
  }
  std::vector<SequenceValue> outputs(static_cast<size_t>(ctx.numOutputs()));
  for (size_t k = 0; k < length; ++k) {
    const std::string prefix = ctx.name() + "/iter_" + std::to_string(k) + "/";
    auto rename = [&](const std::string& n) {
      return n.empty() || !local.count(n) ? n : prefix + n;
    };
    std::vector<::onnx::NodeProto> nodes;
    for (int j = 0; j < body->node_size(); ++j) {
      ::onnx::NodeProto n = body->node(j);
      n.set_name(prefix + nodeLayerName(n, j));
      for (int i = 0; i < n.input_size(); ++i)
        n.set_input(i, rename(n.input(i)));
      for (int i = 0; i < n.output_size(); ++i)
        n.set_output(i, rename(n.output(i)));
      nodes.push_back(std::move(n));
    }
    // Reserve and mark the renamed names before anything is built (as collectNames does).
    for (const ::onnx::NodeProto& n : nodes) {
      for (const auto& in : n.input())
        s.consumedNames.insert(in);
      for (const auto& out : n.output())
        s.reservedNames.insert(out);
    }
    for (const auto& vi : body->output())
      s.consumedNames.insert(rename(vi.name()));
    for (const auto& vi : body->input())
      s.reservedNames.insert(rename(vi.name()));
    for (const auto& init : body->initializer()) {
      const std::string name = rename(init.name());
      if (s.values.count(name))
        return invalidModel("body initializer '" + init.name() + "' is defined twice");
      KILN_ASSIGN_OR_RETURN(Weights w, ctx.decodeTensor(init));
      s.values[name] = s.net.addConstant(s.freshName(name), std::move(w));
    }
    for (int i = 0; i < ctx.numInputs(); ++i) {
      const std::string name = rename(body->input(i).name());
      if (s.values.count(name) || s.sequences.count(name))
        return invalidModel("body input '" + body->input(i).name() + "' is defined twice");
      if (const SequenceValue* seq = ctx.sequenceInput(i))
        s.values[name] = seq->elements[k];
      else
        s.values[name] = ctx.inputs()[static_cast<size_t>(i)];
    }
    for (size_t j = 0; j < nodes.size(); ++j) {
      Status st = importNodeWithContext(nodes[j], static_cast<int>(j), s);
      if (!st) return st.withContext("body, element " + std::to_string(k));
    }
    for (int j = 0; j < body->output_size(); ++j) {
      const std::string name = rename(body->output(j).name());
      auto it = s.values.find(name);
      if (it == s.values.end())
        return unsupported("body output '" + body->output(j).name() + "' is " +
                           (s.sequences.count(name)
                                ? "a sequence (kiln maps to sequences of tensors)"
                                : "not produced by the body"));
      outputs[static_cast<size_t>(j)].elements.push_back(it->second);
    }
  }
  for (int j = 0; j < ctx.numOutputs(); ++j) {
    SequenceValue& out = outputs[static_cast<size_t>(j)];
    if (length == 0 && body->output(j).type().has_tensor_type())
      out.dtype = dataTypeFromOnnx(body->output(j).type().tensor_type().elem_type());
    KILN_RETURN_IF_ERROR(ctx.setSequenceOutput(j, std::move(out)));
  }
  return Status::ok();
}

// ---- optional ops --------------------------------------------------------------------------

// Optional(input?): an alias of the input, or an empty optional (its `type` attribute).
Status importOptional(NodeContext& ctx) {
  if (ctx.numInputs() < 1 || ctx.node().input(0).empty()) return ctx.setEmptyOptionalOutput(0);
  return ctx.forwardInput(0, 0);
}

// OptionalHasElement(input?): false for an absent input or an empty optional, else true.
Status importOptionalHasElement(NodeContext& ctx) {
  const bool has = ctx.numInputs() >= 1 && !ctx.node().input(0).empty() && !ctx.isEmptyOptional(0);
  KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(DataType::kBool, {}));
  *static_cast<uint8_t*>(w.mutableData()) = has ? 1 : 0;
  return ctx.addOutputConstant(std::move(w));
}

// OptionalGetElement(input): the value an optional holds (a tensor or sequence passes through).
Status importOptionalGetElement(NodeContext& ctx) {
  if (ctx.isEmptyOptional(0))
    return invalidModel("input #0 ('" + ctx.node().input(0) +
                        "') is an empty optional: it has no element to get");
  return ctx.forwardInput(0, 0);
}

}  // namespace kiln::onnx_import
