// ONNX linear algebra ops: Det -> Determinant, Einsum -> Einsum (the equation parsed here into
// label lists, ellipses expanded with the inputs' ranks).
#include <algorithm>
#include <map>

#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

/// Label ids: a-z 0-25, A-Z 26-51; ellipsis dims take kEllipsisBase + their position counted
/// from the right (right-aligned, so they broadcast like numpy).
constexpr int64_t kEllipsisBase = 52;

/// One operand of the equation: its letters and where "..." stands (-1: none).
struct Term {
  std::vector<int64_t> letters;
  int64_t ellipsisAt = -1;
};

Expected<Term> parseTerm(const std::string& s) {
  Term t;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= 'a' && c <= 'z') {
      t.letters.push_back(c - 'a');
    } else if (c >= 'A' && c <= 'Z') {
      t.letters.push_back(26 + (c - 'A'));
    } else if (c == '.' && s.compare(i, 3, "...") == 0 && t.ellipsisAt < 0) {
      t.ellipsisAt = static_cast<int64_t>(t.letters.size());
      i += 2;
    } else {
      return invalidModel("equation term '" + s + "' has an unexpected character '" +
                          std::string(1, c) + "'");
    }
  }
  return t;
}

/// Labels of a term whose ellipsis covers `ellipsisRank` dims.
std::vector<int64_t> expand(const Term& t, int64_t ellipsisRank) {
  std::vector<int64_t> out;
  for (size_t i = 0; i <= t.letters.size(); ++i) {
    if (static_cast<int64_t>(i) == t.ellipsisAt)
      for (int64_t j = ellipsisRank; j-- > 0;)
        out.push_back(kEllipsisBase + j);
    if (i < t.letters.size()) out.push_back(t.letters[i]);
  }
  return out;
}

}  // namespace

Status importDet(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  return ctx.addOutputLayer(DeterminantAttrs{}, {x});
}

// Einsum(inputs...; equation): "ij,jk->ik"; without "->" the output is every label used once,
// in alphabetical order, after the ellipsis dims.
Status importEinsum(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string equation, ctx.getString("equation", ""));
  equation.erase(std::remove(equation.begin(), equation.end(), ' '), equation.end());
  const size_t arrow = equation.find("->");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<Term> terms;
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    KILN_ASSIGN_OR_RETURN(Term t, parseTerm(lhs.substr(start, comma - start)));
    terms.push_back(t);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (static_cast<int>(terms.size()) != ctx.numInputs())
    return invalidModel("equation '" + equation + "' names " + std::to_string(terms.size()) +
                        " inputs, the node has " + std::to_string(ctx.numInputs()));
  EinsumAttrs a;
  std::vector<TensorId> inputs;
  int64_t ellipsisRank = 0;
  std::map<int64_t, int> uses;
  for (size_t k = 0; k < terms.size(); ++k) {
    KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(static_cast<int>(k)));
    inputs.push_back(x);
    std::optional<int64_t> rank = ctx.rankOf(x);
    if (!rank) return unsupported("the rank of input #" + std::to_string(k) + " must be known");
    const int64_t letters = static_cast<int64_t>(terms[k].letters.size());
    const int64_t e = terms[k].ellipsisAt >= 0 ? *rank - letters : 0;
    if (e < 0 || (terms[k].ellipsisAt < 0 && *rank != letters))
      return invalidModel("equation term " + std::to_string(k) + " does not fit input #" +
                          std::to_string(k) + " of rank " + std::to_string(*rank));
    ellipsisRank = std::max(ellipsisRank, e);
    for (int64_t l : expand(terms[k], e)) {
      a.inputLabels.push_back(l);
      if (l < kEllipsisBase) ++uses[l];
    }
    a.inputLabels.push_back(-1);
  }
  if (arrow != std::string::npos) {
    KILN_ASSIGN_OR_RETURN(Term out, parseTerm(equation.substr(arrow + 2)));
    for (int64_t l : out.letters)
      if (!uses.count(l))
        return invalidModel("equation '" + equation + "': an output label is in no input");
    a.outputLabels = expand(out, out.ellipsisAt >= 0 ? ellipsisRank : 0);
  } else {
    for (int64_t j = ellipsisRank; j-- > 0;)
      a.outputLabels.push_back(kEllipsisBase + j);
    // Sorted as characters, as numpy does: A-Z before a-z.
    auto letter = [](int64_t l) { return l < 26 ? 'a' + l : 'A' + (l - 26); };
    std::vector<int64_t> once;
    for (const auto& [l, n] : uses)
      if (n == 1) once.push_back(l);
    std::sort(once.begin(), once.end(),
              [&](int64_t x, int64_t y) { return letter(x) < letter(y); });
    a.outputLabels.insert(a.outputLabels.end(), once.begin(), once.end());
  }
  return ctx.addOutputLayer(a, inputs);
}

}  // namespace kiln::onnx_import
