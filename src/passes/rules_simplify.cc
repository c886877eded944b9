// kiln — simplification rules: no-ops and algebraic identities. Each removes work without
// changing a single bit of any result, except where noted (x + 0 turns -0 into +0, which
// compares equal).
#include <algorithm>
#include <numeric>

#include "passes/rule_util.h"
#include "passes/rules.h"

namespace kiln {

namespace {

/// The rule replaces y by an existing tensor x: allowed unless y is a graph output that x
/// cannot stand for (x is an input, an output or a constant: the copy it would need is
/// exactly the layer being removed).
bool canForward(const NetworkDefinition& net, TensorId y, TensorId x) {
  if (!net.tensor(y).isOutput) return true;
  const Tensor& t = net.tensor(x);
  return !t.isInput && !t.isOutput && net.constantValue(x) == nullptr;
}

/// y = x as far as every reader can tell: same dtype and shape.
bool sameValueType(const NetworkDefinition& net, TensorId y, TensorId x) {
  const Tensor& a = net.tensor(y);
  const Tensor& b = net.tensor(x);
  return a.shapeKnown && b.shapeKnown && a.dtype == b.dtype && a.shape == b.shape;
}

/// A rule "root(x, ...) -> x" guarded by same type and shape, and by canForward.
Rule forwardRule(std::string name, std::string algebra, Pattern pattern) {
  return Rule{.name = std::move(name),
              .algebra = std::move(algebra),
              .pattern = std::move(pattern),
              .guard =
                  [](const RuleContext& c, const Match& m) {
                    return sameValueType(c.net, m.tensor("y"), m.tensor("x")) &&
                           canForward(c.net, m.tensor("y"), m.tensor("x"));
                  },
              .rewrite = [](Rewriter& rw,
                            const Match& m) { return rw.replace(m.tensor("y"), m.tensor("x")); }};
}

bool isReshapeLike(const Layer& l) {
  if (l.kind() != LayerKind::kShuffle) return false;
  return l.as<ShuffleAttrs>().mode != ShuffleMode::kTranspose;
}

/// `s` without its dims of static size 1.
Shape dropOnes(const Shape& s) {
  Shape out;
  for (const Dim& d : s)
    if (!(d.isStatic() && d.value() == 1)) out.push_back(d);
  return out;
}

bool isTranspose(const Layer& l) {
  return l.kind() == LayerKind::kShuffle && l.as<ShuffleAttrs>().mode == ShuffleMode::kTranspose;
}

}  // namespace

std::vector<Rule> simplifyRules() {
  std::vector<Rule> rules;
  // identity(x) -> x
  rules.push_back(forwardRule("remove-identity", "identity(x) -> x",
                              Pattern::unary(UnaryKind::kIdentity, Pattern::any("x"), "y")));
  // cast<T>(x: T) -> x
  rules.push_back(forwardRule("remove-same-type-cast", "cast<T>(x : T) -> x",
                              Pattern::layer(LayerKind::kCast, {Pattern::any("x")}, "y")));
  // reshape(x, shape(x)) -> x (also squeeze, unsqueeze and flatten that keep the shape)
  rules.push_back(forwardRule(
      "remove-same-shape-reshape", "reshape(x, shape(x)) -> x",
      Pattern::layer(LayerKind::kShuffle, {Pattern::any("x")}, "y")
          .where([](const NetworkDefinition&, const Layer& l) { return isReshapeLike(l); })));
  // expand(x, s) -> x when the result has x's shape
  rules.push_back(forwardRule("remove-same-shape-expand", "expand(x, s) -> x  if shape(x) = s",
                              Pattern::layer(LayerKind::kExpand, {Pattern::any("x")}, "y")));
  // transpose(x, identity) -> x
  rules.push_back(forwardRule("remove-identity-transpose", "transpose(x, [0, 1, ..]) -> x",
                              Pattern::layer(LayerKind::kShuffle, {Pattern::any("x")}, "y")
                                  .where([](const NetworkDefinition& net, const Layer& l) {
                                    if (!isTranspose(l)) return false;
                                    std::vector<int64_t> p = transposePerm(net, l);
                                    for (size_t i = 0; i < p.size(); ++i)
                                      if (p[i] != static_cast<int64_t>(i)) return false;
                                    return true;
                                  })));
  // Algebraic identities. Exact for every value: x*1, x/1, x-0 return x bit for bit; x+0
  // returns x except that -0 becomes +0 (equal under comparison).
  rules.push_back(forwardRule(
      "mul-by-one", "x * 1 -> x",
      Pattern::binary(ElementwiseKind::kMul, Pattern::any("x"), Pattern::scalar(1), "y")));
  rules.push_back(forwardRule(
      "add-zero", "x + 0 -> x",
      Pattern::binary(ElementwiseKind::kAdd, Pattern::any("x"), Pattern::scalar(0), "y")));
  rules.push_back(forwardRule(
      "sub-zero", "x - 0 -> x",
      Pattern::binary(ElementwiseKind::kSub, Pattern::any("x"), Pattern::scalar(0), "y")));
  rules.push_back(forwardRule(
      "div-by-one", "x / 1 -> x",
      Pattern::binary(ElementwiseKind::kDiv, Pattern::any("x"), Pattern::scalar(1), "y")));

  // transpose(transpose(x, p), q) -> transpose(x, p[q])
  rules.push_back(Rule{
      .name = "merge-transposes",
      .algebra = "transpose(transpose(x, p), q) -> transpose(x, p[q])",
      .pattern =
          Pattern::layer(
              LayerKind::kShuffle,
              {Pattern::layer(LayerKind::kShuffle, {Pattern::any("x")}, "t1")
                   .where([](const NetworkDefinition&, const Layer& l) { return isTranspose(l); })},
              "y")
              .where([](const NetworkDefinition&, const Layer& l) { return isTranspose(l); }),
      .guard = [](const RuleContext& c,
                  const Match& m) { return c.net.tensor(m.tensor("x")).shapeKnown; },
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        NetworkDefinition& net = rw.net();
        std::vector<int64_t> p = transposePerm(net, net.layer(m.layer("t1")));
        std::vector<int64_t> q = transposePerm(net, net.layer(m.layer("y")));
        std::vector<int64_t> r(q.size());
        for (size_t i = 0; i < q.size(); ++i)
          r[i] = p[static_cast<size_t>(q[i])];
        ShuffleAttrs a;
        a.mode = ShuffleMode::kTranspose;
        a.perm = r;
        KILN_ASSIGN_OR_RETURN(TensorId t, rw.add(net.layer(m.layer("y")).name, a, {m.tensor("x")}));
        return rw.replace(m.tensor("y"), t);
      }});

  // reshape(reshape(x, s1), s2) -> reshape(x, s2), for any two reshape-like shuffles
  rules.push_back(Rule{
      .name = "merge-reshapes",
      .algebra = "reshape(reshape(x, s1), s2) -> reshape(x, s2)",
      .pattern =
          Pattern::layer(LayerKind::kShuffle,
                         {Pattern::layer(LayerKind::kShuffle, {Pattern::any("x")}, "r1")
                              .where([](const NetworkDefinition&, const Layer& l) {
                                return isReshapeLike(l);
                              })},
                         "y")
              .where([](const NetworkDefinition&, const Layer& l) { return isReshapeLike(l); }),
      // The merged reshape states the result's dims explicitly (symbolic ones through a
      // SymbolicConstant shape), so every dim must be a known expression.
      .guard =
          [](const RuleContext& c, const Match& m) {
            const Tensor& y = c.net.tensor(m.tensor("y"));
            return y.shapeKnown && std::all_of(y.shape.begin(), y.shape.end(),
                                               [](const Dim& d) { return d.isKnown(); });
          },
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        NetworkDefinition& net = rw.net();
        const Shape dims = net.tensor(m.tensor("y")).shape;
        KILN_ASSIGN_OR_RETURN(TensorId t,
                              reshapeTo(rw, net.layer(m.layer("y")).name, m.tensor("x"), dims));
        return rw.replace(m.tensor("y"), t);
      }});

  // A transpose applied to batch dims merged and split again is a transpose of the original:
  // reshape(transpose(reshape(x, [b0*..*bm, r..]), [0, p..]), [b0, .., bm, ..])
  //   -> transpose(x, [0, .., m, m + p..])
  rules.push_back(Rule{
      .name = "transpose-through-batch-reshape",
      .algebra = "reshape(transpose(reshape(x, [B, r]), [0, p]), [b.., r']) -> transpose(x, "
                 "[0.., p + m])  if B = b0*..*bm",
      .pattern =
          Pattern::layer(
              LayerKind::kShuffle,
              {Pattern::layer(LayerKind::kShuffle,
                              {Pattern::layer(LayerKind::kShuffle, {Pattern::any("x")}, "r1")
                                   .where([](const NetworkDefinition&, const Layer& l) {
                                     return isReshapeLike(l);
                                   })},
                              "t")
                   .where([](const NetworkDefinition&, const Layer& l) { return isTranspose(l); })},
              "y")
              .where([](const NetworkDefinition&, const Layer& l) { return isReshapeLike(l); }),
      .guard =
          [](const RuleContext& c, const Match& m) {
            const NetworkDefinition& net = c.net;
            const Shape& x = net.tensor(m.tensor("x")).shape;
            const Shape& r1 = net.tensor(m.tensor("r1")).shape;
            const Shape& t = net.tensor(m.tensor("t")).shape;
            const Shape& y = net.tensor(m.tensor("y")).shape;
            std::vector<int64_t> p = transposePerm(net, net.layer(m.layer("t")));
            if (r1.empty() || p.empty() || p[0] != 0 || x.size() < r1.size()) return false;
            // r1 merges x's leading m + 1 dims into one and keeps the rest.
            const size_t m1 = x.size() - r1.size() + 1;
            if (!std::equal(r1.begin() + 1, r1.end(), x.begin() + static_cast<long>(m1)))
              return false;
            // y splits dim 0 back into x's leading dims, up to dims of static size 1 (a
            // sliced-out axis), and keeps the transposed rest.
            if (y.size() < t.size()) return false;
            const size_t ly = y.size() - t.size() + 1;
            if (!std::equal(t.begin() + 1, t.end(), y.begin() + static_cast<long>(ly)))
              return false;
            return dropOnes(Shape(x.begin(), x.begin() + static_cast<long>(m1))) ==
                   dropOnes(Shape(y.begin(), y.begin() + static_cast<long>(ly)));
          },
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        NetworkDefinition& net = rw.net();
        const size_t xr = net.tensor(m.tensor("x")).shape.size();
        const size_t m1 = xr - net.tensor(m.tensor("r1")).shape.size() + 1;
        std::vector<int64_t> p = transposePerm(net, net.layer(m.layer("t")));
        ShuffleAttrs a;
        a.mode = ShuffleMode::kTranspose;
        a.perm.resize(m1);
        std::iota(a.perm.begin(), a.perm.end(), int64_t{0});
        for (size_t i = 1; i < p.size(); ++i)
          a.perm.push_back(p[i] + static_cast<int64_t>(m1) - 1);
        KILN_ASSIGN_OR_RETURN(TensorId t, rw.add(net.layer(m.layer("t")).name, a, {m.tensor("x")}));
        // Leading dims that differ only by ones: one reshape that adds or drops them.
        const Shape y = net.tensor(m.tensor("y")).shape;
        if (!(net.tensor(t).shape == y)) {
          KILN_ASSIGN_OR_RETURN(t, reshapeTo(rw, net.layer(m.layer("y")).name, t, y));
        }
        return rw.replace(m.tensor("y"), t);
      }});
  return rules;
}

}  // namespace kiln
