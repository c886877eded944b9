// Helpers for the optimizer's tests: run one rule set on a hand-written network, list what
// remains, and compare the numbers of two networks on the reference backend.
#pragma once

#include <cmath>
#include <cstring>
#include <random>

#include "backends/evaluate.h"
#include "backends/reference/reference.h"
#include "passes/pass_manager.h"
#include "passes/rules.h"
#include "test_util.h"

namespace kiln::test {

/// A target that answers no to one question (or everything).
class Refuses final : public TargetCapabilities {
 public:
  explicit Refuses(Capability::What what) : what_(what) {}
  bool hasCapability(const Capability& c) const override { return c.what != what_; }

 private:
  Capability::What what_;
};

/// `net` (static input shapes) after shape inference, `rules` to a fixed point and dead-code
/// removal; the IR is verified. `hits` receives the rule hits.
inline Expected<NetworkDefinition> applyRules(NetworkDefinition net, const std::vector<Rule>& rules,
                                              const TargetCapabilities& target,
                                              RuleHits* hits = nullptr) {
  BuildLog log;
  BackendEvaluator evaluator(referenceBackend());
  BuilderConfig config;
  PassContext ctx{net, log, target, evaluator, config, size_t{64} << 20};
  KILN_RETURN_IF_ERROR(inferAndFold(net, ctx.foldLimitBytes, evaluator, log));
  KILN_RETURN_IF_ERROR(runRulePass(ctx, "test", rules));
  eliminateDeadCode(net, log);
  KILN_RETURN_IF_ERROR(net.verify());
  if (hits) *hits = ctx.hits;
  return net;
}

inline Expected<NetworkDefinition> applyRules(NetworkDefinition net, const std::vector<Rule>& rules,
                                              RuleHits* hits = nullptr) {
  AllCapabilities all;
  return applyRules(std::move(net), rules, all, hits);
}

/// Kinds of the executed layers, in order ("Convolution", ...).
inline std::vector<std::string> kinds(const NetworkDefinition& net) {
  std::vector<std::string> out;
  for (const Layer& l : net.layers())
    if (!l.removed && l.kind() != LayerKind::kConstant) out.push_back(layerKindName(l.kind()));
  return out;
}

/// The single executed layer of a kind (nullptr when there is not exactly one).
inline const Layer* only(const NetworkDefinition& net, LayerKind kind) {
  const Layer* found = nullptr;
  for (const Layer& l : net.layers()) {
    if (l.removed || l.kind() != kind) continue;
    if (found) return nullptr;
    found = &l;
  }
  return found;
}

/// Random f32 values in [lo, hi) (deterministic).
inline Weights randomF32(Dims dims, uint32_t seed = 7, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(volume(dims)));
  for (float& x : v)
    x = d(rng);
  return Weights::copyFrom(DataType::kFloat32, std::move(dims), v.data(), v.size() * 4).value();
}

/// Runs `net` unoptimized (every optional pass off) on the reference backend.
inline Expected<std::vector<Weights>> runUnoptimized(const NetworkDefinition& net,
                                                     const std::vector<NamedTensor>& inputs) {
  BuilderConfig config;
  config.disabledPasses = {"all"};
  KILN_ASSIGN_OR_RETURN(auto engine, Builder::build(net, config));
  return runEngine(*engine, inputs);
}

/// Largest |a - b| over all outputs (inf when shapes or types differ).
inline double maxDifference(const std::vector<Weights>& a, const std::vector<Weights>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].dims() != b[k].dims() || a[k].dtype() != b[k].dtype()) return INFINITY;
    auto x = a[k].toDoubles(), y = b[k].toDoubles();
    if (!x || !y) return INFINITY;
    for (size_t i = 0; i < x->size(); ++i) {
      double d = std::fabs((*x)[i] - (*y)[i]);
      if (std::isnan((*x)[i]) != std::isnan((*y)[i])) return INFINITY;
      if (!std::isnan(d)) worst = std::max(worst, d);
    }
  }
  return worst;
}

/// Whether two output sets are identical bit for bit.
inline bool bitIdentical(const std::vector<Weights>& a, const std::vector<Weights>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k].bytes() != b[k].bytes() || a[k].dims() != b[k].dims() ||
        std::memcmp(a[k].data(), b[k].data(), a[k].bytes()) != 0)
      return false;
  return true;
}

/// Runs `before` and `after` unoptimized on the same inputs; returns max |difference|.
inline double compareNetworks(const NetworkDefinition& before, const NetworkDefinition& after,
                              const std::vector<NamedTensor>& inputs, bool* identical = nullptr) {
  auto a = runUnoptimized(before, inputs);
  auto b = runUnoptimized(after, inputs);
  EXPECT_TRUE(a.hasValue()) << a.status().toString();
  EXPECT_TRUE(b.hasValue()) << b.status().toString();
  if (!a || !b) return INFINITY;
  if (identical) *identical = bitIdentical(*a, *b);
  return maxDifference(*a, *b);
}

/// Shorthand for a static shape.
inline Shape shape(std::initializer_list<int64_t> d) {
  return shapeFromDims(Dims(d));
}

/// A Shuffle{transpose} of `x`.
inline TensorId transpose(NetworkDefinition& net, TensorId x, std::vector<int64_t> perm) {
  ShuffleAttrs a;
  a.mode = ShuffleMode::kTranspose;
  a.perm = std::move(perm);
  return net.layer(*net.addLayer("transpose", a, {x})).outputs[0];
}

/// A Shuffle{reshape} of `x` to `dims`.
inline TensorId reshape(NetworkDefinition& net, TensorId x, const Dims& dims) {
  ShuffleAttrs a;
  a.mode = ShuffleMode::kReshape;
  TensorId s = net.addConstant("shape", Weights::fromInts(dims));
  return net.layer(*net.addLayer("reshape", a, {x, s})).outputs[0];
}

/// A layer with one output.
inline TensorId layer(NetworkDefinition& net, const std::string& name, LayerAttrs attrs,
                      const std::vector<TensorId>& inputs) {
  return net.layer(*net.addLayer(name, std::move(attrs), inputs)).outputs[0];
}

/// A float scalar constant.
inline TensorId scalar(NetworkDefinition& net, float v) {
  return net.addConstant("c", Weights::fromFloats({v}, true));
}

/// Checks that `rules` turn `before` into a network with executed layers `expected`, with the
/// same outputs as `before` within `tol` (0: bit for bit). Returns the rewritten network.
inline NetworkDefinition expectRewrite(const NetworkDefinition& before,
                                       const std::vector<Rule>& rules,
                                       const std::vector<std::string>& expected,
                                       const std::vector<NamedTensor>& inputs, double tol,
                                       const char* rule = nullptr) {
  RuleHits hits;
  auto after = applyRules(before, rules, &hits);
  EXPECT_TRUE(after.hasValue()) << after.status().toString();
  if (!after) return before;
  EXPECT_EQ(kinds(*after), expected) << after->toString();
  if (rule) {
    EXPECT_GT(hits[rule], 0) << rule;
  }
  bool identical = false;
  double diff = compareNetworks(before, *after, inputs, &identical);
  if (tol == 0) {
    EXPECT_TRUE(identical) << "max |difference| " << diff;
  } else {
    EXPECT_LE(diff, tol);
  }
  return *after;
}

/// Checks that `rules` leave the executed layers of `net` unchanged (a guard said no).
inline void expectNoRewrite(const NetworkDefinition& net, const std::vector<Rule>& rules,
                            const TargetCapabilities& target, const char* rule) {
  RuleHits hits;
  auto after = applyRules(net, rules, target, &hits);
  ASSERT_TRUE(after.hasValue()) << after.status().toString();
  EXPECT_EQ(hits.count(rule), 0u) << rule << " fired:\n" << after->toString();
}

inline void expectNoRewrite(const NetworkDefinition& net, const std::vector<Rule>& rules,
                            const char* rule) {
  AllCapabilities all;
  expectNoRewrite(net, rules, all, rule);
}

}  // namespace kiln::test
