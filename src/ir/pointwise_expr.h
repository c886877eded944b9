// kiln — the expression of a Pointwise layer (PointwiseAttrs::expression): parsing, printing
// and typing. Shared by shape inference, the elementwise-fusion rule that writes expressions
// and the kernels that evaluate them.
//
// Grammar (whitespace ignored):
//   term    := "x" index | literal | name "(" term ("," term)* ")"
//   name    := a UnaryKind name ("erf") | an ElementwiseKind name ("add")
//            | an ActivationKind name, with exactly three terms: input, alpha, beta
//            | "where" (three terms) | "cast_" dtype ("cast_f32")
//   literal := a float32 number as strtof reads it ("0.5", "-inf", "1e-05")
// Node dtypes: inputs have their tensor's dtype, literals are f32, each operation gives what
// the single layer would (comparisons give bool). Only f32, f64 and bool are allowed, so every
// value of a node is exact in a double.
#pragma once

#include <string>
#include <vector>

#include "kiln/layers.h"
#include "kiln/status.h"

namespace kiln::pointwise {

/// One node of an expression; `args` index earlier nodes.
struct Node {
  enum class Op { kInput, kLiteral, kUnary, kBinary, kActivation, kSelect, kCast };
  Op op = Op::kInput;
  int input = 0;         ///< kInput
  float literal = 0.0f;  ///< kLiteral
  UnaryKind unary = UnaryKind::kIdentity;
  ElementwiseKind binary = ElementwiseKind::kAdd;
  ActivationKind activation = ActivationKind::kNone;
  float alpha = 0.0f, beta = 0.0f;  ///< kActivation
  DataType castTo = DataType::kFloat32;
  std::vector<int> args;
};

/// A parsed expression: nodes in evaluation order (arguments first); the last is the result.
struct Expr {
  std::vector<Node> nodes;
  /// Number of inputs referenced (1 + the largest input index).
  int inputCount() const;
};

/// Parses `text`; errors say where and what was expected.
Expected<Expr> parse(const std::string& text);
/// The canonical text of `e` (parse(print(e)) == e).
std::string print(const Expr& e);
/// The text of node `n` of `e` (the subterm rooted there).
std::string printNode(const Expr& e, int n);
/// The dtype of every node for inputs of `inputTypes`; an error names the node and the types
/// it cannot take.
Expected<std::vector<DataType>> typeCheck(const Expr& e, const std::vector<DataType>& inputTypes);

}  // namespace kiln::pointwise
