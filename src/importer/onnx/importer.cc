// The ONNX import driver: ModelProto -> NetworkDefinition. Op importers live in ops_*.cc and
// are listed once in ops.def.
#include "importer/onnx/importer.h"

#include <algorithm>
#include <climits>
#include <map>

#include "importer/onnx/tensor_proto.h"
#include "ir/shape_inference.h"
#include "kiln/onnx_parser.h"
#include "onnx.pb.h"
#include "util/api_guard.h"
#include "util/file_io.h"

namespace kiln::onnx_import {

namespace {

/// The dispatch table, built from ops.def.
const std::map<std::string, OpEntry>& opTable() {
  static const std::map<std::string, OpEntry> table = {
#define KILN_ONNX_OP(opType, fn, firstOpset) {opType, OpEntry{&fn, firstOpset}},
#include "importer/onnx/ops.def"
#undef KILN_ONNX_OP
  };
  return table;
}

/// The one place node errors get their prefix: "node 'NAME' (OpType, #index): ".
Status nodeError(const ::onnx::NodeProto& node, int index, const Status& status) {
  return status.withContext("node '" + nodeLayerName(node, index) + "' (" + node.op_type() + ", #" +
                            std::to_string(index) + ")");
}

/// The kiln shape of a declared graph input; unknown dims become fresh symbols "unk_N".
/// `symbolPrefix` keeps the dims of one sequence element apart from the others'.
Expected<Shape> inputShape(const ::onnx::ValueInfoProto& vi, int* unknownCounter,
                           const ::onnx::TypeProto::Tensor& tt, const std::string& symbolPrefix) {
  if (!tt.has_shape())
    return unsupported("graph input '" + vi.name() + "' has no shape (its rank is unknown)");
  Shape shape;
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0)
        return invalidModel("graph input '" + vi.name() + "' has a negative dim");
      shape.push_back(Dim::fixed(d.dim_value()));
    } else if (d.has_dim_param() && !d.dim_param().empty()) {
      // Names starting with '%' or holding control characters are reserved for the symbols
      // kiln makes up; a model's own are kept apart by a prefix.
      std::string name = d.dim_param();
      bool reserved = name[0] == '%';
      for (char c : name)
        reserved = reserved || static_cast<unsigned char>(c) < 0x20;
      if (reserved) {
        std::string clean = "_";
        for (char c : name)
          clean += static_cast<unsigned char>(c) < 0x20 ? '_' : c;
        name = clean;
      }
      shape.push_back(Dim::named(symbolPrefix + name));
    } else {
      shape.push_back(Dim::named("unk_" + std::to_string((*unknownCounter)++)));
    }
  }
  return shape;
}

/// A graph input of sequence type with a length from the options: one network input per
/// element, "NAME[K]", of the declared element type and shape (named dims prefixed per element,
/// since the elements of a sequence may differ in shape).
Status addSequenceInput(const ::onnx::ValueInfoProto& vi, const ::onnx::TypeProto::Sequence& type,
                        const OnnxParseOptions& options, int* unknownCounter, ImportState& s) {
  auto it = options.sequenceInputLengths.find(vi.name());
  if (it == options.sequenceInputLengths.end())
    return unsupported("graph input '" + vi.name() +
                       "' is a sequence, whose length is not known at build time (kiln has no "
                       "run-time sequences; give its length in OnnxParseOptions)");
  const int64_t length = it->second;
  if (length < 0 || length > kMaxSequenceElements)
    return unsupported("graph input '" + vi.name() + "' is given a length of " +
                       std::to_string(length) + "; kiln imports sequences of 0 to " +
                       std::to_string(kMaxSequenceElements) + " tensors");
  const ::onnx::TypeProto& elem = type.elem_type();
  if (!elem.has_tensor_type())
    return unsupported("graph input '" + vi.name() + "' is a sequence of non-tensors");
  std::optional<DataType> dtype = dataTypeFromOnnx(elem.tensor_type().elem_type());
  if (!dtype)
    return unsupported("graph input '" + vi.name() + "' holds tensors of element type " +
                       onnxDataTypeName(elem.tensor_type().elem_type()) +
                       ", which kiln does not support");
  SequenceValue seq;
  seq.dtype = dtype;
  for (int64_t k = 0; k < length; ++k) {
    const std::string name = vi.name() + "[" + std::to_string(k) + "]";
    KILN_ASSIGN_OR_RETURN(Shape shape,
                          inputShape(vi, unknownCounter, elem.tensor_type(), name + "."));
    KILN_ASSIGN_OR_RETURN(TensorId t, s.net.addInput(s.freshName(name), *dtype, shape));
    seq.elements.push_back(t);
  }
  s.sequences[vi.name()] = std::move(seq);
  return Status::ok();
}

Status addTensorInput(const ::onnx::ValueInfoProto& vi, const ::onnx::TypeProto::Tensor& tt,
                      int* unknownCounter, ImportState& s) {
  int32_t code = tt.elem_type();
  std::optional<DataType> dtype = dataTypeFromOnnx(code);
  if (!dtype)
    return unsupported("graph input '" + vi.name() + "' has element type " +
                       onnxDataTypeName(code) + ", which kiln does not support");
  KILN_ASSIGN_OR_RETURN(Shape shape, inputShape(vi, unknownCounter, tt, ""));
  KILN_ASSIGN_OR_RETURN(TensorId t, s.net.addInput(vi.name(), *dtype, shape));
  s.values[vi.name()] = t;
  return Status::ok();
}

/// A graph input of optional type, present or not as the options say: a present one is an
/// input of its element type (a tensor, or a sequence of the given length), an absent one an
/// empty optional that no network input stands for.
Status addOptionalInput(const ::onnx::ValueInfoProto& vi, const OnnxParseOptions& options,
                        int* unknownCounter, ImportState& s) {
  auto it = options.optionalInputsPresent.find(vi.name());
  if (it == options.optionalInputsPresent.end())
    return unsupported("graph input '" + vi.name() +
                       "' is an optional, whether it holds a value is not known at build time "
                       "(kiln has no run-time optionals; say so in OnnxParseOptions)");
  if (!it->second) {
    s.emptyOptionals.insert(vi.name());
    return Status::ok();
  }
  const ::onnx::TypeProto& elem = vi.type().optional_type().elem_type();
  if (elem.has_tensor_type()) return addTensorInput(vi, elem.tensor_type(), unknownCounter, s);
  if (elem.has_sequence_type())
    return addSequenceInput(vi, elem.sequence_type(), options, unknownCounter, s);
  return unsupported("graph input '" + vi.name() +
                     "' is an optional of neither a tensor nor a sequence");
}

Status addGraphInputs(const ::onnx::GraphProto& g, const OnnxParseOptions& options,
                      ImportState& s) {
  int unknownCounter = 0;
  for (const auto& vi : g.input()) {
    if (s.values.count(vi.name())) continue;  // an initializer: a constant, not an input
    if (vi.type().has_sequence_type()) {
      KILN_RETURN_IF_ERROR(
          addSequenceInput(vi, vi.type().sequence_type(), options, &unknownCounter, s));
      continue;
    }
    if (vi.type().has_optional_type()) {
      KILN_RETURN_IF_ERROR(addOptionalInput(vi, options, &unknownCounter, s));
      continue;
    }
    if (!vi.type().has_tensor_type())
      return unsupported("graph input '" + vi.name() +
                         "' is not a tensor (map and sparse inputs are not supported)");
    KILN_RETURN_IF_ERROR(addTensorInput(vi, vi.type().tensor_type(), &unknownCounter, s));
  }
  return Status::ok();
}

Status addInitializers(const ::onnx::GraphProto& g, ImportState& s) {
  if (g.sparse_initializer_size() > 0)
    return unsupported("sparse initializer '" + g.sparse_initializer(0).values().name() +
                       "' is not supported");
  for (const auto& init : g.initializer()) {
    if (s.values.count(init.name()))
      return invalidModel("initializer '" + init.name() + "' is defined twice");
    Expected<Weights> w = weightsFromTensorProto(init, s.baseDir);
    if (!w) return w.status().withContext("initializer '" + init.name() + "'");
    TensorId t = s.net.addConstant(init.name(), std::move(w).value());
    s.net.layer(s.net.tensor(t).producer).origins = {init.name()};
    s.values[init.name()] = t;
  }
  return Status::ok();
}

/// Records the names the graph uses before any layer is built (see ImportState).
void collectNames(const ::onnx::GraphProto& g, ImportState& s) {
  for (const auto& vi : g.input()) {
    s.reservedNames.insert(vi.name());
    s.declaredTypes[vi.name()] = &vi.type();
  }
  for (const auto& vi : g.value_info())
    s.declaredTypes[vi.name()] = &vi.type();
  for (const auto& vi : g.output()) {
    s.reservedNames.insert(vi.name());
    s.consumedNames.insert(vi.name());
    s.graphOutputs.insert(vi.name());
    s.declaredTypes[vi.name()] = &vi.type();
  }
  for (const auto& init : g.initializer())
    s.reservedNames.insert(init.name());
  for (const auto& n : g.node()) {
    for (const auto& in : n.input())
      s.consumedNames.insert(in);
    for (const auto& out : n.output())
      s.reservedNames.insert(out);
  }
}

/// A graph output of sequence type: one network output per element, named "NAME[K]" (an
/// Identity of the element, so that elements shared with other values keep their own name).
Status addSequenceOutput(const std::string& name, const SequenceValue& seq, ImportState& s) {
  for (size_t k = 0; k < seq.elements.size(); ++k) {
    const std::string layer = name + "[" + std::to_string(k) + "]";
    KILN_ASSIGN_OR_RETURN(LayerId id, s.net.addLayer(layer, UnaryAttrs{UnaryKind::kIdentity},
                                                     {seq.elements[k]}, 1, {s.freshName(layer)}));
    KILN_RETURN_IF_ERROR(inferLayer(s.net, id));
    KILN_RETURN_IF_ERROR(s.net.markOutput(s.net.layer(id).outputs[0]));
  }
  return Status::ok();
}

/// Imports one node: domain and op checks, input resolution, the op importer, then origins.
Status importNode(const ::onnx::NodeProto& node, int index, ImportState& s) {
  if (!isDefaultDomain(node.domain()))
    return unsupported("domain '" + node.domain() + "' is not supported (operator '" +
                       node.op_type() + "'); kiln imports the default ONNX domain only");
  ImportFn fn = findImporter(node.op_type());
  if (!fn)
    return unsupported("operator '" + node.op_type() + "' is not supported (domain '" +
                       node.domain() + "', opset " + std::to_string(s.opset) + ")");
  std::vector<TensorId> inputs;
  for (const std::string& in : node.input()) {
    if (in.empty()) {
      inputs.push_back(kNoTensor);
      continue;
    }
    if (s.sequences.count(in) || s.emptyOptionals.count(in)) {
      if (!takesSequenceInputs(node.op_type()))
        return unsupported("input '" + in + "' is " +
                           (s.sequences.count(in) ? "a sequence" : "an empty optional") +
                           ", which " + node.op_type() + " does not take (it takes tensors)");
      inputs.push_back(kNoTensor);  // read through NodeContext::sequenceInput
      continue;
    }
    auto it = s.values.find(in);
    if (it == s.values.end())
      return invalidModel("input '" + in +
                          "' is not produced by any node, initializer or graph input");
    inputs.push_back(it->second);
  }
  const size_t firstLayer = s.net.layers().size();
  NodeContext ctx(s, node, index, std::move(inputs));
  KILN_RETURN_IF_ERROR(fn(ctx));
  for (int k = 0; k < node.output_size(); ++k) {
    const std::string& out = node.output(k);
    if (!out.empty() && !s.values.count(out) && !s.sequences.count(out) &&
        !s.emptyOptionals.count(out) && s.consumedNames.count(out))
      return unsupported("output #" + std::to_string(k) + " ('" + out +
                         "') is used, but the importer does not produce it");
  }
  for (size_t l = firstLayer; l < s.net.layers().size(); ++l)
    s.net.layer(static_cast<LayerId>(l)).origins = {ctx.name()};
  // Provenance: every node is listed; one that made no layer (Identity, Dropout at inference:
  // its output is one of its inputs) is accounted for by an import event.
  s.net.provenance().sourceNodes.push_back({ctx.name(), node.op_type()});
  if (s.net.layers().size() == firstLayer) {
    RewriteEvent e;
    e.pass = "import";
    e.rule = "alias";
    e.sources = {ctx.name()};
    e.removedSources = {ctx.name()};
    s.net.provenance().events.push_back(std::move(e));
  }
  return Status::ok();
}

Expected<NetworkDefinition> importModel(const void* data, size_t size, const std::string& source,
                                        const std::string& baseDir,
                                        const OnnxParseOptions& options) {
  ::onnx::ModelProto model;
  KILN_RETURN_IF_ERROR(parseModelProto(data, size, source, &model));
  // Every unsupported operator and type is named at once, before anything is imported.
  OnnxSupportReport support = checkModelSupport(model, options);
  KILN_RETURN_IF_ERROR(support.toStatus().withContext("'" + source + "'"));
  ImportState s;
  s.baseDir = baseDir;
  s.opset = support.opset;
  const ::onnx::GraphProto& g = model.graph();
  collectNames(g, s);
  KILN_RETURN_IF_ERROR(addInitializers(g, s));
  KILN_RETURN_IF_ERROR(addGraphInputs(g, options, s));
  for (int i = 0; i < g.node_size(); ++i) {
    Status st = importNode(g.node(i), i, s);
    if (!st) return nodeError(g.node(i), i, st);
  }
  for (const auto& out : g.output()) {
    if (auto seq = s.sequences.find(out.name()); seq != s.sequences.end()) {
      KILN_RETURN_IF_ERROR(addSequenceOutput(out.name(), seq->second, s));
      continue;
    }
    auto it = s.values.find(out.name());
    if (it == s.values.end())
      return invalidModel("graph output '" + out.name() +
                          "' is not produced by any node, initializer or graph input");
    KILN_RETURN_IF_ERROR(s.net.markOutput(it->second));
  }
  KILN_RETURN_IF_ERROR(s.net.verify().withContext("'" + source + "': imported network"));
  return std::move(s.net);
}

}  // namespace

Status importNodeWithContext(const ::onnx::NodeProto& node, int index, ImportState& s) {
  Status st = importNode(node, index, s);
  return st ? st : nodeError(node, index, st);
}

bool takesSequenceInputs(const std::string& opType) {
  static const std::unordered_set<std::string> ops = {
      "ConcatFromSequence", "Identity",   "Optional",      "OptionalGetElement",
      "OptionalHasElement", "SequenceAt", "SequenceErase", "SequenceInsert",
      "SequenceLength",     "SequenceMap"};
  return ops.count(opType) > 0;
}

bool isDefaultDomain(const std::string& domain) {
  return domain.empty() || domain == "ai.onnx";
}

Status parseModelProto(const void* data, size_t size, const std::string& source,
                       ::onnx::ModelProto* model) {
  if (size > static_cast<size_t>(INT_MAX))
    return unsupported("'" + source +
                       "' is larger than 2 GiB, the protobuf limit for one "
                       "message (store the weights as external data)");
  if (!model->ParseFromArray(data, static_cast<int>(size)))
    return parseError("'" + source +
                      "' is not a valid ONNX model: protobuf parsing failed "
                      "(truncated or not an ONNX file)");
  if (!model->has_graph())
    return parseError("'" + source + "' is not a valid ONNX model: it has no graph");
  return Status::ok();
}

const OpEntry* findOp(const std::string& opType) {
  const auto& table = opTable();
  auto it = table.find(opType);
  return it == table.end() ? nullptr : &it->second;
}

ImportFn findImporter(const std::string& opType) {
  const OpEntry* e = findOp(opType);
  return e ? e->fn : nullptr;
}

}  // namespace kiln::onnx_import

namespace kiln {

Expected<NetworkDefinition> OnnxParser::parseFile(const std::string& path) {
  return parseFile(path, OnnxParseOptions{});
}

Expected<NetworkDefinition> OnnxParser::parseFile(const std::string& path,
                                                  const OnnxParseOptions& options) try {
  Expected<std::string> bytes =
      readRegularFile(path, "model", onnx_import::kMaxProtobufBytes,
                      "the protobuf limit for one message; store the weights as external data");
  if (!bytes) return bytes.status();
  std::string dir = onnx_import::parentDir(path);
  return onnx_import::importModel(bytes->data(), bytes->size(), path, dir.empty() ? "." : dir,
                                  options);
} catch (...) {
  return exceptionToStatus("OnnxParser::parseFile");
}

Expected<NetworkDefinition> OnnxParser::parseBuffer(const void* data, size_t size,
                                                    const std::string& sourceName) try {
  return onnx_import::importModel(data, size, sourceName, "", OnnxParseOptions{});
} catch (...) {
  return exceptionToStatus("OnnxParser::parseBuffer");
}

std::vector<std::string> OnnxParser::supportedOps() {
  std::vector<std::string> ops;
  for (const auto& [op, entry] : onnx_import::opTable())
    ops.push_back(op);
  return ops;  // std::map keeps them sorted
}

std::vector<OnnxOperatorSupport> OnnxParser::operators() {
  std::vector<OnnxOperatorSupport> ops;
  for (const auto& [op, entry] : onnx_import::opTable())
    ops.push_back({op, entry.firstOpset, onnx_import::kMaxOpset});
  return ops;
}

int64_t OnnxParser::minOpset() {
  return onnx_import::kMinOpset;
}

int64_t OnnxParser::maxOpset() {
  return onnx_import::kMaxOpset;
}

}  // namespace kiln
