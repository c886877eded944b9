// The ONNX import driver: ModelProto -> NetworkDefinition. Op importers live in ops_*.cc and
// are listed once in ops.def.
#include "importer/onnx/importer.h"

#include <algorithm>
#include <climits>
#include <map>

#include "importer/onnx/tensor_proto.h"
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
Expected<Shape> inputShape(const ::onnx::ValueInfoProto& vi, int* unknownCounter) {
  const auto& tt = vi.type().tensor_type();
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
      shape.push_back(Dim::named(name));
    } else {
      shape.push_back(Dim::named("unk_" + std::to_string((*unknownCounter)++)));
    }
  }
  return shape;
}

Status addGraphInputs(const ::onnx::GraphProto& g, ImportState& s) {
  int unknownCounter = 0;
  for (const auto& vi : g.input()) {
    if (s.values.count(vi.name())) continue;  // an initializer: a constant, not an input
    if (!vi.type().has_tensor_type())
      return unsupported("graph input '" + vi.name() +
                         "' is not a tensor (sequence, map or "
                         "optional inputs are not supported)");
    int32_t code = vi.type().tensor_type().elem_type();
    std::optional<DataType> dtype = dataTypeFromOnnx(code);
    if (!dtype)
      return unsupported("graph input '" + vi.name() + "' has element type " +
                         onnxDataTypeName(code) + ", which kiln does not support");
    KILN_ASSIGN_OR_RETURN(Shape shape, inputShape(vi, &unknownCounter));
    KILN_ASSIGN_OR_RETURN(TensorId t, s.net.addInput(vi.name(), *dtype, shape));
    s.values[vi.name()] = t;
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
    if (!out.empty() && !s.values.count(out) && s.consumedNames.count(out))
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
                                        const std::string& baseDir) {
  ::onnx::ModelProto model;
  KILN_RETURN_IF_ERROR(parseModelProto(data, size, source, &model));
  // Every unsupported operator and type is named at once, before anything is imported.
  OnnxSupportReport support = checkModelSupport(model);
  KILN_RETURN_IF_ERROR(support.toStatus().withContext("'" + source + "'"));
  ImportState s;
  s.baseDir = baseDir;
  s.opset = support.opset;
  const ::onnx::GraphProto& g = model.graph();
  collectNames(g, s);
  KILN_RETURN_IF_ERROR(addInitializers(g, s));
  KILN_RETURN_IF_ERROR(addGraphInputs(g, s));
  for (int i = 0; i < g.node_size(); ++i) {
    Status st = importNode(g.node(i), i, s);
    if (!st) return nodeError(g.node(i), i, st);
  }
  for (const auto& out : g.output()) {
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

Expected<NetworkDefinition> OnnxParser::parseFile(const std::string& path) try {
  Expected<std::string> bytes =
      readRegularFile(path, "model", onnx_import::kMaxProtobufBytes,
                      "the protobuf limit for one message; store the weights as external data");
  if (!bytes) return bytes.status();
  std::string dir = onnx_import::parentDir(path);
  return onnx_import::importModel(bytes->data(), bytes->size(), path, dir.empty() ? "." : dir);
} catch (...) {
  return exceptionToStatus("OnnxParser::parseFile");
}

Expected<NetworkDefinition> OnnxParser::parseBuffer(const void* data, size_t size,
                                                    const std::string& sourceName) try {
  return onnx_import::importModel(data, size, sourceName, "");
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
