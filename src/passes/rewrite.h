// kiln — declarative rewrite rules and the one fixed-point driver that runs them (STYLE.md
// items 4, 5 and 10).
//
// A rule is a pattern over the producers of a tensor (with named captures and guards), an
// optional guard over the whole match, and a builder for the replacement, plus a one-line
// statement of its algebra:
//
//   Rule{"fuse-conv-activation", "act(conv(x, w, b)) -> conv{act}(x, w, b)",
//        Pattern::activationOf(Pattern::layer(LayerKind::kConvolution, {}, "conv")),
//        guard, rewrite}
//
// The driver walks the layers, tries the rules whose root kind matches, and repeats until no
// rule fires. Every firing becomes a RewriteEvent (rule, matched and produced layers, source
// nodes), and the produced layers inherit the origins of the layers they replace.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/capabilities.h"
#include "ir/evaluator.h"
#include "ir/shape_inference.h"
#include "kiln/network.h"
#include "passes/events.h"

namespace kiln {

/// What a match captured: tensors and layers by name, and every layer it matched.
class Match {
 public:
  /// The tensor captured as `name`, or kNoTensor.
  TensorId tensor(const std::string& name) const;
  /// The layer captured as `name`, or -1.
  LayerId layer(const std::string& name) const;
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  /// Matched layers, root first. Layers matched as shared() stay; the others are consumed.
  const std::vector<LayerId>& layers() const { return layers_; }
  bool isShared(LayerId id) const;
  LayerId root() const { return layers_.empty() ? -1 : layers_.front(); }

  /// Binds `name` to `t`; false when `name` is already bound to another tensor.
  bool bindTensor(const std::string& name, TensorId t);
  void bindLayer(const std::string& name, LayerId id);
  void addLayer(LayerId id, bool shared);
  /// Numbers an imperative matcher found (a scale, a layout choice), by name.
  void setValue(const std::string& name, double v) { values_[name] = v; }
  double value(const std::string& name, double otherwise = 0) const {
    auto it = values_.find(name);
    return it == values_.end() ? otherwise : it->second;
  }

 private:
  std::map<std::string, double> values_;
  std::map<std::string, TensorId> tensors_;
  std::map<std::string, LayerId> layerNames_;
  std::vector<LayerId> layers_;
  std::vector<LayerId> shared_;
};

using LayerPredicate = std::function<bool(const NetworkDefinition&, const Layer&)>;

/// A pattern over the producers of a tensor.
class Pattern {
 public:
  /// Any tensor, bound to `capture` (a name bound twice must be the same tensor).
  static Pattern any(std::string capture = {});
  /// The output of a Constant layer.
  static Pattern constant(std::string capture = {});
  /// A float constant every element of which equals `value` (within relTol * |value|).
  static Pattern scalar(double value, double relTol = 0, std::string capture = {});
  /// The output of a layer of `kind` whose first inputs match `inputs`. Unless shared(), the
  /// tensor must have no user but the pattern's parent (nor be a graph output).
  static Pattern layer(LayerKind kind, std::vector<Pattern> inputs, std::string capture = {});
  /// Elementwise `kind` of a and b; either order for commutative kinds.
  static Pattern binary(ElementwiseKind kind, Pattern a, Pattern b, std::string capture = {});
  static Pattern unary(UnaryKind kind, Pattern x, std::string capture = {});
  static Pattern activation(ActivationKind kind, Pattern x, std::string capture = {});

  /// Adds a guard on the matched layer.
  Pattern where(LayerPredicate p) &&;
  /// The tensor may have other users; the layer is matched but not consumed.
  Pattern shared() &&;
  /// The layer's inputs may match in either order (binary layers).
  Pattern commutative() &&;
  /// The layer has exactly as many inputs as patterns given (no extra optional ones).
  Pattern exactInputs() &&;

  /// The root kind (only for layer patterns).
  std::optional<LayerKind> rootKind() const;
  /// Matches the pattern against tensor `t` (the root's output when `root`).
  bool match(const NetworkDefinition& net, TensorId t, Match& m, bool root) const;

 private:
  enum class Type { kAny, kConstant, kScalar, kLayer };
  Type type_ = Type::kAny;
  std::string capture_;
  LayerKind kind_ = LayerKind::kConstant;
  std::vector<Pattern> inputs_;
  std::vector<LayerPredicate> predicates_;
  double value_ = 0, relTol_ = 0;
  bool shared_ = false, commutative_ = false, exactInputs_ = false;
};

/// What rules see: the network, the target's capabilities, constant evaluation.
struct RuleContext {
  NetworkDefinition& net;
  const TargetCapabilities& target;
  const ConstantEvaluator& evaluator;
  std::string pass;
};

class Rewriter;

/// One declarative rewrite.
struct Rule {
  std::string name = {};     ///< "fuse-conv-activation": in logs, events and `kiln inspect`
  std::string algebra = {};  ///< one line: "act(conv(x, w, b)) -> conv{act}(x, w, b)"
  /// The pattern, rooted at the layer whose output the rewrite replaces.
  std::optional<Pattern> pattern = std::nullopt;
  /// For shapes a tree pattern cannot express (siblings sharing an input): matches at layer
  /// `root` of kind `rootKind`, filling the match. Used when `pattern` is empty.
  std::function<bool(const RuleContext&, LayerId root, Match& m)> matcher = {};
  LayerKind rootKind = LayerKind::kConstant;  ///< for `matcher` rules
  /// Guards on the whole match (shapes, dtypes, capabilities). Must not change the network.
  std::function<bool(const RuleContext&, const Match&)> guard = {};
  /// Builds the replacement. Runs only after the pattern and guard passed; an error fails the
  /// build (guards must reject what the builder cannot do).
  std::function<Status(Rewriter&, const Match&)> rewrite = {};
};

/// The API a rule's builder uses. It tracks what it creates so the driver can record the event
/// and give the new layers their origins.
class Rewriter {
 public:
  Rewriter(RuleContext& ctx, const Rule& rule, const Match& match);

  NetworkDefinition& net() { return ctx_.net; }
  const TargetCapabilities& target() const { return ctx_.target; }
  const Rule& rule() const { return rule_; }

  /// Adds a layer named after `base` (made unique) and infers its outputs' types and dims.
  Expected<LayerId> addLayer(const std::string& base, LayerAttrs attrs,
                             const std::vector<TensorId>& inputs, int numOutputs = 1);
  /// addLayer() for a single output; returns the output tensor.
  Expected<TensorId> add(const std::string& base, LayerAttrs attrs,
                         const std::vector<TensorId>& inputs);
  /// A new constant.
  TensorId addConstant(const std::string& base, Weights value);
  /// Evaluates a layer over constant inputs (through the ConstantEvaluator) and returns a new
  /// constant holding its output: how rules compute folded weights.
  Expected<TensorId> evaluate(std::string base, LayerAttrs attrs,
                              const std::vector<TensorId>& inputs);
  /// Every use of `from` now reads `to`. A graph output keeps its name: `to` takes it (or, when
  /// `to` is a graph input or output itself, an identity copy of `to` does).
  Status replace(TensorId from, TensorId to);
  /// Records that an existing layer was changed in place (attributes or inputs).
  void modified(LayerId id);
  /// Sets a layer's attributes and re-infers its outputs; marks it modified.
  Status setAttrs(LayerId id, LayerAttrs attrs);
  /// Sets a layer's inputs and re-infers its outputs; marks it modified.
  Status setInputs(LayerId id, const std::vector<TensorId>& inputs);

  EventBuilder& event() { return event_; }
  const std::vector<LayerId>& created() const { return created_; }

 private:
  RuleContext& ctx_;
  const Rule& rule_;
  EventBuilder event_;
  std::vector<LayerId> created_;
};

/// Hit counts of one driver run, by rule name.
using RuleHits = std::map<std::string, int>;

/// Runs `rules` over the network until none fires (at most `maxSweeps` sweeps; more is an
/// internal error naming the rules still firing), then sorts the layers topologically.
Expected<RuleHits> runRules(RuleContext& ctx, const std::vector<Rule>& rules, int maxSweeps = 32);

// ---- helpers for guards ----------------------------------------------------------------------

/// The constant value of `t`, or nullptr.
const Weights* constantOf(const NetworkDefinition& net, TensorId t);
/// Whether `t` is a float constant with every element equal to `value` (within relTol).
bool isSplat(const NetworkDefinition& net, TensorId t, double value, double relTol = 0);
/// The single value of a constant whose elements are all equal, if it is one.
std::optional<double> splatValue(const NetworkDefinition& net, TensorId t);
/// The dtype of `t`.
inline DataType dtypeOf(const NetworkDefinition& net, TensorId t) {
  return net.tensor(t).dtype;
}
/// The shape of `t` (possibly symbolic).
inline const Shape& shapeOf(const NetworkDefinition& net, TensorId t) {
  return net.tensor(t).shape;
}
/// Whether a tensor of shape `from` broadcasts (numpy, unidirectionally) to shape `to`.
bool broadcastsTo(const Shape& from, const Shape& to);

}  // namespace kiln
