// What the importer can and cannot handle in a model, read from the ModelProto without
// importing it: the default-domain opset (ONNX's rules for absent imports), every operator
// checked against ops.def, and every type kiln has no type for.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "importer/onnx/importer.h"
#include "importer/onnx/tensor_proto.h"
#include "onnx.pb.h"
#include "util/file_io.h"

namespace kiln {

std::string OnnxOperatorUse::qualifiedName() const {
  return domain.empty() ? opType : domain + "." + opType;
}

std::vector<OnnxOperatorUse> OnnxSupportReport::unsupportedOperators() const {
  std::vector<OnnxOperatorUse> out;
  for (const OnnxOperatorUse& op : operators)
    if (!op.unsupportedReason.empty()) out.push_back(op);
  return out;
}

bool OnnxSupportReport::supported() const {
  return invalidReasons.empty() && modelIssues.empty() && unsupportedTypes.empty() &&
         unsupportedOperators().empty();
}

namespace {

constexpr size_t kMaxNamesListed = 5;

/// "a, b, c" with at most kMaxNamesListed names, then "and N more".
std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < kMaxNamesListed; ++i)
    out += (i ? ", " : "") + names[i];
  if (names.size() > kMaxNamesListed)
    out += " and " + std::to_string(names.size() - kMaxNamesListed) + " more";
  return out;
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

Status OnnxSupportReport::toStatus() const {
  if (!invalidReasons.empty()) {
    std::string m;
    for (const std::string& r : invalidReasons)
      m += (m.empty() ? "" : "; ") + r;
    return invalidModel(m);
  }
  std::vector<std::string> parts = modelIssues;
  std::vector<OnnxOperatorUse> ops = unsupportedOperators();
  if (!ops.empty()) {
    std::string m = plural(ops.size(), "operator is", "operators are") + " not supported: ";
    for (size_t i = 0; i < ops.size(); ++i) {
      const OnnxOperatorUse& op = ops[i];
      m += (i ? ", " : "") + op.qualifiedName() + " (" +
           (op.nodes.size() == 1 ? "node " : "nodes ") + joinNames(op.nodes);
      if (op.unsupportedReason != "not implemented") m += ": " + op.unsupportedReason;
      m += ")";
    }
    parts.push_back(m);
  }
  if (!unsupportedTypes.empty()) {
    std::string m = plural(unsupportedTypes.size(), "type is", "types are") + " not supported: ";
    for (size_t i = 0; i < unsupportedTypes.size(); ++i)
      m += (i ? ", " : "") + unsupportedTypes[i].type + " (" + joinNames(unsupportedTypes[i].uses) +
           ")";
    parts.push_back(m);
  }
  if (parts.empty()) return Status::ok();
  std::string m;
  for (const std::string& p : parts)
    m += (m.empty() ? "" : "; ") + p;
  return unsupported(m);
}

namespace onnx_import {

namespace {

using ::onnx::AttributeProto;
using ::onnx::GraphProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;
using ::onnx::TypeProto;

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// "string", "uint16", "float8e4m3fn"; "<code N>" for codes this schema does not know.
std::string elementTypeName(int32_t code) {
  return lower(onnxDataTypeName(code));
}

/// Collects the report while walking the model.
class SupportScan {
 public:
  SupportScan(const ::onnx::ModelProto& model, const OnnxParseOptions& options)
      : model_(model), options_(options) {}

  OnnxSupportReport run() {
    readOpsets();
    scanGraph(model_.graph(), /*topLevel=*/true);
    for (const auto& vi : model_.graph().output())
      report_.sequenceOutputs.push_back(vi.type().has_sequence_type());
    for (auto& [key, op] : ops_)
      report_.operators.push_back(std::move(op));
    for (auto& [type, uses] : types_)
      report_.unsupportedTypes.push_back({type, std::move(uses)});
    if (!defaultDomainNodes_.empty())
      report_.invalidReasons.push_back(
          "the model uses default-domain operators (nodes " + joinNames(defaultDomainNodes_) +
          ") but does not import the default ONNX domain (opset_import lists " + importsText() +
          ")");
    return std::move(report_);
  }

 private:
  /// ONNX: an IR version < 3 model has no opset_import and means opset 1 of the default domain;
  /// from IR version 3 the imports are explicit, and a model may omit the default domain when
  /// no node uses it (onnx.checker accepts such models).
  void readOpsets() {
    bool found = false;
    for (const auto& op : model_.opset_import()) {
      std::string domain = isDefaultDomain(op.domain()) ? "" : op.domain();
      opsets_[domain] = op.version();
      if (!domain.empty() || found) continue;
      found = true;
      report_.opset = op.version();
      if (op.version() < kMinOpset)
        report_.invalidReasons.push_back("the model imports opset " + std::to_string(op.version()) +
                                         " of the default ONNX domain (opsets start at 1)");
      else if (op.version() > kMaxOpset)
        report_.modelIssues.push_back("the model uses ONNX opset " + std::to_string(op.version()) +
                                      "; kiln imports opsets " + std::to_string(kMinOpset) +
                                      " to " + std::to_string(kMaxOpset));
    }
    if (!found && model_.opset_import_size() == 0 && model_.ir_version() < 3) {
      report_.opset = 1;
      opsets_[""] = 1;
    }
  }

  std::string importsText() const {
    if (model_.opset_import_size() == 0) return "nothing";
    std::string s;
    for (const auto& op : model_.opset_import())
      s += (s.empty() ? "" : ", ") + (op.domain().empty() ? std::string("''") : op.domain()) + " " +
           std::to_string(op.version());
    return s;
  }

  void addType(const std::string& type, const std::string& use) {
    auto& uses = types_[type];
    if (std::find(uses.begin(), uses.end(), use) == uses.end()) uses.push_back(use);
  }

  void checkElementType(int32_t code, const std::string& use) {
    if (!dataTypeFromOnnx(code)) addType(elementTypeName(code), use);
  }

  /// A declared value type; `allowUndefined` for value_info and outputs, whose element type
  /// may be left for inference to find. Sequences of tensors are imported as build-time lists
  /// of tensors where they are made inside the graph (outputs, value_info), not as inputs.
  void checkValueType(const TypeProto& t, const std::string& use, bool allowUndefined,
                      bool allowSequence = false) {
    switch (t.value_case()) {
      case TypeProto::kTensorType:
        if (t.tensor_type().elem_type() == TensorProto::UNDEFINED && allowUndefined) return;
        checkElementType(t.tensor_type().elem_type(), use);
        return;
      case TypeProto::kSequenceType:
        if (allowSequence &&
            t.sequence_type().elem_type().value_case() != TypeProto::kSequenceType &&
            t.sequence_type().elem_type().value_case() != TypeProto::kMapType) {
          checkValueType(t.sequence_type().elem_type(), use, allowUndefined, false);
          return;
        }
        addType("sequence", use);
        return;
      case TypeProto::kOptionalType:
        addType("optional", use);
        return;
      case TypeProto::kMapType:
        addType("map", use);
        return;
      case TypeProto::kSparseTensorType:
        addType("sparse_tensor", use);
        return;
      default:
        return;  // no type declared: inference decides
    }
  }

  void scanGraph(const GraphProto& g, bool topLevel) {
    std::set<std::string> initializers;
    for (const TensorProto& init : g.initializer()) {
      initializers.insert(init.name());
      checkElementType(init.data_type(), "initializer '" + init.name() + "'");
    }
    for (const auto& sparse : g.sparse_initializer())
      addType("sparse_tensor", "initializer '" + sparse.values().name() + "'");
    if (topLevel) {
      for (const auto& vi : g.input()) {
        if (initializers.count(vi.name())) continue;
        report_.inputNames.push_back(vi.name());
        report_.sequenceInputs.push_back(vi.type().has_sequence_type());
        report_.optionalInputs.push_back(vi.type().has_optional_type());
        const std::string use = "input '" + vi.name() + "'";
        const bool hasLength = options_.sequenceInputLengths.count(vi.name()) > 0;
        if (vi.type().has_optional_type() && options_.optionalInputsPresent.count(vi.name())) {
          // Known present or absent: its element type is checked when it holds one.
          if (options_.optionalInputsPresent.at(vi.name()))
            checkValueType(vi.type().optional_type().elem_type(), use, false, hasLength);
          continue;
        }
        checkValueType(vi.type(), use, false, hasLength);
      }
      for (const auto& vi : g.output())
        checkValueType(vi.type(), "output '" + vi.name() + "'", true, true);
      for (const auto& vi : g.value_info())
        checkValueType(vi.type(), "value '" + vi.name() + "'", true, true);
    }
    for (int i = 0; i < g.node_size(); ++i)
      scanNode(g.node(i), i);
  }

  void scanNode(const NodeProto& node, int index) {
    const std::string name = nodeLayerName(node, index);
    const std::string domain = isDefaultDomain(node.domain()) ? "" : node.domain();
    auto it = opsets_.find(domain);
    const int64_t opset = it == opsets_.end() ? 0 : it->second;
    OnnxOperatorUse& op = ops_[{domain, node.op_type()}];
    if (op.opType.empty()) {
      op.domain = domain;
      op.opType = node.op_type();
      op.opset = opset;
      op.unsupportedReason = reasonFor(domain, node.op_type(), opset);
    }
    op.nodes.push_back(name);
    if (domain.empty() && opset == 0) defaultDomainNodes_.push_back(name);
    for (const AttributeProto& a : node.attribute()) {
      const std::string use = "node '" + name + "' (" + node.op_type() + " '" + a.name() + "')";
      switch (a.type()) {
        case AttributeProto::TENSOR:
          checkElementType(a.t().data_type(), use);
          break;
        case AttributeProto::TENSORS:
          for (const TensorProto& t : a.tensors())
            checkElementType(t.data_type(), use);
          break;
        case AttributeProto::SPARSE_TENSOR:
        case AttributeProto::SPARSE_TENSORS:
          addType("sparse_tensor", use);
          break;
        case AttributeProto::GRAPH:
          scanGraph(a.g(), false);
          break;
        case AttributeProto::GRAPHS:
          for (const GraphProto& g : a.graphs())
            scanGraph(g, false);
          break;
        default:
          break;
      }
    }
    if (domain.empty() && node.op_type() == "Cast") checkCastTarget(node, name);
  }

  /// Cast's `to`: an element type code, or (opset < 6) the type's name as a string.
  void checkCastTarget(const NodeProto& node, const std::string& name) {
    for (const AttributeProto& a : node.attribute()) {
      if (a.name() != "to") continue;
      const std::string use = "node '" + name + "' (Cast 'to')";
      if (a.type() == AttributeProto::INT) {
        checkElementType(static_cast<int32_t>(a.i()), use);
      } else if (a.type() == AttributeProto::STRING) {
        TensorProto::DataType code;
        if (TensorProto::DataType_Parse(a.s(), &code))
          checkElementType(code, use);
        else
          addType(lower(a.s()), use);
      }
    }
  }

  static std::string reasonFor(const std::string& domain, const std::string& opType,
                               int64_t opset) {
    if (!domain.empty())
      return "domain '" + domain + "' is not supported; kiln imports the default ONNX domain";
    if (opset == 0) return "";  // invalid model, reported once for all such nodes
    const OpEntry* entry = findOp(opType);
    if (!entry) return "not implemented";
    if (opset < entry->firstOpset)
      return "introduced in opset " + std::to_string(entry->firstOpset) +
             "; the model imports opset " + std::to_string(opset);
    return "";
  }

  const ::onnx::ModelProto& model_;
  const OnnxParseOptions& options_;
  OnnxSupportReport report_;
  std::map<std::string, int64_t> opsets_;  // domain ("" for default) -> version
  std::map<std::pair<std::string, std::string>, OnnxOperatorUse> ops_;
  std::map<std::string, std::vector<std::string>> types_;
  std::vector<std::string> defaultDomainNodes_;
};

}  // namespace

OnnxSupportReport checkModelSupport(const ::onnx::ModelProto& model,
                                    const OnnxParseOptions& options) {
  return SupportScan(model, options).run();
}

}  // namespace onnx_import

Expected<OnnxSupportReport> OnnxParser::checkSupportFile(const std::string& path) {
  return checkSupportFile(path, OnnxParseOptions{});
}

Expected<OnnxSupportReport> OnnxParser::checkSupportFile(const std::string& path,
                                                         const OnnxParseOptions& options) {
  Expected<std::string> bytes =
      readRegularFile(path, "model", onnx_import::kMaxProtobufBytes,
                      "the protobuf limit for one message; store the weights as external data");
  if (!bytes) return bytes.status();
  ::onnx::ModelProto model;
  KILN_RETURN_IF_ERROR(onnx_import::parseModelProto(bytes->data(), bytes->size(), path, &model));
  return onnx_import::checkModelSupport(model, options);
}

Expected<OnnxSupportReport> OnnxParser::checkSupportBuffer(const void* data, size_t size,
                                                           const std::string& sourceName) {
  ::onnx::ModelProto model;
  KILN_RETURN_IF_ERROR(onnx_import::parseModelProto(data, size, sourceName, &model));
  return onnx_import::checkModelSupport(model, OnnxParseOptions{});
}

}  // namespace kiln
