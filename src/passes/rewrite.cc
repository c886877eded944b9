#include "passes/rewrite.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "ir/describe.h"
#include "ir/shape_inference.h"

namespace kiln {

// ---- Match ---------------------------------------------------------------------------------

TensorId Match::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? kNoTensor : it->second;
}

LayerId Match::layer(const std::string& name) const {
  auto it = layerNames_.find(name);
  return it == layerNames_.end() ? -1 : it->second;
}

bool Match::isShared(LayerId id) const {
  return std::find(shared_.begin(), shared_.end(), id) != shared_.end();
}

bool Match::bindTensor(const std::string& name, TensorId t) {
  if (name.empty()) return true;
  auto [it, inserted] = tensors_.emplace(name, t);
  return inserted || it->second == t;
}

void Match::bindLayer(const std::string& name, LayerId id) {
  if (!name.empty()) layerNames_[name] = id;
}

void Match::addLayer(LayerId id, bool shared) {
  if (std::find(layers_.begin(), layers_.end(), id) == layers_.end()) layers_.push_back(id);
  if (shared && !isShared(id)) shared_.push_back(id);
}

// ---- Pattern -------------------------------------------------------------------------------

Pattern Pattern::any(std::string capture) {
  Pattern p;
  p.type_ = Type::kAny;
  p.capture_ = std::move(capture);
  return p;
}

Pattern Pattern::constant(std::string capture) {
  Pattern p;
  p.type_ = Type::kConstant;
  p.capture_ = std::move(capture);
  return p;
}

Pattern Pattern::scalar(double value, double relTol, std::string capture) {
  Pattern p;
  p.type_ = Type::kScalar;
  p.value_ = value;
  p.relTol_ = relTol;
  p.capture_ = std::move(capture);
  return p;
}

Pattern Pattern::layer(LayerKind kind, std::vector<Pattern> inputs, std::string capture) {
  Pattern p;
  p.type_ = Type::kLayer;
  p.kind_ = kind;
  p.inputs_ = std::move(inputs);
  p.capture_ = std::move(capture);
  return p;
}

namespace {
bool isCommutative(ElementwiseKind k) {
  switch (k) {
    case ElementwiseKind::kAdd:
    case ElementwiseKind::kMul:
    case ElementwiseKind::kMax:
    case ElementwiseKind::kMin:
    case ElementwiseKind::kAnd:
    case ElementwiseKind::kOr:
    case ElementwiseKind::kXor:
    case ElementwiseKind::kEqual:
      return true;
    default:
      return false;
  }
}
}  // namespace

Pattern Pattern::binary(ElementwiseKind kind, Pattern a, Pattern b, std::string capture) {
  Pattern p = layer(LayerKind::kElementwise, {std::move(a), std::move(b)}, std::move(capture))
                  .where([kind](const NetworkDefinition&, const Layer& l) {
                    return l.as<ElementwiseAttrs>().kind == kind;
                  });
  p.commutative_ = isCommutative(kind);
  return p;
}

Pattern Pattern::unary(UnaryKind kind, Pattern x, std::string capture) {
  return layer(LayerKind::kUnary, {std::move(x)}, std::move(capture))
      .where([kind](const NetworkDefinition&, const Layer& l) {
        return l.as<UnaryAttrs>().kind == kind;
      });
}

Pattern Pattern::activation(ActivationKind kind, Pattern x, std::string capture) {
  return layer(LayerKind::kActivation, {std::move(x)}, std::move(capture))
      .where([kind](const NetworkDefinition&, const Layer& l) {
        return l.as<ActivationAttrs>().kind == kind;
      });
}

Pattern Pattern::where(LayerPredicate p) && {
  predicates_.push_back(std::move(p));
  return std::move(*this);
}

Pattern Pattern::shared() && {
  shared_ = true;
  return std::move(*this);
}

Pattern Pattern::commutative() && {
  commutative_ = true;
  return std::move(*this);
}

Pattern Pattern::exactInputs() && {
  exactInputs_ = true;
  return std::move(*this);
}

std::optional<LayerKind> Pattern::rootKind() const {
  if (type_ != Type::kLayer) return std::nullopt;
  return kind_;
}

bool Pattern::match(const NetworkDefinition& net, TensorId t, Match& m, bool root) const {
  if (t == kNoTensor) return false;
  switch (type_) {
    case Type::kAny:
      return m.bindTensor(capture_, t);
    case Type::kConstant:
      return net.constantValue(t) != nullptr && m.bindTensor(capture_, t);
    case Type::kScalar:
      return isSplat(net, t, value_, relTol_) && m.bindTensor(capture_, t);
    case Type::kLayer:
      break;
  }
  const LayerId id = net.tensor(t).producer;
  if (id < 0) return false;
  const Layer& l = net.layer(id);
  if (l.removed || l.kind() != kind_) return false;
  if (!root && !shared_ && (!net.hasSingleUse(t) || l.outputs.size() != 1)) return false;
  if (exactInputs_) {
    if (l.inputs.size() != inputs_.size()) return false;
    for (TensorId in : l.inputs)
      if (in == kNoTensor) return false;
  } else if (l.inputs.size() < inputs_.size()) {
    return false;
  }
  for (const auto& p : predicates_)
    if (!p(net, l)) return false;
  auto tryOrder = [&](bool swapped) {
    Match saved = m;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      size_t k = swapped && inputs_.size() == 2 ? 1 - i : i;
      if (!inputs_[i].match(net, l.inputs[k], m, false)) {
        m = saved;
        return false;
      }
    }
    return true;
  };
  if (!tryOrder(false) && !(commutative_ && inputs_.size() == 2 && tryOrder(true))) return false;
  if (!m.bindTensor(capture_, t)) return false;
  m.bindLayer(capture_, id);
  m.addLayer(id, shared_ && !root);
  return true;
}

// ---- helpers -------------------------------------------------------------------------------

const Weights* constantOf(const NetworkDefinition& net, TensorId t) {
  return t == kNoTensor ? nullptr : net.constantValue(t);
}

std::optional<double> splatValue(const NetworkDefinition& net, TensorId t) {
  const Weights* w = constantOf(net, t);
  if (!w || w->count() < 1) return std::nullopt;
  auto v = w->toDoubles();
  if (!v) return std::nullopt;
  for (double x : *v)
    if (!(x == (*v)[0])) return std::nullopt;
  return (*v)[0];
}

bool isSplat(const NetworkDefinition& net, TensorId t, double value, double relTol) {
  auto v = splatValue(net, t);
  if (!v) return false;
  if (relTol == 0) {
    // Exact, at the constant's own precision: 1.41421354f matches sqrt(2) for a float.
    DataType d = net.tensor(t).dtype;
    if (d == DataType::kFloat32) return static_cast<float>(*v) == static_cast<float>(value);
    return *v == value;
  }
  return std::fabs(*v - value) <= relTol * std::fabs(value);
}

bool broadcastsTo(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    const Dim& f = from[i];
    if (f == to[lead + i]) continue;
    if (f.isStatic() && f.value() == 1) continue;
    return false;
  }
  return true;
}

// ---- Rewriter ------------------------------------------------------------------------------

Rewriter::Rewriter(RuleContext& ctx, const Rule& rule, const Match& match)
    : ctx_(ctx), rule_(rule), event_(ctx.pass, rule.name) {
  for (LayerId id : match.layers())
    event_.matched(ctx.net, id);
}

Expected<LayerId> Rewriter::addLayer(const std::string& base, LayerAttrs attrs,
                                     const std::vector<TensorId>& inputs, int numOutputs) {
  NetworkDefinition& n = net();
  std::string name = n.uniqueName(base);
  KILN_ASSIGN_OR_RETURN(LayerId id, n.addLayer(name, std::move(attrs), inputs, numOutputs));
  KILN_RETURN_IF_ERROR(inferLayer(n, id));
  created_.push_back(id);
  event_.produced(id);
  return id;
}

Expected<TensorId> Rewriter::add(const std::string& base, LayerAttrs attrs,
                                 const std::vector<TensorId>& inputs) {
  KILN_ASSIGN_OR_RETURN(LayerId id, addLayer(base, std::move(attrs), inputs, 1));
  return net().layer(id).outputs[0];
}

TensorId Rewriter::addConstant(const std::string& base, Weights value) {
  return net().addConstant(net().uniqueName(base), std::move(value));
}

Expected<TensorId> Rewriter::evaluate(std::string base, LayerAttrs attrs,
                                      const std::vector<TensorId>& inputs) {
  NetworkDefinition& n = net();
  KILN_ASSIGN_OR_RETURN(LayerId id,
                        n.addLayer(n.uniqueName(base + "#eval"), std::move(attrs), inputs, 1));
  Status s = inferLayer(n, id);
  Expected<std::vector<Weights>> values = s;
  if (s.isOk()) {
    auto desc = describeLayer(n, id);
    if (!desc) {
      values = desc.status();
    } else if (desc->outputs.size() != n.layer(id).outputs.size()) {
      values = invalidModel("layer '" + n.layer(id).name + "': its output shape is not static");
    } else {
      values = ctx_.evaluator.evaluate(*desc);
    }
  }
  n.removeLayer(id);
  if (!values) return values.status().withContext("rule '" + rule_.name + "': evaluating " + base);
  TensorId t = addConstant(base, std::move((*values)[0]));
  // The folded constant remembers which constants it was computed from.
  Layer& c = n.layer(n.tensor(t).producer);
  for (TensorId in : inputs)
    if (in != kNoTensor && n.tensor(in).producer >= 0)
      appendUnique(c.origins, n.layer(n.tensor(in).producer).origins);
  return t;
}

Status Rewriter::replace(TensorId from, TensorId to) {
  NetworkDefinition& n = net();
  if (from == to) return Status::ok();
  if (!n.tensor(from).isOutput) {
    n.replaceLayerUses(from, to);
    return Status::ok();
  }
  // A graph output keeps its name, so the engine's outputs do not change.
  TensorId target = to;
  const Tensor& x = n.tensor(to);
  if (x.isInput || x.isOutput || n.constantValue(to) != nullptr) {
    KILN_ASSIGN_OR_RETURN(
        target, add(n.tensor(from).name + "#copy", UnaryAttrs{UnaryKind::kIdentity}, {to}));
  }
  const std::string name = n.tensor(from).name;
  n.replaceAllUses(from, target);
  n.renameTensor(from, n.uniqueName(name + "#replaced"));
  n.renameTensor(target, name);
  return Status::ok();
}

void Rewriter::modified(LayerId id) {
  event_.produced(id);
}

Status Rewriter::setAttrs(LayerId id, LayerAttrs attrs) {
  net().layer(id).attrs = std::move(attrs);
  modified(id);
  return inferLayer(net(), id);
}

Status Rewriter::setInputs(LayerId id, const std::vector<TensorId>& inputs) {
  net().setLayerInputs(id, inputs);
  modified(id);
  return inferLayer(net(), id);
}

// ---- driver --------------------------------------------------------------------------------

namespace {

bool allOutputsUnused(const NetworkDefinition& net, const Layer& l) {
  for (TensorId t : l.outputs)
    if (!net.consumers(t).empty() || net.tensor(t).isOutput) return false;
  return true;
}

/// Removes the matched layers the rewrite left without users, then the constants that only they
/// read (recorded as absorbed by the rule).
void removeLeftovers(NetworkDefinition& net, const Match& m, Rewriter& rw) {
  // Shared layers go too when the rewrite left them without users.
  std::vector<LayerId> work(m.layers().begin(), m.layers().end());
  std::set<LayerId> matched(work.begin(), work.end());
  while (!work.empty()) {
    LayerId id = work.back();
    work.pop_back();
    Layer& l = net.layer(id);
    if (l.removed || !allOutputsUnused(net, l)) continue;
    if (!matched.count(id)) rw.event().absorbed(net, id);
    std::vector<TensorId> ins = l.inputs;
    net.removeLayer(id);
    for (TensorId in : ins) {
      if (in == kNoTensor) continue;
      LayerId p = net.tensor(in).producer;
      if (p >= 0 && !net.layer(p).removed &&
          (matched.count(p) || net.layer(p).kind() == LayerKind::kConstant))
        work.push_back(p);
    }
  }
}

}  // namespace

Expected<RuleHits> runRules(RuleContext& ctx, const std::vector<Rule>& rules, int maxSweeps) {
  NetworkDefinition& net = ctx.net;
  std::map<LayerKind, std::vector<const Rule*>> byKind;
  for (const Rule& r : rules) {
    std::optional<LayerKind> k = r.pattern ? r.pattern->rootKind() : r.rootKind;
    if (!k || (!r.pattern && !r.matcher) || !r.rewrite)
      return internalError("rule '" + r.name + "' has no root layer pattern or no rewrite");
    byKind[*k].push_back(&r);
  }
  RuleHits hits;
  for (int sweep = 0; sweep < maxSweeps; ++sweep) {
    bool changed = false;
    std::string fired;
    for (size_t i = 0; i < net.layers().size(); ++i) {
      const LayerId id = static_cast<LayerId>(i);
      if (net.layer(id).removed) continue;
      auto it = byKind.find(net.layer(id).kind());
      if (it == byKind.end()) continue;
      for (const Rule* rule : it->second) {
        if (net.layer(id).removed) break;
        Match m;
        bool ok = rule->pattern ? rule->pattern->match(net, net.layer(id).outputs.at(0), m, true)
                                : rule->matcher(ctx, id, m);
        if (!ok || (rule->guard && !rule->guard(ctx, m))) continue;
        Rewriter rw(ctx, *rule, m);
        KILN_RETURN_IF_ERROR(rule->rewrite(rw, m).withContext(
            "rule '" + rule->name + "' at layer '" + net.layer(id).name + "'"));
        removeLeftovers(net, m, rw);
        rw.event().commit(net);
        ++hits[rule->name];
        changed = true;
        fired = rule->name;
      }
    }
    if (!changed) {
      KILN_RETURN_IF_ERROR(net.topologicalSort());
      return hits;
    }
    if (sweep + 1 == maxSweeps)
      return internalError("pass '" + ctx.pass + "': rules still fire after " +
                           std::to_string(maxSweeps) + " sweeps (last: '" + fired +
                           "'); a rule undoes another or re-matches its own result");
  }
  return hits;
}

}  // namespace kiln
