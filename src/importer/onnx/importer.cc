// The ONNX import driver: ModelProto -> NetworkDefinition. Op importers live in ops_*.cc and
// are listed once in ops.def.
#include "importer/onnx/importer.h"

#include <algorithm>
#include <climits>
#include <map>

#include "importer/onnx/tensor_proto.h"
#include "kiln/onnx_parser.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset =
    28;  // the newest opset of the onnx.proto kiln is built with (ONNX 1.23)

/// The dispatch table, built from ops.def.
const std::map<std::string, ImportFn>& importerTable() {
  static const std::map<std::string, ImportFn> table = {
#define KILN_ONNX_OP(opType, fn) {opType, &fn},
#include "importer/onnx/ops.def"
#undef KILN_ONNX_OP
  };
  return table;
}

bool isDefaultDomain(const std::string& domain) {
  return domain.empty() || domain == "ai.onnx";
}

/// The one place node errors get their prefix: "node 'NAME' (OpType, #index): ".
Status nodeError(const ::onnx::NodeProto& node, int index, const Status& status) {
  return status.withContext("node '" + nodeLayerName(node, index) + "' (" + node.op_type() + ", #" +
                            std::to_string(index) + ")");
}

Expected<int64_t> defaultOpset(const ::onnx::ModelProto& model, const std::string& source) {
  for (const auto& op : model.opset_import()) {
    if (!isDefaultDomain(op.domain())) continue;
    if (op.version() < kMinOpset || op.version() > kMaxOpset)
      return unsupported("'" + source + "' uses ONNX opset " + std::to_string(op.version()) +
                         "; kiln imports opsets " + std::to_string(kMinOpset) + " to " +
                         std::to_string(kMaxOpset));
    return op.version();
  }
  return invalidModel("'" + source + "' declares no opset for the default ONNX domain");
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
      shape.push_back(Dim::named(d.dim_param()));
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
  if (size > static_cast<size_t>(INT_MAX))
    return unsupported("'" + source +
                       "' is larger than 2 GiB, the protobuf limit for one "
                       "message (store the weights as external data)");
  ::onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size)))
    return parseError("'" + source +
                      "' is not a valid ONNX model: protobuf parsing failed "
                      "(truncated or not an ONNX file)");
  if (!model.has_graph())
    return parseError("'" + source + "' is not a valid ONNX model: it has no graph");
  ImportState s;
  s.baseDir = baseDir;
  KILN_ASSIGN_OR_RETURN(s.opset, defaultOpset(model, source));
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
    // Keep the declared shape (with its symbols) for `kiln inspect`; inference sets the real
    // one at build time.
    Tensor& t = s.net.tensor(it->second);
    if (!t.shapeKnown && out.type().tensor_type().has_shape()) {
      int unknown = 0;
      if (auto declared = inputShape(out, &unknown)) t.shape = *declared;
    }
  }
  KILN_RETURN_IF_ERROR(s.net.verify().withContext("'" + source + "': imported network"));
  return std::move(s.net);
}

}  // namespace

ImportFn findImporter(const std::string& opType) {
  const auto& table = importerTable();
  auto it = table.find(opType);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace kiln::onnx_import

namespace kiln {

Expected<NetworkDefinition> OnnxParser::parseFile(const std::string& path) {
  Expected<std::string> bytes = onnx_import::readFileBytes(path);
  if (!bytes) return bytes.status();
  std::string dir = onnx_import::parentDir(path);
  return onnx_import::importModel(bytes->data(), bytes->size(), path, dir.empty() ? "." : dir);
}

Expected<NetworkDefinition> OnnxParser::parseBuffer(const void* data, size_t size,
                                                    const std::string& sourceName) {
  return onnx_import::importModel(data, size, sourceName, "");
}

std::vector<std::string> OnnxParser::supportedOps() {
  std::vector<std::string> ops;
  for (const auto& [op, fn] : onnx_import::importerTable())
    ops.push_back(op);
  return ops;  // std::map keeps them sorted
}

}  // namespace kiln
