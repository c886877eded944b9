// kiln — elementwise chain fusion: a pointwise layer (Elementwise, Unary, Activation, Select,
// Cast, Pointwise) whose single user is another pointwise layer merges into it, giving one
// Pointwise layer that evaluates the whole expression (ir/pointwise_expr.h). Scalar float32
// constants become literals. Exact: the Pointwise kernel rounds every node to its dtype as
// the unfused layers do.
#include <algorithm>

#include "ir/pointwise_expr.h"
#include "passes/rule_util.h"
#include "passes/rules.h"

namespace kiln {

namespace {

using pointwise::Expr;
using pointwise::Node;

bool allowedType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kBool;
}

/// The expression of a single pointwise layer over its own inputs x0, x1, ...
std::optional<Expr> expressionOf(const Layer& l) {
  auto input = [](int k) {
    Node n;
    n.op = Node::Op::kInput;
    n.input = k;
    return n;
  };
  Expr e;
  auto withInputs = [&](int n, Node op) {
    for (int k = 0; k < n; ++k) {
      e.nodes.push_back(input(k));
      op.args.push_back(k);
    }
    e.nodes.push_back(op);
    return e;
  };
  Node op;
  switch (l.kind()) {
    case LayerKind::kElementwise:
      op.op = Node::Op::kBinary;
      op.binary = l.as<ElementwiseAttrs>().kind;
      return withInputs(2, op);
    case LayerKind::kUnary:
      op.op = Node::Op::kUnary;
      op.unary = l.as<UnaryAttrs>().kind;
      return withInputs(1, op);
    case LayerKind::kActivation: {
      const auto& a = l.as<ActivationAttrs>();
      op.op = Node::Op::kActivation;
      op.activation = a.kind;
      op.alpha = a.alpha;
      op.beta = a.beta;
      return withInputs(1, op);
    }
    case LayerKind::kSelect:
      op.op = Node::Op::kSelect;
      return withInputs(3, op);
    case LayerKind::kCast:
      op.op = Node::Op::kCast;
      op.castTo = l.as<CastAttrs>().to;
      return withInputs(1, op);
    case LayerKind::kPointwise: {
      auto p = pointwise::parse(l.as<PointwiseAttrs>().expression);
      if (!p) return std::nullopt;
      return *p;
    }
    default:
      return std::nullopt;
  }
}

bool isPointwise(const Layer& l) {
  switch (l.kind()) {
    case LayerKind::kElementwise:
    case LayerKind::kUnary:
    case LayerKind::kActivation:
    case LayerKind::kSelect:
    case LayerKind::kCast:
    case LayerKind::kPointwise:
      return true;
    default:
      return false;
  }
}

/// Every tensor the layer touches has a dtype Pointwise evaluates exactly.
bool typesAllowed(const NetworkDefinition& net, const Layer& l) {
  for (TensorId t : l.inputs)
    if (t == kNoTensor || !allowedType(net.tensor(t).dtype)) return false;
  for (TensorId t : l.outputs)
    if (!allowedType(net.tensor(t).dtype)) return false;
  return true;
}

/// A scalar float32 constant that can be written as a literal.
std::optional<float> literalOf(const NetworkDefinition& net, TensorId t) {
  const Weights* w = net.constantValue(t);
  if (!w || w->dtype() != DataType::kFloat32 || w->count() != 1) return std::nullopt;
  return w->as<float>()[0];
}

/// `consumer` with its input `k` replaced by `producer`'s expression, over the combined
/// inputs `ins` (consumer's inputs with slot k replaced by producer's inputs). Repeated input
/// tensors and scalar constants are folded afterwards by finish().
struct Built {
  Expr expr;
  std::vector<TensorId> inputs;
};

Built substitute(const Expr& consumer, const std::vector<TensorId>& cIns, int k,
                 const Expr& producer, const std::vector<TensorId>& pIns) {
  Built b;
  b.inputs = cIns;
  // Producer inputs are appended; its x_i becomes x_(n + i).
  const int base = static_cast<int>(cIns.size());
  for (TensorId t : pIns)
    b.inputs.push_back(t);
  std::vector<int> map(consumer.nodes.size(), -1);
  for (size_t i = 0; i < consumer.nodes.size(); ++i) {
    const Node& n = consumer.nodes[i];
    if (n.op == Node::Op::kInput && n.input == k) {
      // Splice the producer's nodes here.
      std::vector<int> pmap(producer.nodes.size(), -1);
      for (size_t j = 0; j < producer.nodes.size(); ++j) {
        Node p = producer.nodes[j];
        if (p.op == Node::Op::kInput) p.input += base;
        for (int& a : p.args)
          a = pmap[static_cast<size_t>(a)];
        b.expr.nodes.push_back(p);
        pmap[j] = static_cast<int>(b.expr.nodes.size() - 1);
      }
      map[i] = pmap.back();
      continue;
    }
    Node c = n;
    for (int& a : c.args)
      a = map[static_cast<size_t>(a)];
    b.expr.nodes.push_back(c);
    map[i] = static_cast<int>(b.expr.nodes.size() - 1);
  }
  return b;
}

/// Turns scalar constants into literals (when the remaining inputs still give the output its
/// shape), merges repeated inputs and drops unused ones.
Built finish(const NetworkDefinition& net, Built b, const Shape& outShape) {
  // Which inputs stay tensors.
  std::vector<bool> literal(b.inputs.size(), false);
  for (size_t k = 0; k < b.inputs.size(); ++k)
    literal[k] = literalOf(net, b.inputs[k]).has_value();
  // Without the literals the broadcast of the other inputs must still be the output shape.
  auto shapeWithout = [&]() {
    size_t rank = 0;
    for (size_t k = 0; k < b.inputs.size(); ++k)
      if (!literal[k]) rank = std::max(rank, net.tensor(b.inputs[k]).shape.size());
    return rank;
  };
  if (shapeWithout() != outShape.size() ||
      std::none_of(literal.begin(), literal.end(), [](bool l) { return !l; })) {
    // Keep the constants of the largest rank as tensors.
    for (size_t k = 0; k < b.inputs.size(); ++k)
      if (net.tensor(b.inputs[k]).shape.size() == outShape.size()) literal[k] = false;
    if (std::none_of(literal.begin(), literal.end(), [](bool l) { return !l; })) literal[0] = false;
  }
  std::vector<int> slot(b.inputs.size(), -1);
  std::vector<TensorId> kept;
  for (size_t k = 0; k < b.inputs.size(); ++k) {
    if (literal[k]) continue;
    auto it = std::find(kept.begin(), kept.end(), b.inputs[k]);
    if (it != kept.end()) {
      slot[k] = static_cast<int>(it - kept.begin());
    } else {
      slot[k] = static_cast<int>(kept.size());
      kept.push_back(b.inputs[k]);
    }
  }
  for (Node& n : b.expr.nodes) {
    if (n.op != Node::Op::kInput) continue;
    const size_t k = static_cast<size_t>(n.input);
    if (literal[k]) {
      n.op = Node::Op::kLiteral;
      n.literal = *literalOf(net, b.inputs[k]);
    } else {
      n.input = slot[k];
    }
  }
  // Inputs no node reads any more (all their uses became literals) are dropped by renumbering.
  std::vector<int> used(kept.size(), -1);
  std::vector<TensorId> final;
  for (Node& n : b.expr.nodes) {
    if (n.op != Node::Op::kInput) continue;
    int& u = used[static_cast<size_t>(n.input)];
    if (u < 0) {
      u = static_cast<int>(final.size());
      final.push_back(kept[static_cast<size_t>(n.input)]);
    }
    n.input = u;
  }
  b.inputs = final;
  return b;
}

bool matchChain(const RuleContext& c, LayerId root, Match& m) {
  const NetworkDefinition& net = c.net;
  const Layer& y = net.layer(root);
  if (!isPointwise(y) || !typesAllowed(net, y) ||
      !c.target.hasCapability(Capability::layerKind(LayerKind::kPointwise)))
    return false;
  for (size_t k = 0; k < y.inputs.size(); ++k) {
    TensorId t = y.inputs[k];
    const Layer* p = producerOf(net, t);
    if (!p || !isPointwise(*p) || !typesAllowed(net, *p) || !net.hasSingleUse(t)) continue;
    // y reads t once (a repeated input would need the producer's value twice).
    if (std::count(y.inputs.begin(), y.inputs.end(), t) != 1) continue;
    m.addLayer(root, false);
    m.addLayer(net.tensor(t).producer, false);
    m.setValue("slot", static_cast<double>(k));
    return true;
  }
  return false;
}

Status fuseChain(Rewriter& rw, const Match& m) {
  NetworkDefinition& net = rw.net();
  const Layer y = net.layer(m.root());
  const int k = static_cast<int>(m.value("slot"));
  const Layer p = net.layer(net.tensor(y.inputs[static_cast<size_t>(k)]).producer);
  auto ey = expressionOf(y), ep = expressionOf(p);
  if (!ey || !ep) return internalError("pointwise layer without an expression");
  Built b =
      finish(net, substitute(*ey, y.inputs, k, *ep, p.inputs), net.tensor(y.outputs[0]).shape);
  KILN_ASSIGN_OR_RETURN(TensorId out,
                        rw.add(y.name, PointwiseAttrs{pointwise::print(b.expr)}, b.inputs));
  return rw.replace(y.outputs[0], out);
}

}  // namespace

std::vector<Rule> pointwiseRules() {
  std::vector<Rule> rules;
  for (LayerKind kind : {LayerKind::kElementwise, LayerKind::kUnary, LayerKind::kActivation,
                         LayerKind::kSelect, LayerKind::kCast, LayerKind::kPointwise})
    rules.push_back(Rule{.name = "fuse-elementwise",
                         .algebra = "f(g(x, ..), ..) -> pointwise{f(g(x, ..), ..)}(x, ..)",
                         .matcher = matchChain,
                         .rootKind = kind,
                         .rewrite = fuseChain});
  return rules;
}

}  // namespace kiln
