// ONNX data-movement operators: Pad, Trilu.
#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {
namespace {

/// `inputs` without its trailing absent entries.
std::vector<TensorId> trimAbsent(std::vector<TensorId> inputs) {
  while (!inputs.empty() && inputs.back() == kNoTensor)
    inputs.pop_back();
  return inputs;
}

}  // namespace

// Pad(data, pads, constant_value?, axes?) -> Pad{mode}. Before opset 11 the pads ("paddings" in
// opset 1) and the float `value` are attributes; they become constant inputs so the IR has one
// form. Negative pads crop.
Status importPad(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(std::string modeName, ctx.getString("mode", "constant"));
  PadAttrs a;
  if (modeName == "constant")
    a.mode = PadMode::kConstant;
  else if (modeName == "reflect")
    a.mode = PadMode::kReflect;
  else if (modeName == "edge")
    a.mode = PadMode::kEdge;
  else if (modeName == "wrap" && ctx.opset() >= 19)
    a.mode = PadMode::kWrap;
  else
    return invalidModel("attribute 'mode' is '" + modeName + "'; expected constant, reflect, edge" +
                        (ctx.opset() >= 19 ? ", wrap" : ""));
  if (ctx.opset() >= 11) {
    KILN_ASSIGN_OR_RETURN(TensorId pads, ctx.input(1));
    return ctx.addOutputLayer(a, trimAbsent({x, pads, ctx.optionalInput(2), ctx.optionalInput(3)}));
  }
  const char* padsName = ctx.opset() < 2 ? "paddings" : "pads";
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ctx.requireInts(padsName));
  KILN_ASSIGN_OR_RETURN(float value, ctx.getFloat("value", 0.0f));
  TensorId padsT = ctx.addIntsConstant("pads", pads);
  std::vector<TensorId> inputs = {x, padsT};
  if (value != 0.0f) {
    KILN_ASSIGN_OR_RETURN(
        TensorId v,
        ctx.addScalarConstant("value", value, ctx.dtypeOf(x).value_or(DataType::kFloat32)));
    inputs.push_back(v);
  }
  return ctx.addOutputLayer(a, inputs);
}

// Trilu(input, k?) -> Trilu{upper}.
Status importTrilu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t upper, ctx.getInt("upper", 1));
  return ctx.addOutputLayer(TriluAttrs{upper != 0}, trimAbsent({x, ctx.optionalInput(1)}));
}

}  // namespace kiln::onnx_import
