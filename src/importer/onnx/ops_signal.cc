// ONNX signal ops: the window generators (HannWindow, HammingWindow, BlackmanWindow) -> Window,
// DFT -> Dft, STFT -> Stft, MelWeightMatrix -> MelWeightMatrix.
#include "importer/onnx/importer.h"
#include "importer/onnx/tensor_proto.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

// Window(size; periodic, output_datatype).
Status importWindow(NodeContext& ctx, WindowKind kind) {
  KILN_ASSIGN_OR_RETURN(TensorId size, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t periodic, ctx.getInt("periodic", 1));
  KILN_ASSIGN_OR_RETURN(int64_t code, ctx.getInt("output_datatype", 1));
  std::optional<DataType> dtype = dataTypeFromOnnx(static_cast<int32_t>(code));
  if (!dtype)
    return unsupported("attribute 'output_datatype' is ONNX type " + std::to_string(code) +
                       ", which kiln has no type for");
  return ctx.addOutputLayer(WindowAttrs{kind, periodic != 0, *dtype}, {size});
}

}  // namespace

Status importHannWindow(NodeContext& ctx) {
  return importWindow(ctx, WindowKind::kHann);
}
Status importHammingWindow(NodeContext& ctx) {
  return importWindow(ctx, WindowKind::kHamming);
}
Status importBlackmanWindow(NodeContext& ctx) {
  return importWindow(ctx, WindowKind::kBlackman);
}

// MelWeightMatrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz;
// output_datatype).
Status importMelWeightMatrix(NodeContext& ctx) {
  std::vector<TensorId> inputs;
  for (int i = 0; i < 5; ++i) {
    KILN_ASSIGN_OR_RETURN(TensorId t, ctx.input(i));
    inputs.push_back(t);
  }
  KILN_ASSIGN_OR_RETURN(int64_t code, ctx.getInt("output_datatype", 1));
  std::optional<DataType> dtype = dataTypeFromOnnx(static_cast<int32_t>(code));
  if (!dtype)
    return unsupported("attribute 'output_datatype' is ONNX type " + std::to_string(code) +
                       ", which kiln has no type for");
  return ctx.addOutputLayer(MelWeightMatrixAttrs{*dtype}, inputs);
}

// DFT(input, dft_length?, axis?): opsets 17 and 19 take the axis as an attribute (default 1),
// opset 20 as an optional scalar input (default -2); the IR always has it as input 1.
Status importDFT(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t inverse, ctx.getInt("inverse", 0));
  KILN_ASSIGN_OR_RETURN(int64_t onesided, ctx.getInt("onesided", 0));
  TensorId axis = kNoTensor;
  if (ctx.opset() < 20) {
    KILN_ASSIGN_OR_RETURN(int64_t a, ctx.getInt("axis", 1));
    axis = ctx.addIntsConstant("axis", {a});
  } else {
    axis = ctx.hasInput(2) ? ctx.optionalInput(2) : ctx.addIntsConstant("axis", {-2});
  }
  std::vector<TensorId> inputs = {x, axis};
  if (ctx.hasInput(1)) inputs.push_back(ctx.optionalInput(1));
  return ctx.addOutputLayer(DftAttrs{inverse != 0, onesided != 0}, inputs);
}

// STFT(signal, frame_step, window?, frame_length?; onesided = 1).
Status importSTFT(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId signal, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId step, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(int64_t onesided, ctx.getInt("onesided", 1));
  if (!ctx.hasInput(2) && !ctx.hasInput(3))
    return invalidModel("STFT needs a window (input #2) or a frame_length (input #3)");
  std::vector<TensorId> inputs = {signal, step, ctx.optionalInput(2)};
  if (ctx.hasInput(3)) inputs.push_back(ctx.optionalInput(3));
  return ctx.addOutputLayer(StftAttrs{onesided != 0}, inputs);
}

}  // namespace kiln::onnx_import
