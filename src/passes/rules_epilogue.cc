// kiln — vertical fusion: an activation and a residual add after a Convolution or
// MatrixMultiply become its epilogue (layers.h, "epilogues"), when the target says it can run
// that epilogue. Exact: the reference epilogue rounds each step as the unfused layers do.
#include "passes/rule_util.h"
#include "passes/rules.h"

namespace kiln {

namespace {

struct Epilogue {
  ActivationKind activation;
  float alpha, beta;
  ResidualMode residual;
};

Epilogue epilogueOf(const Layer& l) {
  if (l.kind() == LayerKind::kConvolution) {
    const auto& a = l.as<ConvolutionAttrs>();
    return {a.activation, a.activationAlpha, a.activationBeta, a.residual};
  }
  const auto& a = l.as<MatrixMultiplyAttrs>();
  return {a.activation, a.activationAlpha, a.activationBeta, a.residual};
}

LayerAttrs withEpilogue(const Layer& l, const Epilogue& e) {
  auto set = [&](auto a) -> LayerAttrs {
    a.activation = e.activation;
    a.activationAlpha = e.alpha;
    a.activationBeta = e.beta;
    a.residual = e.residual;
    return a;
  };
  if (l.kind() == LayerKind::kConvolution) return set(l.as<ConvolutionAttrs>());
  return set(l.as<MatrixMultiplyAttrs>());
}

/// A host pattern for either kind.
std::vector<Pattern> hosts(const std::string& capture) {
  return {Pattern::layer(LayerKind::kConvolution, {}, capture),
          Pattern::layer(LayerKind::kMatrixMultiply, {}, capture)};
}

Rule activationRule(Pattern host) {
  // act(conv(x, w, b)) -> conv{act}(x, w, b); act(matmul(a, b, c)) -> matmul{act}(a, b, c)
  return Rule{
      .name = "fuse-activation",
      .algebra = "act(op(..)) -> op{act}(..)  for op in conv, matmul",
      .pattern = Pattern::layer(LayerKind::kActivation, {std::move(host)}, "y"),
      .guard =
          [](const RuleContext& c, const Match& m) {
            const Layer& h = c.net.layer(m.layer("host"));
            const auto& act = c.net.layer(m.layer("y")).as<ActivationAttrs>();
            const Epilogue e = epilogueOf(h);
            // act can only follow what is there: nothing yet, or a residual added before it.
            return e.activation == ActivationKind::kNone &&
                   e.residual != ResidualMode::kAfterActivation &&
                   act.kind != ActivationKind::kNone && isFloat(c.net.tensor(h.outputs[0]).dtype) &&
                   c.target.hasCapability(Capability::epilogueActivation(h.kind(), act.kind));
          },
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        NetworkDefinition& net = rw.net();
        const LayerId id = m.layer("host");
        const auto act = net.layer(m.layer("y")).as<ActivationAttrs>();
        Epilogue e = epilogueOf(net.layer(id));
        e.activation = act.kind;
        e.alpha = act.alpha;
        e.beta = act.beta;
        KILN_RETURN_IF_ERROR(rw.setAttrs(id, withEpilogue(net.layer(id), e)));
        return rw.replace(m.tensor("y"), net.layer(id).outputs[0]);
      }};
}

Rule residualRule(Pattern host) {
  // op(..) + r -> op{residual}(.., r): before the activation when there is none yet (a later
  // activation then applies to the sum), after it otherwise.
  return Rule{
      .name = "fuse-residual",
      .algebra = "op(..) + r -> op{+r}(.., r)  for op in conv, matmul",
      .pattern = Pattern::binary(ElementwiseKind::kAdd, std::move(host), Pattern::any("r"), "y"),
      .guard =
          [](const RuleContext& c, const Match& m) {
            const NetworkDefinition& net = c.net;
            const Layer& h = net.layer(m.layer("host"));
            const Epilogue e = epilogueOf(h);
            const TensorId r = m.tensor("r");
            const TensorId out = h.outputs[0];
            if (e.residual != ResidualMode::kNone || !isFloat(net.tensor(out).dtype) ||
                net.tensor(r).dtype != net.tensor(out).dtype || r == out)
              return false;
            // r must not enlarge the result.
            if (!(net.tensor(m.tensor("y")).shape == net.tensor(out).shape) ||
                !broadcastsTo(net.tensor(r).shape, net.tensor(out).shape))
              return false;
            ResidualMode mode = e.activation == ActivationKind::kNone
                                    ? ResidualMode::kBeforeActivation
                                    : ResidualMode::kAfterActivation;
            return c.target.hasCapability(Capability::epilogueResidual(h.kind(), mode));
          },
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        NetworkDefinition& net = rw.net();
        const LayerId id = m.layer("host");
        Epilogue e = epilogueOf(net.layer(id));
        e.residual = e.activation == ActivationKind::kNone ? ResidualMode::kBeforeActivation
                                                           : ResidualMode::kAfterActivation;
        std::vector<TensorId> ins = net.layer(id).inputs;
        ins.resize(3, kNoTensor);
        ins.push_back(m.tensor("r"));
        net.layer(id).attrs = withEpilogue(net.layer(id), e);
        KILN_RETURN_IF_ERROR(rw.setInputs(id, ins));
        return rw.replace(m.tensor("y"), net.layer(id).outputs[0]);
      }};
}

}  // namespace

std::vector<Rule> epilogueRules() {
  std::vector<Rule> rules;
  for (Pattern& h : hosts("host"))
    rules.push_back(residualRule(std::move(h)));
  for (Pattern& h : hosts("host"))
    rules.push_back(activationRule(std::move(h)));
  return rules;
}

}  // namespace kiln
