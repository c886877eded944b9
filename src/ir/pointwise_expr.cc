#include "ir/pointwise_expr.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace kiln::pointwise {

namespace {

template <class E>
std::optional<E> enumByName(const std::string& name) {
  for (int32_t i = 0; i < enumCount<E>(); ++i)
    if (name == enumName(static_cast<E>(i))) return static_cast<E>(i);
  return std::nullopt;
}

std::string literalText(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Expected<Expr> run() {
    Expr e;
    KILN_ASSIGN_OR_RETURN(int root, term(e));
    (void)root;
    skip();
    if (pos_ != s_.size()) return error("unexpected text after the expression");
    if (e.nodes.empty()) return error("empty expression");
    return e;
  }

 private:
  Status error(const std::string& what) const {
    return invalidModel("pointwise expression '" + s_ + "' at offset " + std::to_string(pos_) +
                        ": " + what);
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  std::string name() {
    size_t b = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
      ++pos_;
    return s_.substr(b, pos_ - b);
  }

  Expected<int> term(Expr& e) {
    skip();
    if (pos_ >= s_.size()) return error("a term was expected");
    const char c = s_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.' ||
        ((c == 'i' || c == 'n') && !isCall())) {
      const char* begin = s_.c_str() + pos_;
      char* end = nullptr;
      float v = std::strtof(begin, &end);
      if (end == begin) return error("a number was expected");
      pos_ += static_cast<size_t>(end - begin);
      Node n;
      n.op = Node::Op::kLiteral;
      n.literal = v;
      e.nodes.push_back(n);
      return static_cast<int>(e.nodes.size() - 1);
    }
    size_t at = pos_;
    std::string id = name();
    if (id.empty()) return error("a term was expected");
    skip();
    if (id.size() > 1 && id[0] == 'x' &&
        id.find_first_not_of("0123456789", 1) == std::string::npos) {
      Node n;
      n.op = Node::Op::kInput;
      n.input = std::atoi(id.c_str() + 1);
      e.nodes.push_back(n);
      return static_cast<int>(e.nodes.size() - 1);
    }
    if (pos_ >= s_.size() || s_[pos_] != '(') return error("'(' expected after '" + id + "'");
    ++pos_;
    std::vector<int> args;
    while (true) {
      KILN_ASSIGN_OR_RETURN(int a, term(e));
      args.push_back(a);
      skip();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ')') {
        ++pos_;
        break;
      }
      return error("',' or ')' expected");
    }
    Node n;
    n.args = args;
    auto arity = [&](size_t k) -> Status {
      if (args.size() == k) return Status::ok();
      pos_ = at;
      return error("'" + id + "' takes " + std::to_string(k) + " terms, found " +
                   std::to_string(args.size()));
    };
    if (auto u = enumByName<UnaryKind>(id)) {
      KILN_RETURN_IF_ERROR(arity(1));
      n.op = Node::Op::kUnary;
      n.unary = *u;
    } else if (auto b = enumByName<ElementwiseKind>(id)) {
      KILN_RETURN_IF_ERROR(arity(2));
      n.op = Node::Op::kBinary;
      n.binary = *b;
    } else if (auto a = enumByName<ActivationKind>(id)) {
      KILN_RETURN_IF_ERROR(arity(3));
      const Node& al = e.nodes[static_cast<size_t>(args[1])];
      const Node& be = e.nodes[static_cast<size_t>(args[2])];
      if (al.op != Node::Op::kLiteral || be.op != Node::Op::kLiteral)
        return error("the alpha and beta of '" + id + "' must be numbers");
      n.op = Node::Op::kActivation;
      n.activation = *a;
      n.alpha = al.literal;
      n.beta = be.literal;
      // alpha and beta are attributes of the node, not operands.
      e.nodes.resize(static_cast<size_t>(args[1]));
      n.args = {args[0]};
    } else if (id == "where") {
      KILN_RETURN_IF_ERROR(arity(3));
      n.op = Node::Op::kSelect;
    } else if (id.rfind("cast_", 0) == 0) {
      KILN_RETURN_IF_ERROR(arity(1));
      auto t = parseDataType(id.substr(5));
      if (!t) return error("unknown dtype in '" + id + "'");
      n.op = Node::Op::kCast;
      n.castTo = *t;
    } else {
      pos_ = at;
      return error("unknown operation '" + id + "'");
    }
    e.nodes.push_back(n);
    return static_cast<int>(e.nodes.size() - 1);
  }

  /// "inf" / "nan" are numbers unless a '(' follows a longer name ("isnan(").
  bool isCall() const {
    size_t p = pos_;
    while (p < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[p])) || s_[p] == '_'))
      ++p;
    std::string id = s_.substr(pos_, p - pos_);
    return !(id == "inf" || id == "nan");
  }

  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

int Expr::inputCount() const {
  int n = 0;
  for (const Node& x : nodes)
    if (x.op == Node::Op::kInput) n = std::max(n, x.input + 1);
  return n;
}

Expected<Expr> parse(const std::string& text) {
  return Parser(text).run();
}

std::string printNode(const Expr& e, int n) {
  const Node& x = e.nodes.at(static_cast<size_t>(n));
  auto call = [&](const std::string& name, const std::vector<std::string>& extra = {}) {
    std::string s = name + "(";
    for (size_t i = 0; i < x.args.size(); ++i)
      s += (i ? ", " : "") + printNode(e, x.args[i]);
    for (const std::string& a : extra)
      s += ", " + a;
    return s + ")";
  };
  switch (x.op) {
    case Node::Op::kInput:
      return "x" + std::to_string(x.input);
    case Node::Op::kLiteral:
      return literalText(x.literal);
    case Node::Op::kUnary:
      return call(enumName(x.unary));
    case Node::Op::kBinary:
      return call(enumName(x.binary));
    case Node::Op::kActivation:
      return call(enumName(x.activation), {literalText(x.alpha), literalText(x.beta)});
    case Node::Op::kSelect:
      return call("where");
    case Node::Op::kCast:
      return call(std::string("cast_") + dataTypeName(x.castTo));
  }
  return "?";
}

std::string print(const Expr& e) {
  return e.nodes.empty() ? std::string() : printNode(e, static_cast<int>(e.nodes.size() - 1));
}

Expected<std::vector<DataType>> typeCheck(const Expr& e, const std::vector<DataType>& inputTypes) {
  std::vector<DataType> t(e.nodes.size(), DataType::kFloat32);
  auto allowed = [](DataType d) {
    return d == DataType::kFloat32 || d == DataType::kFloat64 || d == DataType::kBool;
  };
  auto isFloat = [](DataType d) { return d == DataType::kFloat32 || d == DataType::kFloat64; };
  for (size_t i = 0; i < e.nodes.size(); ++i) {
    const Node& n = e.nodes[i];
    auto bad = [&](const std::string& why) {
      return invalidModel("pointwise term '" + printNode(e, static_cast<int>(i)) + "': " + why);
    };
    std::vector<DataType> a;
    for (int k : n.args) {
      if (k < 0 || static_cast<size_t>(k) >= i) return bad("refers to a later node");
      a.push_back(t[static_cast<size_t>(k)]);
    }
    switch (n.op) {
      case Node::Op::kInput:
        if (n.input < 0 || static_cast<size_t>(n.input) >= inputTypes.size())
          return bad("input x" + std::to_string(n.input) + " does not exist (" +
                     std::to_string(inputTypes.size()) + " inputs)");
        t[i] = inputTypes[static_cast<size_t>(n.input)];
        break;
      case Node::Op::kLiteral:
        t[i] = DataType::kFloat32;
        break;
      case Node::Op::kUnary:
        if (n.unary == UnaryKind::kNot) {
          if (a[0] != DataType::kBool) return bad("expects bool");
          t[i] = DataType::kBool;
        } else if (n.unary == UnaryKind::kBitwiseNot) {
          return bad("is an integer operation, not fused");
        } else if (n.unary == UnaryKind::kIsNaN || n.unary == UnaryKind::kIsInf ||
                   n.unary == UnaryKind::kIsPosInf || n.unary == UnaryKind::kIsNegInf) {
          if (!isFloat(a[0])) return bad("expects a float");
          t[i] = DataType::kBool;
        } else {
          if (!isFloat(a[0])) return bad("expects a float");
          t[i] = a[0];
        }
        break;
      case Node::Op::kBinary:
        if (a[0] != a[1])
          return bad(std::string("operands have different dtypes (") + dataTypeName(a[0]) + ", " +
                     dataTypeName(a[1]) + ")");
        switch (n.binary) {
          case ElementwiseKind::kAnd:
          case ElementwiseKind::kOr:
          case ElementwiseKind::kXor:
            if (a[0] != DataType::kBool) return bad("expects bool");
            t[i] = DataType::kBool;
            break;
          case ElementwiseKind::kEqual:
            t[i] = DataType::kBool;
            break;
          case ElementwiseKind::kBitShiftLeft:
          case ElementwiseKind::kBitShiftRight:
          case ElementwiseKind::kBitwiseAnd:
          case ElementwiseKind::kBitwiseOr:
          case ElementwiseKind::kBitwiseXor:
            return bad("is an integer operation, not fused");
          case ElementwiseKind::kLess:
          case ElementwiseKind::kLessOrEqual:
          case ElementwiseKind::kGreater:
          case ElementwiseKind::kGreaterOrEqual:
            if (!isFloat(a[0])) return bad("expects floats");
            t[i] = DataType::kBool;
            break;
          default:
            if (!isFloat(a[0])) return bad("expects floats");
            t[i] = a[0];
        }
        break;
      case Node::Op::kActivation:
        if (!isFloat(a[0])) return bad("expects a float");
        t[i] = a[0];
        break;
      case Node::Op::kSelect:
        if (a[0] != DataType::kBool) return bad("condition must be bool");
        if (a[1] != a[2]) return bad("branches have different dtypes");
        t[i] = a[1];
        break;
      case Node::Op::kCast:
        t[i] = n.castTo;
        break;
    }
    if (!allowed(t[i]) || (n.op == Node::Op::kCast && !allowed(a[0])))
      return bad(std::string("dtype ") + dataTypeName(t[i]) +
                 " (pointwise expressions take f32, f64 and bool)");
  }
  return t;
}

}  // namespace kiln::pointwise
