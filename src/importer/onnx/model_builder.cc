#include "importer/onnx/model_builder.h"

#include "importer/onnx/tensor_proto.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

void setTensorType(::onnx::ValueInfoProto* vi, DataType dtype) {
  vi->mutable_type()->mutable_tensor_type()->set_elem_type(dataTypeToOnnx(dtype));
}

void setAttr(::onnx::AttributeProto* a, const NodeAttr& attr) {
  using ::onnx::AttributeProto;
  a->set_name(attr.name);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          a->set_type(AttributeProto::INT);
          a->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          a->set_type(AttributeProto::FLOAT);
          a->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          a->set_type(AttributeProto::STRING);
          a->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          a->set_type(AttributeProto::INTS);
          for (int64_t x : v)
            a->add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          a->set_type(AttributeProto::FLOATS);
          for (float x : v)
            a->add_floats(x);
        } else {
          a->set_type(AttributeProto::TENSOR);
          weightsToTensorProto(v, "", a->mutable_t());
        }
      },
      attr.value);
}

}  // namespace

ModelBuilder::ModelBuilder(int64_t opset) : model_(std::make_unique<::onnx::ModelProto>()) {
  model_->set_ir_version(8);
  model_->set_producer_name("kiln-tests");
  model_->mutable_graph()->set_name("test");
  if (opset > 0) opsetImport("", opset);
}

ModelBuilder::~ModelBuilder() = default;

ModelBuilder& ModelBuilder::input(const std::string& name, DataType dtype, const Shape& shape) {
  auto* vi = model_->mutable_graph()->add_input();
  vi->set_name(name);
  setTensorType(vi, dtype);
  auto* s = vi->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (const Dim& d : shape) {
    auto* dim = s->add_dim();
    if (d.isSymbol())
      dim->set_dim_param(d.symbol());
    else if (d.isStatic() && d.value() >= 0)
      dim->set_dim_value(d.value());
  }
  return *this;
}

ModelBuilder& ModelBuilder::inputWithOnnxType(const std::string& name, int32_t onnxElemType,
                                              const Dims& dims) {
  auto* vi = model_->mutable_graph()->add_input();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnxElemType);
  for (int64_t d : dims)
    tt->mutable_shape()->add_dim()->set_dim_value(d);
  return *this;
}

ModelBuilder& ModelBuilder::sequenceInput(const std::string& name, DataType dtype) {
  auto* vi = model_->mutable_graph()->add_input();
  vi->set_name(name);
  vi->mutable_type()
      ->mutable_sequence_type()
      ->mutable_elem_type()
      ->mutable_tensor_type()
      ->set_elem_type(dataTypeToOnnx(dtype));
  return *this;
}

ModelBuilder& ModelBuilder::sequenceInput(const std::string& name, DataType dtype,
                                          const Shape& elementShape) {
  sequenceInput(name, dtype);
  auto* tt = model_->mutable_graph()
                 ->mutable_input(model_->graph().input_size() - 1)
                 ->mutable_type()
                 ->mutable_sequence_type()
                 ->mutable_elem_type()
                 ->mutable_tensor_type();
  auto* s = tt->mutable_shape();
  for (const Dim& d : elementShape) {
    auto* dim = s->add_dim();
    if (d.isSymbol())
      dim->set_dim_param(d.symbol());
    else if (d.isStatic() && d.value() >= 0)
      dim->set_dim_value(d.value());
  }
  return *this;
}

ModelBuilder& ModelBuilder::optionalInput(const std::string& name, DataType dtype,
                                          const Shape& shape) {
  input(name, dtype, shape);
  auto* vi = model_->mutable_graph()->mutable_input(model_->graph().input_size() - 1);
  ::onnx::TypeProto tensor = vi->type();
  *vi->mutable_type()->mutable_optional_type()->mutable_elem_type() = tensor;
  return *this;
}

ModelBuilder& ModelBuilder::inputWithoutShape(const std::string& name, DataType dtype) {
  auto* vi = model_->mutable_graph()->add_input();
  vi->set_name(name);
  setTensorType(vi, dtype);
  return *this;
}

ModelBuilder& ModelBuilder::output(const std::string& name) {
  model_->mutable_graph()->add_output()->set_name(name);
  return *this;
}

ModelBuilder& ModelBuilder::valueInfo(const std::string& name, DataType dtype, int rank) {
  auto* vi = model_->mutable_graph()->add_value_info();
  vi->set_name(name);
  setTensorType(vi, dtype);
  auto* s = vi->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int i = 0; i < rank; ++i)
    s->add_dim();
  return *this;
}

ModelBuilder& ModelBuilder::initializer(const std::string& name, const Weights& value) {
  weightsToTensorProto(value, name, model_->mutable_graph()->add_initializer());
  return *this;
}

ModelBuilder& ModelBuilder::typedInitializer(const std::string& name, DataType dtype,
                                             const Dims& dims, const std::vector<double>& values) {
  auto* t = model_->mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(dataTypeToOnnx(dtype));
  for (int64_t d : dims)
    t->add_dims(d);
  for (double v : values) {
    switch (dtype) {
      case DataType::kFloat32:
        t->add_float_data(static_cast<float>(v));
        break;
      case DataType::kFloat64:
        t->add_double_data(v);
        break;
      case DataType::kInt64:
        t->add_int64_data(static_cast<int64_t>(v));
        break;
      default:
        t->add_int32_data(static_cast<int32_t>(v));
        break;
    }
  }
  return *this;
}

ModelBuilder& ModelBuilder::externalInitializer(const std::string& name, DataType dtype,
                                                const Dims& dims, const std::string& location,
                                                int64_t offset, int64_t length) {
  auto* t = model_->mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(dataTypeToOnnx(dtype));
  for (int64_t d : dims)
    t->add_dims(d);
  t->set_data_location(::onnx::TensorProto::EXTERNAL);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", std::to_string(offset));
  add("length", std::to_string(length));
  return *this;
}

ModelBuilder& ModelBuilder::node(const NodeSpec& spec) {
  auto* n = model_->mutable_graph()->add_node();
  n->set_op_type(spec.opType);
  n->set_name(spec.name);
  n->set_domain(spec.domain);
  for (const auto& in : spec.inputs)
    n->add_input(in);
  for (const auto& out : spec.outputs)
    n->add_output(out);
  for (const auto& a : spec.attrs)
    setAttr(n->add_attribute(), a);
  return *this;
}

ModelBuilder& ModelBuilder::graphAttribute(const std::string& name, const ModelBuilder& body) {
  auto* nodes = model_->mutable_graph()->mutable_node();
  if (nodes->empty()) return *this;  // permissive: nothing to attach to
  auto* a = nodes->Mutable(nodes->size() - 1)->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::GRAPH);
  *a->mutable_g() = body.model_->graph();
  return *this;
}

ModelBuilder& ModelBuilder::opsetImport(const std::string& domain, int64_t version) {
  auto* op = model_->add_opset_import();
  op->set_domain(domain);
  op->set_version(version);
  return *this;
}

ModelBuilder& ModelBuilder::irVersion(int64_t version) {
  model_->set_ir_version(version);
  return *this;
}

std::string ModelBuilder::serialize() const {
  return model_->SerializeAsString();
}

std::string encodeTensorProto(const std::string& name, int32_t onnxType, const Dims& dims,
                              const std::string& rawData) {
  ::onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnxType);
  for (int64_t d : dims)
    t.add_dims(d);
  t.set_raw_data(rawData);
  return t.SerializeAsString();
}

}  // namespace kiln::onnx_import
