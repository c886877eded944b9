// kiln — the scalar functions of the elementwise reference kernels (Activation, Unary,
// Elementwise) in one place, so that the fused Pointwise kernel and the epilogues of
// Convolution / MatrixMultiply compute exactly what the unfused layers compute.
#pragma once

#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>

#include "kiln/layers.h"

namespace kiln::ref {

/// Activation f(x) in double (the kernel rounds once to the output type).
inline double activate(ActivationKind kind, double x, double alpha, double beta) {
  switch (kind) {
    case ActivationKind::kRelu:
      return x < 0 ? 0.0 : x;
    case ActivationKind::kClip:
      return x < alpha ? alpha : (x > beta ? beta : x);
    case ActivationKind::kSigmoid:
      // Two forms so that exp never overflows.
      return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
    case ActivationKind::kTanh:
      return std::tanh(x);
    case ActivationKind::kLeakyRelu:
      return x < 0 ? alpha * x : x;
    case ActivationKind::kElu:
      return x < 0 ? alpha * std::expm1(x) : x;
    case ActivationKind::kHardSigmoid:
      return std::fmax(0.0, std::fmin(1.0, alpha * x + beta));
    case ActivationKind::kSoftplus:
      // log(1 + exp(x)), written to stay finite for large |x|.
      return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    case ActivationKind::kGeluErf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case ActivationKind::kGeluTanh: {
      const double k = std::sqrt(2.0 / std::numbers::pi);
      return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
    }
    case ActivationKind::kHardSwish:
      return x * std::fmax(0.0, std::fmin(1.0, x / 6.0 + 0.5));
    case ActivationKind::kSelu:
      return beta * (x < 0 ? alpha * std::expm1(x) : x);
    case ActivationKind::kNone:
      return x;
    case ActivationKind::kSilu:
      return x >= 0 ? x / (1.0 + std::exp(-x)) : x * std::exp(x) / (1.0 + std::exp(x));
    case ActivationKind::kSoftsign:
      return x / (1.0 + std::fabs(x));
    case ActivationKind::kCelu:
      return std::fmax(0.0, x) + std::fmin(0.0, alpha * std::expm1(x / alpha));
    case ActivationKind::kSwish:
      return x * activate(ActivationKind::kSigmoid, alpha * x, 0, 0);
    case ActivationKind::kMish:
      return x * std::tanh(activate(ActivationKind::kSoftplus, x, 0, 0));
    case ActivationKind::kThresholdedRelu:
      return x > alpha ? x : 0.0;
    case ActivationKind::kShrink:
      return x < -alpha ? x + beta : (x > alpha ? x - beta : 0.0);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

/// Rounds half to even independently of the floating-point environment.
inline double roundHalfEven(double x) {
  const double r = std::round(x);  // half away from zero
  if (std::fabs(x - std::trunc(x)) == 0.5) return 2.0 * std::round(x / 2.0);
  return r;
}

/// Parameter-free float unary functions in double.
inline double unaryFloat(UnaryKind kind, double x) {
  switch (kind) {
    case UnaryKind::kIdentity:
      return x;
    case UnaryKind::kNeg:
      return -x;
    case UnaryKind::kAbs:
      return std::fabs(x);
    case UnaryKind::kExp:
      return std::exp(x);
    case UnaryKind::kLog:
      return std::log(x);
    case UnaryKind::kSqrt:
      return std::sqrt(x);
    case UnaryKind::kReciprocal:
      return 1.0 / x;
    case UnaryKind::kErf:
      return std::erf(x);
    case UnaryKind::kCeil:
      return std::ceil(x);
    case UnaryKind::kFloor:
      return std::floor(x);
    case UnaryKind::kRound:
      return roundHalfEven(x);
    case UnaryKind::kSign:
      return std::isnan(x) ? x : (x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0));
    case UnaryKind::kSin:
      return std::sin(x);
    case UnaryKind::kCos:
      return std::cos(x);
    case UnaryKind::kTan:
      return std::tan(x);
    case UnaryKind::kAsin:
      return std::asin(x);
    case UnaryKind::kAcos:
      return std::acos(x);
    case UnaryKind::kAtan:
      return std::atan(x);
    case UnaryKind::kSinh:
      return std::sinh(x);
    case UnaryKind::kCosh:
      return std::cosh(x);
    case UnaryKind::kAsinh:
      return std::asinh(x);
    case UnaryKind::kAcosh:
      return std::acosh(x);
    case UnaryKind::kAtanh:
      return std::atanh(x);
    case UnaryKind::kNot:
    case UnaryKind::kIsNaN:
    case UnaryKind::kIsInf:
    case UnaryKind::kIsPosInf:
    case UnaryKind::kIsNegInf:
    case UnaryKind::kBitwiseNot:
      break;  // not float -> float; handled by the kernel
  }
  return std::numeric_limits<double>::quiet_NaN();
}

/// Two's complement wrapping +, -, * for integers (signed overflow is undefined in C++).
template <class T>
inline T wrapAdd(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(x) + static_cast<U>(y));
  } else {
    return x + y;
  }
}
template <class T>
inline T wrapSub(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(x) - static_cast<U>(y));
  } else {
    return x - y;
  }
}
template <class T>
inline T wrapMul(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(x) * static_cast<U>(y));
  } else {
    return x * y;
  }
}

template <class T>
inline T divide(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    if (y == 0) return 0;
    if constexpr (std::is_signed_v<T>) {
      if (y == -1) return wrapSub<T>(0, x);  // avoids the trap of INT_MIN / -1
    }
    return x / y;  // C++ truncates toward zero, as ONNX requires
  } else {
    return x / y;
  }
}

/// Remainder with the divisor's sign (Python / numpy.mod); integers: x % 0 gives 0.
template <class T>
inline T modulo(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    if (y == 0) return 0;
    if constexpr (std::is_signed_v<T>) {
      if (y == -1) return 0;  // avoids the trap of INT_MIN % -1
      const T r = static_cast<T>(x % y);
      return (r != 0 && ((r < 0) != (y < 0))) ? static_cast<T>(r + y) : r;
    } else {
      return static_cast<T>(x % y);
    }
  } else {
    const T r = std::fmod(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
  }
}

/// Remainder with the dividend's sign (C fmod, truncated division); integers: x % 0 gives 0.
template <class T>
inline T truncatedModulo(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    if (y == 0) return 0;
    if constexpr (std::is_signed_v<T>) {
      if (y == -1) return 0;
    }
    return static_cast<T>(x % y);
  } else {
    return std::fmod(x, y);
  }
}

/// Shifts as unsigned values; a shift by the width or more gives 0 (C++ leaves it undefined).
template <class T>
inline T shiftLeft(T x, T n) {
  using U = std::make_unsigned_t<T>;
  const U count = static_cast<U>(n);
  if (count >= sizeof(T) * 8) return 0;
  return static_cast<T>(static_cast<U>(static_cast<U>(x) << count));
}
template <class T>
inline T shiftRight(T x, T n) {
  using U = std::make_unsigned_t<T>;
  const U count = static_cast<U>(n);
  if (count >= sizeof(T) * 8) return 0;
  return static_cast<T>(static_cast<U>(x) >> count);
}

template <class T>
inline T maximum(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<T>::quiet_NaN();
  }
  return x < y ? y : x;
}

template <class T>
inline T minimum(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<T>::quiet_NaN();
  }
  return y < x ? y : x;
}

/// A double result stored as T: saturating and NaN -> 0 for integers.
template <class T>
inline T fromDouble(double v) {
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return 0;
    if (v <= static_cast<double>(std::numeric_limits<T>::min()))
      return std::numeric_limits<T>::min();
    if (v >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
  }
  return static_cast<T>(v);
}

/// x^e in the base's type; f32^f32 in float, everything else through double.
template <class A, class B>
inline A power(A x, B e) {
  if constexpr (std::is_same_v<A, float> && std::is_same_v<B, float>) {
    return std::pow(x, e);
  } else {
    return fromDouble<A>(std::pow(static_cast<double>(x), static_cast<double>(e)));
  }
}

}  // namespace kiln::ref
