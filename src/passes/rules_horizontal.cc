// kiln — horizontal fusion: sibling MatrixMultiply (or 1-group Convolution) layers that read
// the same tensor with constant weights and the same attributes become one wider layer whose
// output is split (the Q, K and V projections of attention; Inception-style 1x1 convolutions).
// Exact: every output column is computed by the same products in the same order.
#include "passes/rule_util.h"
#include "passes/rules.h"

namespace kiln {

namespace {

bool hasInput(const Layer& l, size_t k) {
  return l.inputs.size() > k && l.inputs[k] != kNoTensor;
}

/// Whether two sibling layers can share one wide layer, and the width of each.
struct Sibling {
  LayerId id;
  int64_t width;
};

std::optional<int64_t> matmulWidth(const NetworkDefinition& net, const Layer& l) {
  const auto& a = l.as<MatrixMultiplyAttrs>();
  const Weights* b = constantOf(net, l.inputs[1]);
  if (a.transA || a.residual != ResidualMode::kNone || !b || b->dims().size() != 2 ||
      !isFloat(b->dtype()) || net.tensor(l.outputs[0]).shape.size() < 2)
    return std::nullopt;
  const int64_t n = a.transB ? b->dims()[0] : b->dims()[1];
  if (hasInput(l, 2)) {
    const Weights* c = constantOf(net, l.inputs[2]);
    if (!c || c->dims() != Dims{n}) return std::nullopt;  // a per-column bias only
  }
  return n;
}

bool sameMatmul(const Layer& x, const Layer& y) {
  const auto& a = x.as<MatrixMultiplyAttrs>();
  const auto& b = y.as<MatrixMultiplyAttrs>();
  return a.transB == b.transB && a.alpha == b.alpha && a.beta == b.beta &&
         a.activation == b.activation && a.activationAlpha == b.activationAlpha &&
         a.activationBeta == b.activationBeta && hasInput(x, 2) == hasInput(y, 2);
}

std::optional<int64_t> convWidth(const NetworkDefinition& net, const Layer& l) {
  const auto& a = l.as<ConvolutionAttrs>();
  const Weights* w = constantOf(net, l.inputs[1]);
  if (a.group != 1 || a.transposed || a.residual != ResidualMode::kNone || !w ||
      !isFloat(w->dtype()))
    return std::nullopt;
  if (hasInput(l, 2) && !constantOf(net, l.inputs[2])) return std::nullopt;
  return w->dims()[0];
}

bool sameConv(const NetworkDefinition& net, const Layer& x, const Layer& y) {
  const auto& a = x.as<ConvolutionAttrs>();
  const auto& b = y.as<ConvolutionAttrs>();
  const Weights* wa = constantOf(net, x.inputs[1]);
  const Weights* wb = constantOf(net, y.inputs[1]);
  return a.strides == b.strides && a.dilations == b.dilations && a.padsBegin == b.padsBegin &&
         a.padsEnd == b.padsEnd && a.padding == b.padding && a.activation == b.activation &&
         a.activationAlpha == b.activationAlpha && a.activationBeta == b.activationBeta &&
         Dims(wa->dims().begin() + 1, wa->dims().end()) ==
             Dims(wb->dims().begin() + 1, wb->dims().end()) &&
         hasInput(x, 2) == hasInput(y, 2);
}

/// Siblings of `root` (root first): same kind, same data input, compatible. At least two, and
/// `root` must be the first of them in layer order so the group fires once.
bool matchSiblings(const RuleContext& c, LayerId root, Match& m) {
  const NetworkDefinition& net = c.net;
  const Layer& r = net.layer(root);
  const bool conv = r.kind() == LayerKind::kConvolution;
  auto width = [&](const Layer& l) { return conv ? convWidth(net, l) : matmulWidth(net, l); };
  if (!width(r)) return false;
  std::vector<LayerId> group;
  for (LayerId id : net.consumers(r.inputs[0])) {
    const Layer& l = net.layer(id);
    if (l.kind() != r.kind() || l.inputs[0] != r.inputs[0] || !width(l)) continue;
    if (conv ? !sameConv(net, r, l) : !sameMatmul(r, l)) continue;
    if (!(net.tensor(l.outputs[0]).dtype == net.tensor(r.outputs[0]).dtype) ||
        net.tensor(l.inputs[1]).dtype != net.tensor(r.inputs[1]).dtype)
      continue;
    group.push_back(id);
  }
  if (group.size() < 2 || *std::min_element(group.begin(), group.end()) != root) return false;
  std::sort(group.begin(), group.end());
  for (LayerId id : group)
    m.addLayer(id, false);
  m.bindTensor("x", r.inputs[0]);
  return true;
}

Status mergeSiblings(Rewriter& rw, const Match& m) {
  NetworkDefinition& net = rw.net();
  const Layer first = net.layer(m.root());
  const bool conv = first.kind() == LayerKind::kConvolution;
  const bool transB = !conv && first.as<MatrixMultiplyAttrs>().transB;
  std::vector<TensorId> weights, biases, outs;
  std::vector<int64_t> widths;
  for (LayerId id : m.layers()) {
    const Layer& l = net.layer(id);
    weights.push_back(l.inputs[1]);
    if (hasInput(l, 2)) biases.push_back(l.inputs[2]);
    outs.push_back(l.outputs[0]);
    widths.push_back(conv ? *convWidth(net, l) : *matmulWidth(net, l));
  }
  // Weights concatenate along the output-channel axis: conv w [M, ..] and transposed B [N, K]
  // along 0, B [K, N] along 1; biases along 0.
  const int64_t wAxis = conv || transB ? 0 : 1;
  const std::string base = first.name + "#merged";
  KILN_ASSIGN_OR_RETURN(TensorId w, rw.evaluate(base + ".w", ConcatenationAttrs{wAxis}, weights));
  std::vector<TensorId> ins = {m.tensor("x"), w};
  if (!biases.empty()) {
    KILN_ASSIGN_OR_RETURN(TensorId b, rw.evaluate(base + ".b", ConcatenationAttrs{0}, biases));
    ins.push_back(b);
  }
  KILN_ASSIGN_OR_RETURN(TensorId wide, rw.add(base, first.attrs, ins));
  // Split along the channel axis of the output (conv: 1; matmul: the last).
  const int64_t outAxis = conv ? 1 : static_cast<int64_t>(net.tensor(wide).shape.size()) - 1;
  SplitAttrs s;
  s.axis = outAxis;
  s.numOutputs = static_cast<int64_t>(widths.size());
  TensorId sizes = rw.addConstant(base + ".split", Weights::fromInts(widths));
  KILN_ASSIGN_OR_RETURN(LayerId split, rw.addLayer(base + ".split", s, {wide, sizes},
                                                   static_cast<int>(widths.size())));
  for (size_t i = 0; i < outs.size(); ++i)
    KILN_RETURN_IF_ERROR(rw.replace(outs[i], net.layer(split).outputs[i]));
  return Status::ok();
}

}  // namespace

std::vector<Rule> horizontalRules() {
  std::vector<Rule> rules;
  for (LayerKind kind : {LayerKind::kMatrixMultiply, LayerKind::kConvolution})
    rules.push_back(Rule{.name = kind == LayerKind::kConvolution ? "merge-sibling-convolutions"
                                                                 : "merge-sibling-matmuls",
                         .algebra = "op(x, w1), op(x, w2), .. -> split(op(x, concat(w1, w2, ..)))",
                         .matcher = matchSiblings,
                         .rootKind = kind,
                         .rewrite = mergeSiblings});
  return rules;
}

}  // namespace kiln
