// kiln — idioms that exporters spell out, recognized as the canonical layers: GELU (erf and
// tanh forms), SiLU and HardSwish as Activation; softmax as Softmax; layer normalization and
// RMS normalization as Normalization. Constants are compared at float32 precision with a
// relative tolerance of 1e-6 where the exporter writes an irrational number (sqrt(2),
// sqrt(2/pi)). Exactness: within float32 rounding (the canonical layer evaluates in double and
// rounds once where the chain rounds at every step).
#include <cmath>
#include <numbers>

#include "passes/rule_util.h"
#include "passes/rules.h"

namespace kiln {

namespace {

constexpr double kTol = 1e-6;

Pattern mul(Pattern a, Pattern b, std::string cap = {}) {
  return Pattern::binary(ElementwiseKind::kMul, std::move(a), std::move(b), std::move(cap));
}
Pattern add(Pattern a, Pattern b, std::string cap = {}) {
  return Pattern::binary(ElementwiseKind::kAdd, std::move(a), std::move(b), std::move(cap));
}
Pattern div(Pattern a, Pattern b, std::string cap = {}) {
  return Pattern::binary(ElementwiseKind::kDiv, std::move(a), std::move(b), std::move(cap));
}
Pattern sub(Pattern a, Pattern b, std::string cap = {}) {
  return Pattern::binary(ElementwiseKind::kSub, std::move(a), std::move(b), std::move(cap));
}
Pattern pow(Pattern a, Pattern b, std::string cap = {}) {
  return Pattern::binary(ElementwiseKind::kPow, std::move(a), std::move(b), std::move(cap));
}
Pattern x() {
  return Pattern::any("x");
}
Pattern k(double v, double tol = 0) {
  return Pattern::scalar(v, tol);
}

/// 0.5 * x * inner, in the four ways exporters write it.
std::vector<Pattern> halfXTimes(const std::function<Pattern()>& inner) {
  return {mul(x(), mul(k(0.5), inner()), "y"), mul(mul(x(), k(0.5)), inner(), "y"),
          mul(k(0.5), mul(x(), inner()), "y"), div(mul(x(), inner()), k(2), "y")};
}

/// A rule replacing the matched root "y" by activation(x).
Rule activationRule(const std::string& name, const std::string& algebra, Pattern p,
                    ActivationKind kind, float alpha = 0, float beta = 0) {
  return Rule{.name = name,
              .algebra = algebra,
              .pattern = std::move(p),
              .guard =
                  [](const RuleContext& c, const Match& m) {
                    const NetworkDefinition& net = c.net;
                    return isFloat(net.tensor(m.tensor("x")).dtype) &&
                           net.tensor(m.tensor("x")).shape == net.tensor(m.tensor("y")).shape &&
                           c.target.hasCapability(Capability::layerKind(LayerKind::kActivation));
                  },
              .rewrite = [kind, alpha, beta](Rewriter& rw, const Match& m) -> Status {
                KILN_ASSIGN_OR_RETURN(TensorId t,
                                      rw.add(rw.net().layer(m.root()).name,
                                             ActivationAttrs{kind, alpha, beta}, {m.tensor("x")}));
                return rw.replace(m.tensor("y"), t);
              }};
}

void addGelu(std::vector<Rule>& rules) {
  const double s2 = std::sqrt(2.0);
  // 1 + erf(x / sqrt 2)
  auto erfPart = [s2]() {
    return add(Pattern::unary(UnaryKind::kErf, div(x(), k(s2, kTol))), k(1));
  };
  auto erfPartMul = [s2]() {
    return add(Pattern::unary(UnaryKind::kErf, mul(x(), k(1 / s2, kTol))), k(1));
  };
  for (auto& p : halfXTimes(erfPart))
    rules.push_back(activationRule("gelu-erf", "0.5 x (1 + erf(x / sqrt 2)) -> gelu_erf(x)",
                                   std::move(p), ActivationKind::kGeluErf));
  for (auto& p : halfXTimes(erfPartMul))
    rules.push_back(activationRule("gelu-erf", "0.5 x (1 + erf(x / sqrt 2)) -> gelu_erf(x)",
                                   std::move(p), ActivationKind::kGeluErf));
  // 1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))
  const double c = std::sqrt(2.0 / std::numbers::pi);
  std::vector<std::function<Pattern()>> cubes = {[] { return pow(x(), k(3)); },
                                                 [] { return mul(x(), mul(x(), x())); },
                                                 [] { return mul(mul(x(), x()), x()); }};
  for (const auto& cube : cubes) {
    auto tanhPart = [c, cube]() {
      return add(Pattern::activation(ActivationKind::kTanh,
                                     mul(add(x(), mul(cube(), k(0.044715, kTol))), k(c, kTol))),
                 k(1));
    };
    for (auto& p : halfXTimes(tanhPart))
      rules.push_back(activationRule("gelu-tanh",
                                     "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) -> "
                                     "gelu_tanh(x)",
                                     std::move(p), ActivationKind::kGeluTanh));
  }
}

void addSwish(std::vector<Rule>& rules) {
  rules.push_back(activationRule("silu", "x * sigmoid(x) -> silu(x)",
                                 mul(x(), Pattern::activation(ActivationKind::kSigmoid, x()), "y"),
                                 ActivationKind::kSilu));
  // x * hard_sigmoid(x; 1/6, 1/2), and x * clip(x + 3, 0, 6) / 6
  auto hsig = Pattern::activation(ActivationKind::kHardSigmoid, x())
                  .where([](const NetworkDefinition&, const Layer& l) {
                    const auto& a = l.as<ActivationAttrs>();
                    return std::fabs(a.alpha - 1.0 / 6) < 1e-6 && a.beta == 0.5f;
                  });
  rules.push_back(activationRule("hard-swish", "x * hard_sigmoid(x) -> hard_swish(x)",
                                 mul(x(), std::move(hsig), "y"), ActivationKind::kHardSwish));
  auto relu6 = [] {
    return Pattern::activation(ActivationKind::kClip, add(x(), k(3)))
        .where([](const NetworkDefinition&, const Layer& l) {
          const auto& a = l.as<ActivationAttrs>();
          return a.alpha == 0.0f && a.beta == 6.0f;
        });
  };
  rules.push_back(activationRule("hard-swish", "x * clip(x + 3, 0, 6) / 6 -> hard_swish(x)",
                                 div(mul(x(), relu6()), k(6), "y"), ActivationKind::kHardSwish));
  rules.push_back(activationRule("hard-swish", "x * (clip(x + 3, 0, 6) / 6) -> hard_swish(x)",
                                 mul(x(), div(relu6(), k(6))), ActivationKind::kHardSwish));
}

/// The constant axes of a Reduce layer, normalized against `rank`; nothing if not constant.
std::optional<std::vector<int64_t>> reduceAxes(const NetworkDefinition& net, const Layer& l,
                                               int64_t rank) {
  const auto& a = l.as<ReduceAttrs>();
  if (!a.keepDims || l.inputs.size() < 2 || l.inputs[1] == kNoTensor) return std::nullopt;
  const Weights* w = net.constantValue(l.inputs[1]);
  if (!w) return std::nullopt;
  auto v = w->toInts();
  if (!v || v->empty()) return std::nullopt;
  for (int64_t& x : *v) {
    if (x < 0) x += rank;
    if (x < 0 || x >= rank) return std::nullopt;
  }
  std::sort(v->begin(), v->end());
  return *v;
}

Pattern reduce(ReduceKind kind, Pattern in, std::string cap) {
  return Pattern::layer(LayerKind::kReduce, {std::move(in)}, std::move(cap))
      .where([kind](const NetworkDefinition&, const Layer& l) {
        return l.as<ReduceAttrs>().kind == kind;
      });
}

/// The trailing axes [a, rank) a normalization reduces over, when `caps` all reduce exactly
/// them; -1 otherwise.
int64_t trailingAxis(const NetworkDefinition& net, const Match& m,
                     std::initializer_list<const char*> caps) {
  const int64_t rank = static_cast<int64_t>(net.tensor(m.tensor("x")).shape.size());
  std::optional<std::vector<int64_t>> first;
  for (const char* c : caps) {
    auto axes = reduceAxes(net, net.layer(m.layer(c)), rank);
    if (!axes || (first && *axes != *first)) return -1;
    first = axes;
  }
  for (size_t i = 0; i < first->size(); ++i)
    if ((*first)[i] != rank - static_cast<int64_t>(first->size() - i)) return -1;
  return (*first)[0];
}

/// Normalization(x, ones) replacing root "y", with axis and epsilon from the match.
Status normalizationRewrite(Rewriter& rw, const Match& m, bool rms, int64_t axis) {
  NetworkDefinition& net = rw.net();
  const Tensor& x = net.tensor(m.tensor("x"));
  // The guard made the normalized dims static (the leading ones may be symbols).
  Dims nd = *staticDims(Shape(x.shape.begin() + axis, x.shape.end()));
  KILN_ASSIGN_OR_RETURN(Weights ones, Weights::zeros(x.dtype, nd));
  for (int64_t i = 0; i < ones.count(); ++i) {
    if (x.dtype == DataType::kFloat64)
      static_cast<double*>(ones.mutableData())[i] = 1;
    else
      static_cast<float*>(ones.mutableData())[i] = 1;
  }
  TensorId scale = rw.addConstant("ones", std::move(ones));
  NormalizationAttrs a;
  a.axis = axis;
  a.epsilon = static_cast<float>(*splatValue(net, m.tensor("eps")));
  a.rms = rms;
  KILN_ASSIGN_OR_RETURN(TensorId y, rw.add(net.layer(m.root()).name, a, {m.tensor("x"), scale}));
  return rw.replace(m.tensor("y"), y);
}

bool normalizationGuard(const RuleContext& c, const Match& m, int64_t axis, bool rms) {
  const Tensor& x = c.net.tensor(m.tensor("x"));
  // The scale constant spans the normalized dims, so they must be static; the leading dims
  // (batch, sequence) may be symbols.
  return axis >= 0 && axis <= static_cast<int64_t>(x.shape.size()) && isFloat(x.dtype) &&
         staticDims(Shape(x.shape.begin() + axis, x.shape.end())) &&
         splatValue(c.net, m.tensor("eps")).has_value() &&
         x.shape == c.net.tensor(m.tensor("y")).shape &&
         (!rms || c.target.hasCapability(Capability::rmsNormalization()));
}

void addNormalizations(std::vector<Rule>& rules) {
  // (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) -> layer_norm(x)
  auto centered = [] { return sub(x(), reduce(ReduceKind::kMean, x(), "mean"), "d").shared(); };
  std::vector<Pattern> squares = {pow(Pattern::any("d"), k(2)),
                                  mul(Pattern::any("d"), Pattern::any("d"))};
  for (Pattern& sq : squares) {
    Pattern den = Pattern::unary(
        UnaryKind::kSqrt,
        add(reduce(ReduceKind::kMean, std::move(sq), "var"), Pattern::constant("eps")));
    rules.push_back(Rule{
        .name = "layer-norm",
        .algebra = "(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) -> layer_norm(x)",
        .pattern = div(centered(), std::move(den), "y"),
        .guard =
            [](const RuleContext& c, const Match& m) {
              return normalizationGuard(c, m, trailingAxis(c.net, m, {"mean", "var"}), false);
            },
        .rewrite =
            [](Rewriter& rw, const Match& m) {
              return normalizationRewrite(rw, m, false, trailingAxis(rw.net(), m, {"mean", "var"}));
            }});
  }
  // x / sqrt(mean(x^2) + eps) -> rms_norm(x); also x * reciprocal(sqrt(..))
  auto rmsDen = [] {
    return Pattern::unary(UnaryKind::kSqrt, add(reduce(ReduceKind::kMean, pow(x(), k(2)), "var"),
                                                Pattern::constant("eps")));
  };
  std::vector<Pattern> rmsForms = {div(x(), rmsDen(), "y"),
                                   mul(x(), Pattern::unary(UnaryKind::kReciprocal, rmsDen()), "y")};
  for (Pattern& p : rmsForms) {
    rules.push_back(
        Rule{.name = "rms-norm",
             .algebra = "x / sqrt(mean(x^2) + eps) -> rms_norm(x)",
             .pattern = std::move(p),
             .guard =
                 [](const RuleContext& c, const Match& m) {
                   return normalizationGuard(c, m, trailingAxis(c.net, m, {"var"}), true);
                 },
             .rewrite =
                 [](Rewriter& rw, const Match& m) {
                   return normalizationRewrite(rw, m, true, trailingAxis(rw.net(), m, {"var"}));
                 }});
  }
  // norm(x, g, b) * s -> norm(x, g * s, b * s);  norm(x, g, b) + t -> norm(x, g, b + t)
  // with s, t constants over the normalized dims.
  for (ElementwiseKind op : {ElementwiseKind::kMul, ElementwiseKind::kAdd}) {
    const bool isMul = op == ElementwiseKind::kMul;
    rules.push_back(Rule{
        .name = isMul ? "fold-scale-into-norm" : "fold-shift-into-norm",
        .algebra = isMul ? "norm(x, g, b) * s -> norm(x, g * s, b * s)"
                         : "norm(x, g, b) + t -> norm(x, g, b + t)",
        .pattern = Pattern::binary(op, Pattern::layer(LayerKind::kNormalization, {}, "norm"),
                                   Pattern::constant("c"), "y"),
        .guard =
            [](const RuleContext& c, const Match& m) {
              const NetworkDefinition& net = c.net;
              const Layer& n = net.layer(m.layer("norm"));
              const Tensor& out = net.tensor(n.outputs[0]);
              if (n.outputs.size() != 1 || !(net.tensor(m.tensor("y")).shape == out.shape))
                return false;
              const int64_t rank = static_cast<int64_t>(out.shape.size());
              int64_t axis = n.as<NormalizationAttrs>().axis;
              if (axis < 0) axis += rank;
              // c must vary only along the normalized dims: after dropping leading ones it has
              // at most rank - axis dims.
              Shape cs = net.tensor(m.tensor("c")).shape;
              while (!cs.empty() && cs.front().isStatic() && cs.front().value() == 1)
                cs.erase(cs.begin());
              Shape norm(out.shape.begin() + axis, out.shape.end());
              for (size_t k = 1; k < n.inputs.size(); ++k)
                if (n.inputs[k] != kNoTensor && !net.constantValue(n.inputs[k])) return false;
              return static_cast<int64_t>(cs.size()) <= rank - axis && broadcastsTo(cs, norm) &&
                     net.tensor(m.tensor("c")).dtype == out.dtype;
            },
        .rewrite = [op, isMul](Rewriter& rw, const Match& m) -> Status {
          NetworkDefinition& net = rw.net();
          const LayerId id = m.layer("norm");
          std::vector<TensorId> ins = net.layer(id).inputs;
          ins.resize(3, kNoTensor);
          TensorId c = m.tensor("c");
          // Drop c's leading ones so it broadcasts over the normalized dims only.
          auto strip = [&](TensorId t) -> TensorId {
            const Weights* w = net.constantValue(t);
            Dims d = w->dims();
            while (!d.empty() && d.front() == 1)
              d.erase(d.begin());
            if (d == w->dims()) return t;
            return rw.addConstant(net.tensor(t).name,
                                  Weights::copyFrom(w->dtype(), d, w->data(), w->bytes()).value());
          };
          c = strip(c);
          const std::string base = net.layer(id).name;
          if (isMul) {
            KILN_ASSIGN_OR_RETURN(ins[1],
                                  rw.evaluate(base + ".scale", ElementwiseAttrs{op}, {ins[1], c}));
            if (ins[2] != kNoTensor) {
              KILN_ASSIGN_OR_RETURN(ins[2],
                                    rw.evaluate(base + ".bias", ElementwiseAttrs{op}, {ins[2], c}));
            }
          } else if (ins[2] != kNoTensor) {
            KILN_ASSIGN_OR_RETURN(ins[2],
                                  rw.evaluate(base + ".bias", ElementwiseAttrs{op}, {ins[2], c}));
          } else {
            ins[2] = c;
          }
          KILN_RETURN_IF_ERROR(rw.setInputs(id, ins));
          return rw.replace(m.tensor("y"), net.layer(id).outputs[0]);
        }});
  }
}

void addSoftmax(std::vector<Rule>& rules) {
  // exp(x - max(x)) / sum(exp(x - max(x))) -> softmax(x); also without the max
  auto shifted = [] {
    return Pattern::unary(UnaryKind::kExp, sub(x(), reduce(ReduceKind::kMax, x(), "max")), "e")
        .shared();
  };
  auto plain = [] { return Pattern::unary(UnaryKind::kExp, x(), "e").shared(); };
  for (bool withMax : {true, false}) {
    rules.push_back(Rule{
        .name = "softmax",
        .algebra = "exp(x - max(x)) / sum(exp(x - max(x))) -> softmax(x)",
        .pattern = div(withMax ? shifted() : plain(),
                       reduce(ReduceKind::kSum, Pattern::any("e"), "sum"), "y"),
        .guard =
            [withMax](const RuleContext& c, const Match& m) {
              const NetworkDefinition& net = c.net;
              const Tensor& x = net.tensor(m.tensor("x"));
              const int64_t rank = static_cast<int64_t>(x.shape.size());
              auto axes = reduceAxes(net, net.layer(m.layer("sum")), rank);
              if (!axes || axes->size() != 1 || !isFloat(x.dtype)) return false;
              if (withMax && reduceAxes(net, net.layer(m.layer("max")), rank) != axes) return false;
              // exp(..) feeds only the sum and the division.
              return net.consumers(m.tensor("e")).size() == 2 &&
                     !net.tensor(m.tensor("e")).isOutput &&
                     x.shape == net.tensor(m.tensor("y")).shape;
            },
        .rewrite = [](Rewriter& rw, const Match& m) -> Status {
          NetworkDefinition& net = rw.net();
          const int64_t rank = static_cast<int64_t>(net.tensor(m.tensor("x")).shape.size());
          SoftmaxAttrs a;
          a.axis = (*reduceAxes(net, net.layer(m.layer("sum")), rank))[0];
          KILN_ASSIGN_OR_RETURN(TensorId y, rw.add(net.layer(m.root()).name, a, {m.tensor("x")}));
          return rw.replace(m.tensor("y"), y);
        }});
  }
}

}  // namespace

std::vector<Rule> idiomRules() {
  std::vector<Rule> rules;
  addGelu(rules);
  addSwish(rules);
  addNormalizations(rules);
  addSoftmax(rules);
  return rules;
}

}  // namespace kiln
