// NodeContext: typed attribute readers and the layer-building helpers every op importer uses.
#include <cmath>
#include <cstring>

#include "importer/onnx/importer.h"

#include "importer/onnx/tensor_proto.h"
#include "ir/shape_inference.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

using ::onnx::AttributeProto;

std::string ImportState::freshName(const std::string& base) const {
  auto taken = [&](const std::string& n) {
    return reservedNames.count(n) > 0 || net.findTensor(n) >= 0;
  };
  if (!taken(base)) return base;
  for (int i = 1;; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (!taken(n)) return n;
  }
}

std::string nodeLayerName(const ::onnx::NodeProto& node, int index) {
  return node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
}

NodeContext::NodeContext(ImportState& state, const ::onnx::NodeProto& node, int index,
                         std::vector<TensorId> inputs)
    : state_(state),
      node_(node),
      index_(index),
      name_(nodeLayerName(node, index)),
      inputs_(std::move(inputs)) {}

const std::string& NodeContext::opType() const {
  return node_.op_type();
}

// ---- inputs ---------------------------------------------------------------------------------

Expected<TensorId> NodeContext::input(int i) const {
  if (!hasInput(i))
    return invalidModel("required input #" + std::to_string(i) + " is missing (the node has " +
                        std::to_string(numInputs()) + " inputs)");
  return inputs_[i];
}

const Weights* NodeContext::constantInput(int i) const {
  return hasInput(i) ? state_.net.constantValue(inputs_[i]) : nullptr;
}

namespace {
const ::onnx::TypeProto* declaredType(const ImportState& s, const std::string& name) {
  auto it = s.declaredTypes.find(name);
  if (it == s.declaredTypes.end() || !it->second->has_tensor_type()) return nullptr;
  return it->second;
}
}  // namespace

std::optional<DataType> NodeContext::dtypeOf(TensorId t) const {
  if (t == kNoTensor) return std::nullopt;
  const Tensor& x = state_.net.tensor(t);
  if (x.shapeKnown) return x.dtype;
  if (const auto* type = declaredType(state_, x.name))
    return dataTypeFromOnnx(type->tensor_type().elem_type());
  return std::nullopt;
}

std::optional<int64_t> NodeContext::rankOf(TensorId t) const {
  if (t == kNoTensor) return std::nullopt;
  const Tensor& x = state_.net.tensor(t);
  if (x.shapeKnown) return static_cast<int64_t>(x.shape.size());
  if (const auto* type = declaredType(state_, x.name))
    if (type->tensor_type().has_shape()) return type->tensor_type().shape().dim_size();
  return std::nullopt;
}

// ---- outputs --------------------------------------------------------------------------------

int NodeContext::numOutputs() const {
  return node_.output_size();
}

bool NodeContext::outputUsed(int k) const {
  if (k >= node_.output_size() || node_.output(k).empty()) return false;
  return state_.consumedNames.count(node_.output(k)) > 0;
}

Status NodeContext::requireUnusedOutputs(int first) const {
  for (int k = first; k < node_.output_size(); ++k)
    if (outputUsed(k))
      return unsupported("output #" + std::to_string(k) + " ('" + node_.output(k) +
                         "') is used, but kiln only imports the first " + std::to_string(first) +
                         " output(s) of " + opType());
  return Status::ok();
}

// ---- attributes -----------------------------------------------------------------------------

const AttributeProto* NodeContext::findAttr(const std::string& name) const {
  for (const AttributeProto& a : node_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

bool NodeContext::hasAttr(const std::string& name) const {
  return findAttr(name) != nullptr;
}

Status NodeContext::checkAttrType(const AttributeProto& a, int expectedType) const {
  if (a.type() == expectedType) return Status::ok();
  auto typeName = [](int t) {
    return AttributeProto::AttributeType_IsValid(t)
               ? AttributeProto::AttributeType_Name(static_cast<AttributeProto::AttributeType>(t))
               : "<type " + std::to_string(t) + ">";
  };
  return invalidModel("attribute '" + a.name() + "' has type " + typeName(a.type()) +
                      ", expected " + typeName(expectedType));
}

Expected<int64_t> NodeContext::getInt(const std::string& name, int64_t defaultValue) const {
  const AttributeProto* a = findAttr(name);
  if (!a) return defaultValue;
  KILN_RETURN_IF_ERROR(checkAttrType(*a, AttributeProto::INT));
  return a->i();
}

Expected<int64_t> NodeContext::requireInt(const std::string& name) const {
  if (!findAttr(name)) return invalidModel("missing required attribute '" + name + "'");
  return getInt(name, 0);
}

Expected<float> NodeContext::getFloat(const std::string& name, float defaultValue) const {
  const AttributeProto* a = findAttr(name);
  if (!a) return defaultValue;
  KILN_RETURN_IF_ERROR(checkAttrType(*a, AttributeProto::FLOAT));
  return a->f();
}

Expected<std::string> NodeContext::getString(const std::string& name,
                                             const std::string& defaultValue) const {
  const AttributeProto* a = findAttr(name);
  if (!a) return defaultValue;
  KILN_RETURN_IF_ERROR(checkAttrType(*a, AttributeProto::STRING));
  return a->s();
}

Expected<std::vector<int64_t>> NodeContext::getInts(const std::string& name,
                                                    std::vector<int64_t> defaultValue) const {
  const AttributeProto* a = findAttr(name);
  if (!a) return defaultValue;
  KILN_RETURN_IF_ERROR(checkAttrType(*a, AttributeProto::INTS));
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

Expected<std::vector<int64_t>> NodeContext::requireInts(const std::string& name) const {
  if (!findAttr(name)) return invalidModel("missing required attribute '" + name + "'");
  return getInts(name);
}

Expected<std::vector<float>> NodeContext::getFloats(const std::string& name) const {
  const AttributeProto* a = findAttr(name);
  if (!a) return std::vector<float>{};
  KILN_RETURN_IF_ERROR(checkAttrType(*a, AttributeProto::FLOATS));
  return std::vector<float>(a->floats().begin(), a->floats().end());
}

Expected<const ::onnx::TensorProto*> NodeContext::requireTensor(const std::string& name) const {
  const AttributeProto* a = findAttr(name);
  if (!a) return invalidModel("missing required attribute '" + name + "'");
  KILN_RETURN_IF_ERROR(checkAttrType(*a, AttributeProto::TENSOR));
  return &a->t();
}

Expected<Weights> NodeContext::decodeTensor(const ::onnx::TensorProto& proto) const {
  return weightsFromTensorProto(proto, state_.baseDir);
}

// ---- building -------------------------------------------------------------------------------

Status NodeContext::registerOutput(int k, TensorId t) {
  const std::string& name = node_.output(k);
  if (name.empty()) return Status::ok();
  if (!state_.values.emplace(name, t).second)
    return invalidModel("output '" + name +
                        "' is already produced by an earlier node, "
                        "initializer or graph input");
  return Status::ok();
}

Status NodeContext::addOutputLayer(LayerAttrs attrs, const std::vector<TensorId>& inputs,
                                   int numOutputs) {
  if (numOutputs > node_.output_size())
    return invalidModel("expected " + std::to_string(numOutputs) + " output(s), the node has " +
                        std::to_string(node_.output_size()));
  std::vector<std::string> names;
  for (int k = 0; k < numOutputs; ++k) {
    const std::string& n = node_.output(k);
    if (!n.empty() && state_.values.count(n))
      return invalidModel("output '" + n +
                          "' is already produced by an earlier node, "
                          "initializer or graph input");
    names.push_back(n.empty() ? state_.freshName(name_ + ":" + std::to_string(k)) : n);
  }
  KILN_ASSIGN_OR_RETURN(LayerId id,
                        state_.net.addLayer(name_, std::move(attrs), inputs, numOutputs, names));
  // Types and (symbolic) shapes are known as soon as a layer exists.
  KILN_RETURN_IF_ERROR(inferLayer(state_.net, id));
  for (int k = 0; k < numOutputs; ++k)
    KILN_RETURN_IF_ERROR(registerOutput(k, state_.net.layer(id).outputs[k]));
  return Status::ok();
}

Expected<TensorId> NodeContext::addInternal(const std::string& suffix, LayerAttrs attrs,
                                            const std::vector<TensorId>& inputs) {
  std::string name = name_ + "/" + suffix;
  KILN_ASSIGN_OR_RETURN(
      LayerId id, state_.net.addLayer(name, std::move(attrs), inputs, 1, {state_.freshName(name)}));
  KILN_RETURN_IF_ERROR(inferLayer(state_.net, id));
  return state_.net.layer(id).outputs[0];
}

Expected<std::vector<TensorId>> NodeContext::addInternalOutputs(const std::string& suffix,
                                                                LayerAttrs attrs,
                                                                const std::vector<TensorId>& inputs,
                                                                int numOutputs) {
  std::string name = name_ + "/" + suffix;
  std::vector<std::string> names;
  for (int k = 0; k < numOutputs; ++k) {
    // Each name is taken by addLayer before the next is chosen, so they are distinct.
    std::string n = state_.freshName(name + ":" + std::to_string(k));
    for (const std::string& earlier : names)
      if (earlier == n) return internalError("duplicate helper tensor name '" + n + "'");
    names.push_back(std::move(n));
  }
  KILN_ASSIGN_OR_RETURN(LayerId id,
                        state_.net.addLayer(name, std::move(attrs), inputs, numOutputs, names));
  KILN_RETURN_IF_ERROR(inferLayer(state_.net, id));
  return state_.net.layer(id).outputs;
}

TensorId NodeContext::addConstant(const std::string& suffix, Weights value) {
  return state_.net.addConstant(state_.freshName(name_ + "/" + suffix), std::move(value));
}

TensorId NodeContext::addIntsConstant(const std::string& suffix, const std::vector<int64_t>& v) {
  return addConstant(suffix, Weights::fromInts(v));
}

namespace {
/// IEEE binary16 bits of `f`, rounding to nearest even.
uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {  // subnormal or zero in half
    float a;
    std::memcpy(&a, &absx, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t h = ((absx >> 23) - 112) << 10 | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}
/// bfloat16 bits of `f`, rounding to nearest even.
uint16_t floatToBFloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}
}  // namespace

Expected<TensorId> NodeContext::addScalarConstant(const std::string& suffix, double value,
                                                  DataType dtype) {
  KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(dtype, {}));
  void* p = w.mutableData();
  switch (dtype) {
    case DataType::kFloat32:
      *static_cast<float*>(p) = static_cast<float>(value);
      break;
    case DataType::kFloat64:
      *static_cast<double*>(p) = value;
      break;
    case DataType::kFloat16:
      *static_cast<uint16_t*>(p) = floatToHalf(static_cast<float>(value));
      break;
    case DataType::kBFloat16:
      *static_cast<uint16_t*>(p) = floatToBFloat16(static_cast<float>(value));
      break;
    case DataType::kInt8:
      *static_cast<int8_t*>(p) = static_cast<int8_t>(value);
      break;
    case DataType::kUInt8:
      *static_cast<uint8_t*>(p) = static_cast<uint8_t>(value);
      break;
    case DataType::kInt32:
      *static_cast<int32_t*>(p) = static_cast<int32_t>(value);
      break;
    case DataType::kInt64:
      *static_cast<int64_t*>(p) = static_cast<int64_t>(value);
      break;
    case DataType::kBool:
      *static_cast<uint8_t*>(p) = value != 0;
      break;
    default:
      return unsupported(std::string("a scalar constant of type ") + dataTypeName(dtype) +
                         " is not supported");
  }
  return addConstant(suffix, std::move(w));
}

Status NodeContext::addOutputConstant(Weights value) {
  if (node_.output_size() < 1 || node_.output(0).empty())
    return invalidModel("the node has no output");
  const std::string& name = node_.output(0);
  if (state_.values.count(name))
    return invalidModel("output '" + name +
                        "' is already produced by an earlier node, "
                        "initializer or graph input");
  return registerOutput(0, state_.net.addConstant(name, std::move(value)));
}

Status NodeContext::setOutput(int k, TensorId t) {
  if (k >= node_.output_size() || node_.output(k).empty()) return Status::ok();
  const std::string& name = node_.output(k);
  if (state_.graphOutputs.count(name)) {
    // A graph output must be a tensor of its own name: materialize the alias.
    if (state_.values.count(name))
      return invalidModel("output '" + name +
                          "' is already produced by an earlier node, "
                          "initializer or graph input");
    KILN_ASSIGN_OR_RETURN(
        LayerId id, state_.net.addLayer(name_, UnaryAttrs{UnaryKind::kIdentity}, {t}, 1, {name}));
    KILN_RETURN_IF_ERROR(inferLayer(state_.net, id));
    return registerOutput(k, state_.net.layer(id).outputs[0]);
  }
  return registerOutput(k, t);
}

}  // namespace kiln::onnx_import
