// kiln — reshapes sunk through the layers they surround: a matrix multiply of rows that were
// flattened out of a batch and unflattened again works on the batch directly. Exact: every
// row is the same dot products.
#include "passes/rule_util.h"
#include "passes/rules.h"

namespace kiln {

namespace {

bool isReshapeLike(const NetworkDefinition&, const Layer& l) {
  return l.kind() == LayerKind::kShuffle && l.as<ShuffleAttrs>().mode != ShuffleMode::kTranspose;
}

}  // namespace

std::vector<Rule> reshapeRules() {
  // reshape(matmul(reshape(x, [P, K]), B, c), [b.., N]) -> matmul(x, B, c)
  //   when x is [b.., K], B is 2-D and c a per-column bias
  return {Rule{
      .name = "matmul-through-flatten",
      .algebra = "reshape(matmul(reshape(x, [P, K]), B, c), [b.., N]) -> matmul(x, B, c)  if x "
                 "is [b.., K]",
      .pattern = Pattern::layer(
                     LayerKind::kShuffle,
                     {Pattern::layer(LayerKind::kMatrixMultiply,
                                     {Pattern::layer(LayerKind::kShuffle, {Pattern::any("x")}, "r1")
                                          .where(isReshapeLike)},
                                     "mm")},
                     "y")
                     .where(isReshapeLike),
      .guard =
          [](const RuleContext& c, const Match& m) {
            const NetworkDefinition& net = c.net;
            const Layer& mm = net.layer(m.layer("mm"));
            const auto& a = mm.as<MatrixMultiplyAttrs>();
            const Shape& x = net.tensor(m.tensor("x")).shape;
            const Shape& r1 = net.tensor(m.tensor("r1")).shape;
            const Shape& out = net.tensor(mm.outputs[0]).shape;
            const Shape& y = net.tensor(m.tensor("y")).shape;
            if (a.transA || a.residual != ResidualMode::kNone || x.size() < 2 || r1.size() != 2 ||
                out.size() != 2 || net.tensor(mm.inputs[1]).shape.size() != 2)
              return false;
            if (mm.inputs.size() > 2 && mm.inputs[2] != kNoTensor &&
                net.tensor(mm.inputs[2]).shape.size() > 1)
              return false;
            if (!(r1[1] == x.back())) return false;
            Shape expect(x.begin(), x.end() - 1);
            expect.push_back(out[1]);
            return y == expect;
          },
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        NetworkDefinition& net = rw.net();
        const Layer mm = net.layer(m.layer("mm"));
        std::vector<TensorId> ins = mm.inputs;
        ins[0] = m.tensor("x");
        KILN_ASSIGN_OR_RETURN(TensorId t, rw.add(mm.name, mm.attrs, ins));
        return rw.replace(m.tensor("y"), t);
      }}};
}

}  // namespace kiln
