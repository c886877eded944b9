// kiln — constants folded into the weights and bias of the Convolution or MatrixMultiply before
// them: BatchNormalization (which the importer lowers to a per-channel multiply and add), bias
// adds, and per-channel scales. The new weights are computed through the ConstantEvaluator, by
// the same kernels as any folded constant. Exactness: within float32 rounding (a product or a
// sum moves from the output to the weights).
#include "passes/rule_util.h"
#include "passes/rules.h"

namespace kiln {

namespace {

bool noEpilogue(const ConvolutionAttrs& a) {
  return a.activation == ActivationKind::kNone && a.residual == ResidualMode::kNone;
}
bool noEpilogue(const MatrixMultiplyAttrs& a) {
  return a.activation == ActivationKind::kNone && a.residual == ResidualMode::kNone;
}

/// The per-channel values of constant `c` when, broadcast against an output of `rank` dims
/// with `channels` channels along `axis`, it varies along that axis only (or nowhere). Returns
/// `channels` values; nothing when it does not fit (it would change the output's shape, or
/// vary along another axis).
std::optional<std::vector<double>> perChannel(const NetworkDefinition& net, TensorId c, size_t rank,
                                              size_t axis, int64_t channels) {
  const Weights* w = constantOf(net, c);
  if (!w || !isFloat(w->dtype())) return std::nullopt;
  const Dims& d = w->dims();
  if (d.size() > rank) return std::nullopt;
  const size_t lead = rank - d.size();
  int64_t along = 1;
  for (size_t i = 0; i < d.size(); ++i) {
    if (lead + i == axis)
      along = d[i];
    else if (d[i] != 1)
      return std::nullopt;
  }
  if (along != 1 && along != channels) return std::nullopt;
  auto v = w->toDoubles();
  if (!v) return std::nullopt;
  std::vector<double> out(static_cast<size_t>(channels));
  for (int64_t i = 0; i < channels; ++i)
    out[static_cast<size_t>(i)] = (*v)[along == 1 ? 0 : static_cast<size_t>(i)];
  return out;
}

/// Values as a constant of `dtype` and `dims`.
/// (No larger than weights that already exist; an allocation failure throws and the builder's
/// API boundary reports it as OutOfMemory.)
Weights makeWeights(DataType dtype, const Dims& dims, const std::vector<double>& v) {
  Weights w = Weights::zeros(dtype, dims).value();
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DataType::kFloat64)
      static_cast<double*>(w.mutableData())[i] = v[i];
    else
      static_cast<float*>(w.mutableData())[i] = static_cast<float>(v[i]);
  }
  return w;
}

/// Output channels of a convolution and its weights' dims, when the weights are constant.
struct ConvInfo {
  int64_t channels = 0;
  Dims wdims;
  size_t rank = 0;
};
std::optional<ConvInfo> convInfo(const NetworkDefinition& net, const Layer& conv) {
  // A transposed convolution's weights are [C, M/group, ...]: not folded (yet).
  if (conv.as<ConvolutionAttrs>().transposed) return std::nullopt;
  const Weights* w = constantOf(net, conv.inputs[1]);
  if (!w || !isFloat(w->dtype()) || w->dims().size() < 3) return std::nullopt;
  if (conv.inputs.size() > 2 && conv.inputs[2] != kNoTensor && !constantOf(net, conv.inputs[2]))
    return std::nullopt;
  return ConvInfo{w->dims()[0], w->dims(), net.tensor(conv.outputs[0]).shape.size()};
}

/// The constant 2-D B of a matrix multiply and its N (output columns).
std::optional<int64_t> matmulColumns(const NetworkDefinition& net, const Layer& mm) {
  const Weights* b = constantOf(net, mm.inputs[1]);
  if (!b || !isFloat(b->dtype()) || b->dims().size() != 2) return std::nullopt;
  const auto& a = mm.as<MatrixMultiplyAttrs>();
  if (net.tensor(mm.outputs[0]).shape.size() < 2) return std::nullopt;  // 1-D promotion
  return a.transB ? b->dims()[0] : b->dims()[1];
}

bool hasInput(const Layer& l, size_t k) {
  return l.inputs.size() > k && l.inputs[k] != kNoTensor;
}

Rule scaleIntoConv() {
  // conv(x, w, b) * s -> conv(x, w * s, b * s), s per output channel
  return Rule{
      .name = "fold-scale-into-conv",
      .algebra = "conv(x, w, b) * s -> conv(x, w * s, b * s)  (s per output channel)",
      .pattern = Pattern::binary(ElementwiseKind::kMul,
                                 Pattern::layer(LayerKind::kConvolution, {}, "conv"),
                                 Pattern::constant("s"), "y"),
      .guard =
          [](const RuleContext& c, const Match& m) {
            const Layer& conv = c.net.layer(m.layer("conv"));
            auto info = convInfo(c.net, conv);
            return noEpilogue(conv.as<ConvolutionAttrs>()) && info &&
                   perChannel(c.net, m.tensor("s"), info->rank, 1, info->channels) &&
                   c.net.tensor(m.tensor("y")).shape == c.net.tensor(conv.outputs[0]).shape;
          },
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        NetworkDefinition& net = rw.net();
        const LayerId id = m.layer("conv");
        const Layer conv = net.layer(id);
        ConvInfo info = *convInfo(net, conv);
        std::vector<double> s = *perChannel(net, m.tensor("s"), info.rank, 1, info.channels);
        const DataType dt = net.tensor(conv.inputs[1]).dtype;
        Dims sd(info.wdims.size(), 1);
        sd[0] = info.channels;
        TensorId sw = rw.addConstant("scale", makeWeights(dt, sd, s));
        KILN_ASSIGN_OR_RETURN(
            TensorId w, rw.evaluate(net.tensor(conv.inputs[1]).name,
                                    ElementwiseAttrs{ElementwiseKind::kMul}, {conv.inputs[1], sw}));
        std::vector<TensorId> ins = conv.inputs;
        ins[1] = w;
        if (hasInput(conv, 2)) {
          TensorId sb = rw.addConstant("scale", makeWeights(dt, {info.channels}, s));
          KILN_ASSIGN_OR_RETURN(
              ins[2], rw.evaluate(net.tensor(conv.inputs[2]).name,
                                  ElementwiseAttrs{ElementwiseKind::kMul}, {conv.inputs[2], sb}));
        }
        KILN_RETURN_IF_ERROR(rw.setInputs(id, ins));
        return rw.replace(m.tensor("y"), net.layer(id).outputs[0]);
      }};
}

Rule shiftIntoConvBias() {
  // conv(x, w, b) + t -> conv(x, w, b + t), t per output channel
  return Rule{.name = "fold-bias-into-conv",
              .algebra = "conv(x, w, b) + t -> conv(x, w, b + t)  (t per output channel)",
              .pattern = Pattern::binary(ElementwiseKind::kAdd,
                                         Pattern::layer(LayerKind::kConvolution, {}, "conv"),
                                         Pattern::constant("t"), "y"),
              .guard =
                  [](const RuleContext& c, const Match& m) {
                    const Layer& conv = c.net.layer(m.layer("conv"));
                    auto info = convInfo(c.net, conv);
                    return noEpilogue(conv.as<ConvolutionAttrs>()) && info &&
                           perChannel(c.net, m.tensor("t"), info->rank, 1, info->channels) &&
                           c.net.tensor(m.tensor("y")).shape == c.net.tensor(conv.outputs[0]).shape;
                  },
              .rewrite = [](Rewriter& rw, const Match& m) -> Status {
                NetworkDefinition& net = rw.net();
                const LayerId id = m.layer("conv");
                const Layer conv = net.layer(id);
                ConvInfo info = *convInfo(net, conv);
                std::vector<double> t =
                    *perChannel(net, m.tensor("t"), info.rank, 1, info.channels);
                const DataType dt = net.tensor(conv.inputs[1]).dtype;
                TensorId tb = rw.addConstant("shift", makeWeights(dt, {info.channels}, t));
                std::vector<TensorId> ins = conv.inputs;
                ins.resize(std::max<size_t>(ins.size(), 3), kNoTensor);
                if (hasInput(conv, 2)) {
                  KILN_ASSIGN_OR_RETURN(ins[2], rw.evaluate(net.tensor(conv.inputs[2]).name,
                                                            ElementwiseAttrs{ElementwiseKind::kAdd},
                                                            {conv.inputs[2], tb}));
                } else {
                  ins[2] = tb;
                }
                KILN_RETURN_IF_ERROR(rw.setInputs(id, ins));
                return rw.replace(m.tensor("y"), net.layer(id).outputs[0]);
              }};
}

Rule scaleIntoMatMul() {
  // matmul(a, B, C) * s -> matmul(a, B * s, C * s), s per output column
  return Rule{
      .name = "fold-scale-into-matmul",
      .algebra = "matmul(a, B, C) * s -> matmul(a, B * s, C * s)  (s per output column)",
      .pattern = Pattern::binary(ElementwiseKind::kMul,
                                 Pattern::layer(LayerKind::kMatrixMultiply, {}, "mm"),
                                 Pattern::constant("s"), "y"),
      .guard =
          [](const RuleContext& c, const Match& m) {
            const Layer& mm = c.net.layer(m.layer("mm"));
            auto n = matmulColumns(c.net, mm);
            const size_t rank = c.net.tensor(mm.outputs[0]).shape.size();
            return noEpilogue(mm.as<MatrixMultiplyAttrs>()) && n &&
                   (!hasInput(mm, 2) || constantOf(c.net, mm.inputs[2])) &&
                   perChannel(c.net, m.tensor("s"), rank, rank - 1, *n) &&
                   c.net.tensor(m.tensor("y")).shape == c.net.tensor(mm.outputs[0]).shape;
          },
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        NetworkDefinition& net = rw.net();
        const LayerId id = m.layer("mm");
        const Layer mm = net.layer(id);
        const int64_t n = *matmulColumns(net, mm);
        const size_t rank = net.tensor(mm.outputs[0]).shape.size();
        std::vector<double> s = *perChannel(net, m.tensor("s"), rank, rank - 1, n);
        const DataType dt = net.tensor(mm.inputs[1]).dtype;
        const bool transB = mm.as<MatrixMultiplyAttrs>().transB;
        TensorId sb = rw.addConstant("scale", makeWeights(dt, transB ? Dims{n, 1} : Dims{n}, s));
        std::vector<TensorId> ins = mm.inputs;
        KILN_ASSIGN_OR_RETURN(
            ins[1], rw.evaluate(net.tensor(mm.inputs[1]).name,
                                ElementwiseAttrs{ElementwiseKind::kMul}, {mm.inputs[1], sb}));
        if (hasInput(mm, 2)) {
          // C broadcasts to the output, and so does C * s.
          TensorId sc = rw.addConstant("scale", makeWeights(dt, {n}, s));
          KILN_ASSIGN_OR_RETURN(
              ins[2], rw.evaluate(net.tensor(mm.inputs[2]).name,
                                  ElementwiseAttrs{ElementwiseKind::kMul}, {mm.inputs[2], sc}));
        }
        KILN_RETURN_IF_ERROR(rw.setInputs(id, ins));
        return rw.replace(m.tensor("y"), net.layer(id).outputs[0]);
      }};
}

Rule biasIntoMatMul() {
  // matmul(a, B) + c -> matmul(a, B, C = c); with a C already: C' = beta * C + c
  return Rule{.name = "fold-bias-into-matmul",
              .algebra = "matmul(a, B, C) + c -> matmul(a, B, beta * C + c)",
              .pattern = Pattern::binary(ElementwiseKind::kAdd,
                                         Pattern::layer(LayerKind::kMatrixMultiply, {}, "mm"),
                                         Pattern::constant("c"), "y"),
              .guard =
                  [](const RuleContext& c, const Match& m) {
                    const Layer& mm = c.net.layer(m.layer("mm"));
                    const Tensor& y = c.net.tensor(m.tensor("y"));
                    const Tensor& out = c.net.tensor(mm.outputs[0]);
                    const Tensor& bias = c.net.tensor(m.tensor("c"));
                    return noEpilogue(mm.as<MatrixMultiplyAttrs>()) && isFloat(bias.dtype) &&
                           (!hasInput(mm, 2) || constantOf(c.net, mm.inputs[2])) &&
                           y.shape == out.shape && broadcastsTo(bias.shape, out.shape);
                  },
              .rewrite = [](Rewriter& rw, const Match& m) -> Status {
                NetworkDefinition& net = rw.net();
                const LayerId id = m.layer("mm");
                const Layer mm = net.layer(id);
                MatrixMultiplyAttrs a = mm.as<MatrixMultiplyAttrs>();
                std::vector<TensorId> ins = mm.inputs;
                ins.resize(std::max<size_t>(ins.size(), 3), kNoTensor);
                if (hasInput(mm, 2)) {
                  TensorId beta = rw.addConstant(
                      "beta", makeWeights(net.tensor(mm.inputs[2]).dtype, {}, {a.beta}));
                  KILN_ASSIGN_OR_RETURN(
                      TensorId scaled,
                      rw.evaluate(net.tensor(mm.inputs[2]).name,
                                  ElementwiseAttrs{ElementwiseKind::kMul}, {mm.inputs[2], beta}));
                  KILN_ASSIGN_OR_RETURN(ins[2], rw.evaluate(net.tensor(mm.inputs[2]).name,
                                                            ElementwiseAttrs{ElementwiseKind::kAdd},
                                                            {scaled, m.tensor("c")}));
                } else {
                  ins[2] = m.tensor("c");
                }
                a.beta = 1.0f;
                net.layer(id).attrs = a;
                KILN_RETURN_IF_ERROR(rw.setInputs(id, ins));
                return rw.replace(m.tensor("y"), net.layer(id).outputs[0]);
              }};
}

}  // namespace

std::vector<Rule> weightRules() {
  return {scaleIntoConv(), shiftIntoConvBias(), scaleIntoMatMul(), biasIntoMatMul()};
}

}  // namespace kiln
