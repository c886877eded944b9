// kiln — the cuda backend's device tactics: cuBLASLt matrix multiply, convolution (cuDNN,
// cuBLASLt for 1x1 and a direct kernel; the builder times those that apply), and our own kernels
// for elementwise, fused Pointwise expressions, activation, unary, casts, softmax, layer
// normalization, pooling, shuffle and concatenation. Each tactic's supports() says exactly what it
// runs; anything else goes to the host fallback (cuda_backend.cc).
//
// Variants: most tactics exist once per storage type (".f32", ".f16", ".bf16": the layer's float
// tensors all of that type, arithmetic in fp32), and the library products also as ".tf32"
// (fp32 tensors, tensor-core products on TF32-rounded operands), which the builder offers only
// when the precision allows it (LayerDesc::allowTf32).
#include <algorithm>
#include <cstring>
#include <limits>

#if KILN_HAVE_CUDNN
#include <cudnn.h>
#endif

#include "backends/cuda/cuda_backend.h"
#include "backends/reference/kernel_util.h"  // makeWindow3: pooling geometry, shared with the oracle
#include "ir/pointwise_expr.h"

namespace kiln::cuda {
namespace {

/// Which variant of a tactic: the storage of its float tensors, and TF32 products.
struct Variant {
  Storage storage = Storage::kF32;
  bool tf32 = false;
};
constexpr Variant kF32{Storage::kF32, false};
constexpr Variant kTF32{Storage::kF32, true};
constexpr Variant kF16{Storage::kF16, false};
constexpr Variant kBF16{Storage::kBF16, false};

DataType dtypeOf(Storage s) {
  return s == Storage::kF16    ? DataType::kFloat16
         : s == Storage::kBF16 ? DataType::kBFloat16
                               : DataType::kFloat32;
}

/// "f32", "tf32", "f16", "bf16": the last part of a variant's tactic name.
std::string suffix(Variant v) {
  if (v.tf32) return "tf32";
  return v.storage == Storage::kF16 ? "f16" : v.storage == Storage::kBF16 ? "bf16" : "f32";
}

/// Ok when every present input and every output is stored as the variant says (and TF32 is
/// allowed where the variant uses it).
Status storedAs(const LayerDesc& d, Variant v, const std::string& tactic) {
  const DataType t = dtypeOf(v.storage);
  bool ok = true;
  for (size_t k = 0; k < d.inputs.size(); ++k)
    ok = ok && !(d.hasInput(k) && d.inputs[k].dtype != t);
  for (const TensorDesc& o : d.outputs)
    ok = ok && o.dtype == t;
  if (!ok)
    return unsupported(tactic + " runs " + dataTypeName(t) + " tensors only (layer '" + d.name() +
                       "')");
  if (v.tf32 && !d.allowTf32)
    return unsupported(tactic + ": TF32 products are not allowed at this precision (fp32)");
  return Status::ok();
}

cudaDataType_t cudaType(Storage s) {
  return s == Storage::kF16 ? CUDA_R_16F : s == Storage::kBF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/// Base of the device kernels: a copy of the layer's attributes, the shapes of the last
/// reshape and the pointers of the last setup.
template <class Attrs>
class DeviceKernel : public Kernel {
 public:
  DeviceKernel(const LayerDesc& d, Variant v)
      : attrs_(d.layer->as<Attrs>()), name_(d.name()), v_(v) {
    present_ = d.inputPresent;
  }
  /// Every device kernel only enqueues on the stream what setup() fixed: graphs can replay it.
  bool capturable() const override { return true; }

 protected:
  Status onReshape(const std::vector<TensorDesc>& inputs,
                   const std::vector<TensorDesc>& outputs) override {
    in_ = inputs;
    out_ = outputs;
    return reshaped();
  }
  Status onSetup(const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
                 void* workspace) override {
    inPtr_ = inputs;
    outPtr_ = outputs;
    workspace_ = workspace;
    return Status::ok();
  }
  virtual Status reshaped() { return Status::ok(); }
  const void* in(size_t k) const { return k < inPtr_.size() ? inPtr_[k] : nullptr; }
  void* out(size_t k) const { return outPtr_[k]; }
  bool has(size_t k) const { return k < present_.size() && present_[k] && in(k) != nullptr; }
  Status error(const std::string& m) const { return internalError("layer '" + name_ + "': " + m); }
  Status launched(cudaError_t e) const { return check(e, "layer '" + name_ + "'"); }

  Attrs attrs_;
  std::string name_;
  Variant v_;
  std::vector<bool> present_;
  std::vector<TensorDesc> in_, out_;
  std::vector<const void*> inPtr_;
  std::vector<void*> outPtr_;
  void* workspace_ = nullptr;
};

/// A tactic from two functions: what it supports, and the kernel it creates.
template <class K>
class SimpleTactic final : public Tactic {
 public:
  using SupportsFn = Status (*)(const LayerDesc&, const std::string&, Variant);
  SimpleTactic(std::string name, LayerKind kind, SupportsFn supports, Variant v = kF32)
      : name_(std::move(name)), kind_(kind), supports_(supports), v_(v) {}
  const std::string& name() const override { return name_; }
  LayerKind kind() const override { return kind_; }
  Status supports(const LayerDesc& d) const override {
    if (d.kind() != kind_) return unsupported(name_ + ": wrong layer kind");
    return supports_(d, name_, v_);
  }
  /// A plan that names a .tf32 tactic chose it when TF32 was allowed: creating its kernel (at
  /// load time, where LayerDesc::allowTf32 is not stored) checks what the kernel runs, not the
  /// build's permission.
  Expected<std::unique_ptr<Kernel>> create(const LayerDesc& d) const override {
    LayerDesc runnable = d;
    runnable.allowTf32 = true;
    KILN_RETURN_IF_ERROR(supports(runnable));
    return std::unique_ptr<Kernel>(new K(d, v_));
  }

 private:
  std::string name_;
  LayerKind kind_;
  SupportsFn supports_;
  Variant v_;
};

/// The epilogue of a Convolution or MatrixMultiply layer: its activation, and its residual
/// (input 3, when present) read element by element or, when it broadcasts to the output,
/// through an index.
template <class Attrs>
Status makeEpilogue(const Attrs& a, const std::vector<bool>& present,
                    const std::vector<TensorDesc>& in, const Dims& y, EpilogueArgs* e) {
  *e = EpilogueArgs{};
  e->activation = a.activation;
  e->alpha = a.activationAlpha;
  e->beta = a.activationBeta;
  const bool hasResidual = present.size() > 3 && present[3] && in.size() > 3;
  e->residual = hasResidual ? a.residual : ResidualMode::kNone;
  if (hasResidual && in[3].dims != y) {
    const Dims& r = in[3].dims;
    if (!broadcastIndex(r, y, &e->residualIndex))
      return unsupported("the residual " + dimsToString(r) + " does not broadcast to the output " +
                         dimsToString(y) + " within " + std::to_string(kMaxRank) + " merged dims");
    e->residualBroadcasts = true;
  }
  return Status::ok();
}

/// Whether the layer's residual (if any) is one the epilogue reads.
template <class Attrs>
Status supportsResidual(const LayerDesc& d, const std::string& name) {
  EpilogueArgs e;
  Status s = makeEpilogue(d.layer->as<Attrs>(), d.inputPresent, d.inputs, d.outputs[0].dims, &e);
  return s.isOk() ? s : unsupported(name + ": " + s.message());
}

// ---- Activation, Unary ---------------------------------------------------------------------

class ActivationKernel final : public DeviceKernel<ActivationAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  Status onRun(Stream& s) override {
    return launched(launchActivation(attrs_.kind, attrs_.alpha, attrs_.beta, in(0), out(0),
                                     volume(out_[0].dims), v_.storage, nativeStream(s)));
  }
};

Status supportsActivation(const LayerDesc& d, const std::string& name, Variant v) {
  return storedAs(d, v, name);
}

class UnaryKernel final : public DeviceKernel<UnaryAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  Status onRun(Stream& s) override {
    return launched(
        launchUnary(attrs_.kind, in(0), out(0), volume(out_[0].dims), v_.storage, nativeStream(s)));
  }
};

Status supportsUnary(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(storedAs(d, v, name));
  const UnaryKind k = d.layer->as<UnaryAttrs>().kind;
  if (!unarySupported(k)) return unsupported(name + " has no kernel for " + enumName(k));
  return Status::ok();
}

// ---- Cast between the float storage types --------------------------------------------------

bool floatStorage(DataType t, Storage* s) {
  switch (t) {
    case DataType::kFloat32:
      *s = Storage::kF32;
      return true;
    case DataType::kFloat16:
      *s = Storage::kF16;
      return true;
    case DataType::kBFloat16:
      *s = Storage::kBF16;
      return true;
    default:
      return false;
  }
}

class CastKernel final : public DeviceKernel<CastAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  Status reshaped() override {
    if (!floatStorage(in_[0].dtype, &from_) || !floatStorage(out_[0].dtype, &to_))
      return error("cast between types other than f32, f16 and bf16");
    return Status::ok();
  }
  Status onRun(Stream& s) override {
    return launched(launchCast(in(0), from_, out(0), to_, volume(out_[0].dims), nativeStream(s)));
  }

 private:
  Storage from_ = Storage::kF32, to_ = Storage::kF32;
};

Status supportsCast(const LayerDesc& d, const std::string& name, Variant) {
  Storage a, b;
  if (d.inputs.size() != 1 || !floatStorage(d.inputs[0].dtype, &a) ||
      !floatStorage(d.outputs[0].dtype, &b))
    return unsupported(name + " converts between f32, f16 and bf16 only");
  return Status::ok();
}

// ---- Elementwise (binary, broadcasting) ----------------------------------------------------

class ElementwiseKernel final : public DeviceKernel<ElementwiseAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  Status reshaped() override {
    if (!broadcastIndex(in_[0].dims, out_[0].dims, &ai_) ||
        !broadcastIndex(in_[1].dims, out_[0].dims, &bi_))
      return error("inputs do not broadcast to the output within " + std::to_string(kMaxRank) +
                   " merged dims");
    return Status::ok();
  }
  Status onRun(Stream& s) override {
    return launched(launchBinary(attrs_.kind, in(0), ai_, in(1), bi_, out(0), volume(out_[0].dims),
                                 v_.storage, nativeStream(s)));
  }

 private:
  StridedIndex ai_, bi_;
};

Status supportsElementwise(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(storedAs(d, v, name));
  const ElementwiseKind k = d.layer->as<ElementwiseAttrs>().kind;
  if (!binarySupported(k)) return unsupported(name + " has no kernel for " + enumName(k));
  if (d.inputs.size() != 2) return unsupported(name + " takes two inputs");
  StridedIndex ix;
  if (!broadcastIndex(d.inputs[0].dims, d.outputs[0].dims, &ix) ||
      !broadcastIndex(d.inputs[1].dims, d.outputs[0].dims, &ix))
    return unsupported(name + ": the broadcast needs more than 8 merged dims");
  return Status::ok();
}

// ---- Pointwise (a fused elementwise expression) ----------------------------------------------

/// The device program of a Pointwise layer whose tensors are all stored as the variant says
/// (evaluated in fp32); an error says what the device cannot evaluate (an f64 node, a cast to
/// another type, an operation, the size).
Expected<PointwiseProgram> compilePointwise(const LayerDesc& d, const std::string& tactic,
                                            Variant v) {
  KILN_RETURN_IF_ERROR(storedAs(d, v, tactic));
  KILN_ASSIGN_OR_RETURN(pointwise::Expr e,
                        pointwise::parse(d.layer->as<PointwiseAttrs>().expression));
  const std::vector<DataType> inTypes(d.inputs.size(), DataType::kFloat32);
  KILN_ASSIGN_OR_RETURN(std::vector<DataType> types, pointwise::typeCheck(e, inTypes));
  if (e.nodes.empty() || e.nodes.size() > static_cast<size_t>(kMaxPointwiseSteps))
    return unsupported(tactic + " evaluates 1 to " + std::to_string(kMaxPointwiseSteps) +
                       " nodes, not " + std::to_string(e.nodes.size()));
  if (d.inputs.size() > static_cast<size_t>(kMaxPointwiseInputs) ||
      e.inputCount() > static_cast<int>(d.inputs.size()))
    return unsupported(tactic + " reads up to " + std::to_string(kMaxPointwiseInputs) +
                       " inputs, each present");
  PointwiseProgram p;
  p.steps = static_cast<int>(e.nodes.size());
  p.inputs = static_cast<int>(d.inputs.size());
  for (size_t i = 0; i < e.nodes.size(); ++i) {
    const pointwise::Node& n = e.nodes[i];
    if (types[i] == DataType::kFloat64)
      return unsupported(tactic + " computes in fp32 and bool; '" +
                         pointwise::printNode(e, static_cast<int>(i)) + "' is f64");
    PointwiseStep& st = p.step[i];
    for (size_t k = 0; k < n.args.size() && k < 3; ++k)
      st.arg[k] = static_cast<int8_t>(n.args[k]);
    using Op = pointwise::Node::Op;
    switch (n.op) {
      case Op::kInput:
        if (!d.hasInput(static_cast<size_t>(n.input)))
          return unsupported(tactic + ": input " + std::to_string(n.input) + " is absent");
        st.op = PointwiseStep::kInput;
        st.kind = n.input;
        break;
      case Op::kLiteral:
        st.op = PointwiseStep::kLiteral;
        st.value = n.literal;
        break;
      case Op::kUnary:
        if (!pointwiseUnarySupported(n.unary))
          return unsupported(tactic + " has no kernel for " + enumName(n.unary));
        st.op = PointwiseStep::kUnary;
        st.kind = static_cast<int32_t>(n.unary);
        break;
      case Op::kBinary:
        if (!pointwiseBinarySupported(n.binary))
          return unsupported(tactic + " has no kernel for " + enumName(n.binary));
        st.op = PointwiseStep::kBinary;
        st.kind = static_cast<int32_t>(n.binary);
        break;
      case Op::kActivation:
        st.op = PointwiseStep::kActivation;
        st.kind = static_cast<int32_t>(n.activation);
        st.alpha = n.alpha;
        st.beta = n.beta;
        break;
      case Op::kSelect:
        st.op = PointwiseStep::kSelect;
        break;
      case Op::kCast:  // f32 and bool are both held as floats: only a cast to bool changes them
        if (n.castTo == DataType::kBool) {
          st.op = PointwiseStep::kToBool;
        } else if (n.castTo == DataType::kFloat32) {
          st.op = PointwiseStep::kUnary;
          st.kind = static_cast<int32_t>(UnaryKind::kIdentity);
        } else {
          return unsupported(tactic + " cannot cast to " + dataTypeName(n.castTo));
        }
        break;
    }
  }
  return p;
}

class PointwiseKernel final : public DeviceKernel<PointwiseAttrs> {
 public:
  PointwiseKernel(const LayerDesc& d, Variant v) : DeviceKernel(d, v) {
    auto p = compilePointwise(d, "cuda.pointwise", v);  // create() has checked it compiles
    if (p) program_ = *p;
  }
  Status reshaped() override {
    if (program_.steps == 0) return error("the expression did not compile");
    for (int k = 0; k < program_.inputs; ++k)
      if (!broadcastIndex(in_[static_cast<size_t>(k)].dims, out_[0].dims, &program_.index[k]))
        return error("input " + std::to_string(k) + " " +
                     dimsToString(in_[static_cast<size_t>(k)].dims) + " does not broadcast to " +
                     dimsToString(out_[0].dims) + " within " + std::to_string(kMaxRank) +
                     " merged dims");
    return Status::ok();
  }
  Status onRun(Stream& s) override {
    for (int k = 0; k < program_.inputs; ++k)
      program_.in[k] = in(static_cast<size_t>(k));
    return launched(
        launchPointwise(program_, out(0), volume(out_[0].dims), v_.storage, nativeStream(s)));
  }

 private:
  PointwiseProgram program_;
};

Status supportsPointwise(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(compilePointwise(d, name, v).status());
  StridedIndex ix;
  for (const TensorDesc& t : d.inputs)
    if (!broadcastIndex(t.dims, d.outputs[0].dims, &ix))
      return unsupported(name + ": the broadcast needs more than 8 merged dims");
  return Status::ok();
}

// ---- Pooling -------------------------------------------------------------------------------

/// The device arguments of a pooling layer over x and y: the same geometry as the reference.
Expected<PoolArgs> poolArgs(const LayerDesc& d, const Dims& x, const Dims& y) {
  if (x.size() < 3 || x.size() > 5 || y.size() != x.size() || y[0] != x[0] || y[1] != x[1])
    return unsupported("pooling of x" + dimsToString(x) + " to y" + dimsToString(y) +
                       " (x[N, C, 1 to 3 spatial dims], y of the same N and C)");
  const auto& a = d.layer->as<PoolingAttrs>();
  const Dims inSpatial(x.begin() + 2, x.end());
  const Dims outSpatial(y.begin() + 2, y.end());
  ConcreteWindow g;
  if (a.global) {
    g.kernel = inSpatial;
  } else {
    KILN_ASSIGN_OR_RETURN(
        g, resolveConcreteWindow(d, a.kernelShape, a.strides, a.dilations, a.padsBegin, a.padsEnd,
                                 a.padding, a.ceilMode, x));
  }
  KILN_ASSIGN_OR_RETURN(ref::Window3 w, ref::makeWindow3(d, g, inSpatial, outSpatial));
  PoolArgs p;
  p.planes = x[0] * x[1];
  for (int k = 0; k < 3; ++k) {
    const size_t i = static_cast<size_t>(k);
    p.in[k] = w.in[i];
    p.out[k] = w.out[i];
    p.kernel[k] = w.kernel[i];
    p.stride[k] = w.stride[i];
    p.dilation[k] = w.dilation[i];
    p.padBegin[k] = w.padBegin[i];
    p.padEnd[k] = w.padEnd[i];
  }
  p.isMax = a.kind == PoolingKind::kMax;
  p.countIncludePad = a.countIncludePad;
  return p;
}

class PoolingKernel final : public DeviceKernel<PoolingAttrs> {
 public:
  PoolingKernel(const LayerDesc& d, Variant v) : DeviceKernel(d, v), layer_(*d.layer) {
    desc_ = d;
    desc_.layer = &layer_;
  }
  Status reshaped() override {
    KILN_ASSIGN_OR_RETURN(args_, poolArgs(desc_, in_[0].dims, out_[0].dims));
    return Status::ok();
  }
  Status onRun(Stream& s) override {
    return launched(launchPool(args_, in(0), out(0), v_.storage, nativeStream(s)));
  }

 private:
  Layer layer_;  // the copy desc_ points at
  LayerDesc desc_;
  PoolArgs args_;
};

Status supportsPooling(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(storedAs(d, v, name));
  auto p = poolArgs(d, d.inputs[0].dims, d.outputs[0].dims);
  if (!p) return unsupported(name + ": " + p.status().message());
  return Status::ok();
}

// ---- Softmax, Normalization ----------------------------------------------------------------

/// [outer, axis, inner] of `dims` around `axis`.
void splitAround(const Dims& dims, int64_t axis, int64_t* outer, int64_t* mid, int64_t* inner) {
  *outer = *mid = *inner = 1;
  for (int64_t k = 0; k < static_cast<int64_t>(dims.size()); ++k)
    (k < axis ? *outer : k == axis ? *mid : *inner) *= dims[static_cast<size_t>(k)];
}

class SoftmaxKernel final : public DeviceKernel<SoftmaxAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  Status reshaped() override {
    const int64_t rank = static_cast<int64_t>(in_[0].dims.size());
    int64_t axis = attrs_.axis < 0 ? attrs_.axis + rank : attrs_.axis;
    if (rank == 0) axis = 0;
    if (axis < 0 || (rank > 0 && axis >= rank)) return error("softmax axis out of range");
    splitAround(in_[0].dims, axis, &outer_, &axis_, &inner_);
    return Status::ok();
  }
  Status onRun(Stream& s) override {
    return launched(launchSoftmax(in(0), out(0), outer_, axis_, inner_, attrs_.log, v_.storage,
                                  nativeStream(s)));
  }

 private:
  int64_t outer_ = 1, axis_ = 1, inner_ = 1;
};

Status supportsSoftmax(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(storedAs(d, v, name));
  if (d.layer->as<SoftmaxAttrs>().hard) return unsupported(name + " has no hardmax kernel");
  return Status::ok();
}

class NormalizationKernel final : public DeviceKernel<NormalizationAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  Status reshaped() override {
    const int64_t rank = static_cast<int64_t>(in_[0].dims.size());
    const int64_t axis = attrs_.axis < 0 ? attrs_.axis + rank : attrs_.axis;
    if (axis < 0 || axis > rank) return error("normalization axis out of range");
    rows_ = cols_ = 1;
    for (int64_t k = 0; k < rank; ++k)
      (k < axis ? rows_ : cols_) *= in_[0].dims[static_cast<size_t>(k)];
    const bool bias = present_.size() > 2 && present_[2];
    if (volume(in_[1].dims) != cols_ || (bias && volume(in_[2].dims) != cols_))
      return error("scale and bias must have one value per normalized element");
    return Status::ok();
  }
  Status onRun(Stream& s) override {
    return launched(launchLayerNorm(in(0), in(1), has(2) ? in(2) : nullptr, out(0), rows_, cols_,
                                    attrs_.epsilon, attrs_.rms, v_.storage, nativeStream(s)));
  }

 private:
  int64_t rows_ = 1, cols_ = 1;
};

Status supportsNormalization(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(storedAs(d, v, name));
  if (d.inputs.size() < 2 || !d.hasInput(1)) return unsupported(name + " needs a scale input");
  const auto& a = d.layer->as<NormalizationAttrs>();
  const int64_t rank = static_cast<int64_t>(d.inputs[0].dims.size());
  const int64_t axis = a.axis < 0 ? a.axis + rank : a.axis;
  int64_t cols = 1;
  for (int64_t k = std::max<int64_t>(axis, 0); k < rank; ++k)
    cols *= d.inputs[0].dims[static_cast<size_t>(k)];
  if (volume(d.inputs[1].dims) != cols || (d.hasInput(2) && volume(d.inputs[2].dims) != cols))
    return unsupported(name + ": scale and bias must cover the normalized dims exactly");
  return Status::ok();
}

// ---- Shuffle, Concatenation ----------------------------------------------------------------

class ShuffleKernel final : public DeviceKernel<ShuffleAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  Status reshaped() override {
    transpose_ = attrs_.mode == ShuffleMode::kTranspose;
    if (!transpose_) return Status::ok();
    const Dims& x = in_[0].dims;
    std::vector<int64_t> perm = attrs_.perm;
    if (perm.empty())
      for (size_t k = x.size(); k-- > 0;)
        perm.push_back(static_cast<int64_t>(k));
    if (perm.size() != x.size() || x.size() > static_cast<size_t>(kMaxRank))
      return error("transpose permutation does not match the input rank (or rank > 8)");
    std::vector<int64_t> stride(x.size(), 1);
    for (size_t k = x.size(); k-- > 1;)
      stride[k - 1] = stride[k] * x[k];
    ix_ = StridedIndex{};
    ix_.rank = static_cast<int>(x.size());
    for (size_t k = 0; k < x.size(); ++k) {
      ix_.dims[k] = x[static_cast<size_t>(perm[k])];
      ix_.stride[k] = stride[static_cast<size_t>(perm[k])];
    }
    return Status::ok();
  }
  Status onRun(Stream& s) override {
    if (transpose_)
      return launched(launchGather(in(0), ix_, 0, out(0), volume(out_[0].dims),
                                   dataTypeSize(out_[0].dtype), nativeStream(s)));
    // Reshape, squeeze, unsqueeze and flatten keep the bytes.
    if (outPtr_[0] == inPtr_[0] || out_[0].bytes() == 0) return Status::ok();
    return launched(cudaMemcpyAsync(outPtr_[0], inPtr_[0], out_[0].bytes(),
                                    cudaMemcpyDeviceToDevice, nativeStream(s)));
  }

 private:
  bool transpose_ = false;
  StridedIndex ix_;
};

Status supportsShuffle(const LayerDesc& d, const std::string& name, Variant) {
  const auto& a = d.layer->as<ShuffleAttrs>();
  if (a.mode == ShuffleMode::kTranspose) {
    const size_t e = dataTypeSize(d.inputs[0].dtype);
    if (e != 1 && e != 2 && e != 4 && e != 8)  // sub-byte types are held one per byte
      return unsupported(name + ": transposes of 1, 2, 4 or 8-byte elements");
    if (d.inputs[0].dims.size() > static_cast<size_t>(kMaxRank))
      return unsupported(name + ": transposes of rank > 8");
  }
  if (d.inputs[0].dtype != d.outputs[0].dtype) return unsupported(name + ": dtype changes");
  return Status::ok();
}

class ConcatenationKernel final : public DeviceKernel<ConcatenationAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  Status reshaped() override {
    const Dims& y = out_[0].dims;
    const int64_t rank = static_cast<int64_t>(y.size());
    axis_ = attrs_.axis < 0 ? attrs_.axis + rank : attrs_.axis;
    if (axis_ < 0 || axis_ >= rank) return error("concatenation axis out of range");
    return Status::ok();
  }
  Status onRun(Stream& s) override {
    const Dims& y = out_[0].dims;
    const size_t elem = dataTypeSize(out_[0].dtype);
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < static_cast<int64_t>(y.size()); ++k)
      if (k < axis_)
        outer *= y[static_cast<size_t>(k)];
      else if (k > axis_)
        inner *= y[static_cast<size_t>(k)];
    const size_t outRow = static_cast<size_t>(y[static_cast<size_t>(axis_)] * inner) * elem;
    size_t offset = 0;
    for (size_t k = 0; k < in_.size(); ++k) {
      if (!inPtr_[k]) continue;
      const size_t row =
          static_cast<size_t>(in_[k].dims[static_cast<size_t>(axis_)] * inner) * elem;
      if (row > 0 && outer > 0)
        KILN_RETURN_IF_ERROR(launched(cudaMemcpy2DAsync(
            static_cast<char*>(outPtr_[0]) + offset, outRow, inPtr_[k], row, row,
            static_cast<size_t>(outer), cudaMemcpyDeviceToDevice, nativeStream(s))));
      offset += row;
    }
    return Status::ok();
  }

 private:
  int64_t axis_ = 0;
};

Status supportsConcatenation(const LayerDesc& d, const std::string& name, Variant) {
  for (size_t k = 0; k < d.inputs.size(); ++k)
    if (d.hasInput(k) && (d.inputs[k].dtype != d.outputs[0].dtype ||
                          d.inputs[k].dims.size() != d.outputs[0].dims.size()))
      return unsupported(name + ": inputs must match the output's dtype and rank");
  return Status::ok();
}

// ---- MatrixMultiply (cuBLASLt) -------------------------------------------------------------

struct MatmulShape {
  int64_t m = 0, n = 0, k = 0, batch = 1, strideA = 0, strideB = 0;
  bool foldBatch = false;  ///< A's batch folded into M (B has no batch, A not transposed)
};

/// The GEMM geometry of a layer, or an error when cuBLASLt's strided batches cannot express it.
Expected<MatmulShape> matmulShape(const MatrixMultiplyAttrs& at, const Dims& a, const Dims& b,
                                  const Dims& y) {
  if (a.size() < 2 || b.size() < 2) return unsupported("1-D operands");
  MatmulShape s;
  const size_t ra = a.size(), rb = b.size();
  s.m = at.transA ? a[ra - 1] : a[ra - 2];
  s.k = at.transA ? a[ra - 2] : a[ra - 1];
  s.n = at.transB ? b[rb - 2] : b[rb - 1];
  const int64_t kb = at.transB ? b[rb - 1] : b[rb - 2];
  if (kb != s.k) return unsupported("inner dims differ");
  const int64_t aBatch = volume(Dims(a.begin(), a.end() - 2));
  const int64_t bBatch = volume(Dims(b.begin(), b.end() - 2));
  const int64_t yBatch = volume(Dims(y.begin(), y.end() - 2));
  if ((aBatch != yBatch && aBatch != 1) || (bBatch != yBatch && bBatch != 1))
    return unsupported("batch dims broadcast partially");
  if (yBatch > 1 && aBatch == yBatch && bBatch == 1 && !at.transA) {
    s.foldBatch = true;
    s.m *= yBatch;
    return s;
  }
  s.batch = yBatch;
  s.strideA = aBatch == 1 ? 0 : s.m * s.k;
  s.strideB = bBatch == 1 ? 0 : s.k * s.n;
  return s;
}

/// A column-major matrix layout of rows x cols (leading dimension ld) of storage `t`,
/// strided-batched over `batch` matrices `stride` elements apart (0: one matrix shared by every
/// batch entry).
Status matrixLayout(cublasLtMatrixLayout_t* l, Storage t, int64_t rows, int64_t cols, int64_t ld,
                    int64_t batch, int64_t stride) {
  KILN_RETURN_IF_ERROR(check(cublasLtMatrixLayoutCreate(l, cudaType(t), static_cast<uint64_t>(rows),
                                                        static_cast<uint64_t>(cols), ld),
                             "matrix layout"));
  if (batch <= 1) return Status::ok();
  const int32_t count = static_cast<int32_t>(batch);
  KILN_RETURN_IF_ERROR(check(cublasLtMatrixLayoutSetAttribute(
                                 *l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
                             "batch count"));
  return check(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                &stride, sizeof(stride)),
               "batch stride");
}

/// The product descriptor of a variant: fp32 accumulation and scale; TF32 operands for .tf32.
Status productDesc(cublasLtMatmulDesc_t* desc, Variant v) {
  return check(cublasLtMatmulDescCreate(
                   desc, v.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F),
               "matmul desc");
}

/// cuBLASLt's first-ranked algorithm for D = A B (C = D) within a 32 MiB workspace, or false.
bool bestAlgorithm(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                   cublasLtMatrixLayout_t d, cublasLtMatmulHeuristicResult_t* result) {
  cublasLtMatmulPreference_t pref = nullptr;
  if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS) return false;
  const uint64_t maxWs = 32u << 20;
  (void)cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &maxWs,
                                             sizeof(maxWs));
  int found = 0;
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(cublasLt(), desc, a, b, d, d, pref, 1, result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  return hs == CUBLAS_STATUS_SUCCESS && found > 0;
}

class MatmulKernel final : public DeviceKernel<MatrixMultiplyAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  ~MatmulKernel() override { release(); }

  Status reshaped() override {
    release();
    KILN_ASSIGN_OR_RETURN(shape_, matmulShape(attrs_, in_[0].dims, in_[1].dims, out_[0].dims));
    const MatmulShape& s = shape_;
    const Dims& y = out_[0].dims;
    // cuBLASLt is column-major: y^T[N, M] = op(B)^T [N, K] * op(A)^T [K, M].
    KILN_RETURN_IF_ERROR(productDesc(&desc_, v_));
    const cublasOperation_t opB = attrs_.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t opA = attrs_.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    KILN_RETURN_IF_ERROR(
        check(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &opB, sizeof(opB)),
              "transa"));
    KILN_RETURN_IF_ERROR(
        check(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &opA, sizeof(opA)),
              "transb"));
    // C as a bias row over N, beta 1, no residual: cuBLASLt's bias (+ relu) epilogue.
    const bool hasC = present_.size() > 2 && present_[2];
    biasEpilogue_ = false;
    if (hasC && attrs_.beta == 1.0f && attrs_.residual == ResidualMode::kNone &&
        volume(in_[2].dims) == s.n && !in_[2].dims.empty() && in_[2].dims.back() == s.n &&
        (attrs_.activation == ActivationKind::kNone ||
         attrs_.activation == ActivationKind::kRelu)) {
      biasEpilogue_ = true;
      const cublasLtEpilogue_t e = attrs_.activation == ActivationKind::kRelu
                                       ? CUBLASLT_EPILOGUE_RELU_BIAS
                                       : CUBLASLT_EPILOGUE_BIAS;
      KILN_RETURN_IF_ERROR(
          check(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof(e)),
                "epilogue"));
    }
    KILN_RETURN_IF_ERROR(makeEpilogue(attrs_, present_, in_, y, &epilogue_));
    postEpilogue_ = !biasEpilogue_ && (hasC || epilogue_.activation != ActivationKind::kNone ||
                                       epilogue_.residual != ResidualMode::kNone);
    if (postEpilogue_ && hasC && !broadcastIndex(in_[2].dims, y, &cIndex_))
      return error("C does not broadcast to the output within 8 merged dims");
    auto layout = [&](cublasLtMatrixLayout_t* l, int64_t rows, int64_t cols, int64_t ld,
                      int64_t stride) {
      return matrixLayout(l, v_.storage, rows, cols, ld, s.batch, stride);
    };
    // The first operand is B as stored: [K, N] row-major is N x K column-major (ld N).
    KILN_RETURN_IF_ERROR(attrs_.transB ? layout(&la_, s.k, s.n, s.k, s.strideB)
                                       : layout(&la_, s.n, s.k, s.n, s.strideB));
    KILN_RETURN_IF_ERROR(attrs_.transA ? layout(&lb_, s.m, s.k, s.m, s.strideA)
                                       : layout(&lb_, s.k, s.m, s.k, s.strideA));
    KILN_RETURN_IF_ERROR(layout(&ld_, s.n, s.m, s.n, s.m * s.n));
    cublasLtMatmulHeuristicResult_t result{};
    if (!bestAlgorithm(desc_, la_, lb_, ld_, &result))
      return error("cuBLASLt found no algorithm for M=" + std::to_string(s.m) +
                   " N=" + std::to_string(s.n) + " K=" + std::to_string(s.k));
    algo_ = result.algo;
    setWorkspaceBytes(result.workspaceSize);
    workspaceSize_ = result.workspaceSize;
    return Status::ok();
  }

  Status onRun(Stream& st) override {
    cudaStream_t s = nativeStream(st);
    if (biasEpilogue_) {
      const void* bias = in(2);
      KILN_RETURN_IF_ERROR(check(cublasLtMatmulDescSetAttribute(
                                     desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
                                 "bias pointer"));
    }
    const float alpha = attrs_.alpha, beta = 0.0f;
    if (shape_.m * shape_.n * shape_.batch == 0) return Status::ok();
    if (shape_.k == 0)
      KILN_RETURN_IF_ERROR(launched(cudaMemsetAsync(out(0), 0, out_[0].bytes(), s)));
    else
      KILN_RETURN_IF_ERROR(
          check(cublasLtMatmul(cublasLt(), desc_, &alpha, in(1), la_, in(0), lb_, &beta, out(0),
                               ld_, out(0), ld_, &algo_, workspace_, workspaceSize_, s),
                "layer '" + name_ + "': cublasLtMatmul"));
    if (!postEpilogue_) return Status::ok();
    return launched(launchEpilogue(out(0), volume(out_[0].dims), has(2) ? in(2) : nullptr, cIndex_,
                                   attrs_.beta, has(3) ? in(3) : nullptr, epilogue_, v_.storage,
                                   s));
  }

 private:
  void release() {
    if (la_) cublasLtMatrixLayoutDestroy(la_);
    if (lb_) cublasLtMatrixLayoutDestroy(lb_);
    if (ld_) cublasLtMatrixLayoutDestroy(ld_);
    if (desc_) cublasLtMatmulDescDestroy(desc_);
    la_ = lb_ = ld_ = nullptr;
    desc_ = nullptr;
  }

  MatmulShape shape_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t la_ = nullptr, lb_ = nullptr, ld_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  size_t workspaceSize_ = 0;
  bool biasEpilogue_ = false, postEpilogue_ = false;
  StridedIndex cIndex_;
  EpilogueArgs epilogue_;
};

Status supportsMatmul(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(storedAs(d, v, name));
  const auto& a = d.layer->as<MatrixMultiplyAttrs>();
  auto s = matmulShape(a, d.inputs[0].dims, d.inputs[1].dims, d.outputs[0].dims);
  if (!s) return unsupported(name + ": " + s.status().message());
  KILN_RETURN_IF_ERROR(supportsResidual<MatrixMultiplyAttrs>(d, name));
  StridedIndex ix;
  if (d.hasInput(2) && !broadcastIndex(d.inputs[2].dims, d.outputs[0].dims, &ix))
    return unsupported(name + ": C does not broadcast within 8 merged dims");
  return Status::ok();
}

// ---- Convolution (direct) ------------------------------------------------------------------

/// The 2-D geometry of a 1-D or 2-D convolution (1-D as H = 1).
Expected<Conv2dArgs> convArgs(const ConvolutionAttrs& at, const Dims& x, const Dims& w,
                              const Dims& y) {
  if (x.size() != 3 && x.size() != 4) return unsupported("only 1-D and 2-D convolutions");
  if (w.size() != x.size() || y.size() != x.size()) return unsupported("rank mismatch");
  const size_t sp = x.size() - 2;
  Conv2dArgs a{};
  a.n = x[0];
  a.c = x[1];
  a.m = w[0];
  a.group = at.group;
  if (a.group <= 0 || a.c % a.group != 0 || a.m % a.group != 0 || w[1] * a.group != a.c)
    return unsupported("group does not divide the channels");
  auto get = [](const std::vector<int64_t>& v, size_t i, int64_t dflt) {
    return i < v.size() ? v[i] : dflt;
  };
  int64_t in[2] = {1, 1}, k[2] = {1, 1}, o[2] = {1, 1}, st[2] = {1, 1}, dl[2] = {1, 1},
          pad[2] = {0, 0};
  for (size_t i = 0; i < sp; ++i) {
    const size_t j = 2 - sp + i;  // 1-D fills W only
    in[j] = x[2 + i];
    k[j] = w[2 + i];
    o[j] = y[2 + i];
    st[j] = get(at.strides, i, 1);
    dl[j] = get(at.dilations, i, 1);
    switch (at.padding) {
      case PaddingMode::kExplicit:
        pad[j] = get(at.padsBegin, i, 0);
        break;
      case PaddingMode::kValid:
        pad[j] = 0;
        break;
      case PaddingMode::kSameUpper:
      case PaddingMode::kSameLower: {
        const int64_t total =
            std::max<int64_t>((o[j] - 1) * st[j] + (k[j] - 1) * dl[j] + 1 - in[j], 0);
        pad[j] = at.padding == PaddingMode::kSameUpper ? total / 2 : total - total / 2;
        break;
      }
    }
  }
  a.h = in[0];
  a.w = in[1];
  a.kh = k[0];
  a.kw = k[1];
  a.oh = o[0];
  a.ow = o[1];
  a.strideH = st[0];
  a.strideW = st[1];
  a.dilH = dl[0];
  a.dilW = dl[1];
  a.padH = pad[0];
  a.padW = pad[1];
  return a;
}

class ConvolutionKernel final : public DeviceKernel<ConvolutionAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  // fp32 only (supportsConvolution).
  Status reshaped() override {
    KILN_ASSIGN_OR_RETURN(args_, convArgs(attrs_, in_[0].dims, in_[1].dims, out_[0].dims));
    return makeEpilogue(attrs_, present_, in_, out_[0].dims, &epilogue_);
  }
  Status onRun(Stream& s) override {
    auto f = [](const void* p) { return static_cast<const float*>(p); };
    return launched(launchConv2d(args_, f(in(0)), f(in(1)), has(2) ? f(in(2)) : nullptr,
                                 has(3) ? f(in(3)) : nullptr, static_cast<float*>(out(0)),
                                 epilogue_, nativeStream(s)));
  }

 private:
  Conv2dArgs args_{};
  EpilogueArgs epilogue_;
};

Status supportsConvolution(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(storedAs(d, v, name));
  if (d.layer->as<ConvolutionAttrs>().transposed)
    return unsupported(name + " has no transposed convolution");
  auto a = convArgs(d.layer->as<ConvolutionAttrs>(), d.inputs[0].dims, d.inputs[1].dims,
                    d.outputs[0].dims);
  if (!a) return unsupported(name + ": " + a.status().message());
  return supportsResidual<ConvolutionAttrs>(d, name);
}

/// What a library convolution (cuBLASLt, cuDNN) leaves to the epilogue kernel: the bias per
/// output channel, the activation and the residual, in the reference's order.
class ConvPost {
 public:
  Status init(const ConvolutionAttrs& at, const std::vector<bool>& present,
              const std::vector<TensorDesc>& in, const Dims& y, Storage t) {
    storage_ = t;
    hasBias_ = present.size() > 2 && present[2];
    KILN_RETURN_IF_ERROR(makeEpilogue(at, present, in, y, &e_));
    Dims bias(y.size() - 1, 1);  // [M, 1, ...] broadcast over N and space
    bias[0] = y[1];
    if (!broadcastIndex(bias, y, &biasIndex_)) return internalError("bias broadcast");
    any_ = hasBias_ || e_.residual != ResidualMode::kNone || e_.activation != ActivationKind::kNone;
    count_ = volume(y);
    return Status::ok();
  }
  cudaError_t run(void* y, const void* bias, const void* residual, cudaStream_t s) const {
    if (!any_) return cudaSuccess;
    return launchEpilogue(y, count_, hasBias_ ? bias : nullptr, biasIndex_, 1.0f, residual, e_,
                          storage_, s);
  }

 private:
  Storage storage_ = Storage::kF32;
  bool hasBias_ = false, any_ = false;
  int64_t count_ = 0;
  StridedIndex biasIndex_;
  EpilogueArgs e_;
};

// ---- Convolution as a matrix product (1x1, stride 1, no padding) ---------------------------

/// The convolutions that are a matrix product per image in NCHW: Y_n [M, HW] = W [M, C] X_n [C,
/// HW].
bool isPointwiseConv(const Conv2dArgs& a) {
  return a.group == 1 && a.kh == 1 && a.kw == 1 && a.strideH == 1 && a.strideW == 1 &&
         a.padH == 0 && a.padW == 0 && a.oh == a.h && a.ow == a.w;
}

/// cuBLASLt with fp32 accumulation (strict fp32 for .f32, TF32 operands for .tf32, fp16 / bf16
/// operands for those variants), one strided-batched product over the images, then the epilogue
/// kernel. Column-major, Y_n^T [HW, M] = X_n^T [HW, C] W^T [C, M]:
/// each operand as stored, W shared by every image (batch stride 0).
class GemmConvolutionKernel final : public DeviceKernel<ConvolutionAttrs> {
 public:
  using DeviceKernel::DeviceKernel;
  ~GemmConvolutionKernel() override { release(); }

  Status reshaped() override {
    release();
    KILN_ASSIGN_OR_RETURN(args_, convArgs(attrs_, in_[0].dims, in_[1].dims, out_[0].dims));
    if (!isPointwiseConv(args_)) return error("not a 1x1 stride-1 unpadded convolution");
    KILN_RETURN_IF_ERROR(post_.init(attrs_, present_, in_, out_[0].dims, v_.storage));
    const int64_t p = args_.h * args_.w, c = args_.c, m = args_.m, n = args_.n;
    if (n * m * p == 0 || c == 0) return Status::ok();
    KILN_RETURN_IF_ERROR(productDesc(&desc_, v_));
    auto layout = [&](cublasLtMatrixLayout_t* l, int64_t rows, int64_t cols, int64_t stride) {
      return matrixLayout(l, v_.storage, rows, cols, rows, n, stride);
    };
    KILN_RETURN_IF_ERROR(layout(&lx_, p, c, c * p));
    KILN_RETURN_IF_ERROR(layout(&lw_, c, m, 0));
    KILN_RETURN_IF_ERROR(layout(&ly_, p, m, m * p));
    cublasLtMatmulHeuristicResult_t result{};
    if (!bestAlgorithm(desc_, lx_, lw_, ly_, &result))
      return error("cuBLASLt found no algorithm for the 1x1 convolution (HW=" + std::to_string(p) +
                   " C=" + std::to_string(c) + " M=" + std::to_string(m) + ")");
    algo_ = result.algo;
    setWorkspaceBytes(result.workspaceSize);
    return Status::ok();
  }

  Status onRun(Stream& st) override {
    cudaStream_t s = nativeStream(st);
    if (volume(out_[0].dims) == 0) return Status::ok();
    if (!desc_) {  // C = 0: the sum of nothing
      KILN_RETURN_IF_ERROR(launched(cudaMemsetAsync(out(0), 0, out_[0].bytes(), s)));
    } else {
      const float one = 1.0f, zero = 0.0f;
      KILN_RETURN_IF_ERROR(
          check(cublasLtMatmul(cublasLt(), desc_, &one, in(0), lx_, in(1), lw_, &zero, out(0), ly_,
                               out(0), ly_, &algo_, workspace_, workspaceBytes(), s),
                "layer '" + name_ + "': cublasLtMatmul"));
    }
    return launched(post_.run(out(0), in(2), has(3) ? in(3) : nullptr, s));
  }

 private:
  void release() {
    if (lx_) cublasLtMatrixLayoutDestroy(lx_);
    if (lw_) cublasLtMatrixLayoutDestroy(lw_);
    if (ly_) cublasLtMatrixLayoutDestroy(ly_);
    if (desc_) cublasLtMatmulDescDestroy(desc_);
    lx_ = lw_ = ly_ = nullptr;
    desc_ = nullptr;
  }

  Conv2dArgs args_{};
  ConvPost post_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t lx_ = nullptr, lw_ = nullptr, ly_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
};

Status supportsGemmConvolution(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(supportsConvolution(d, name, v));
  auto a = convArgs(d.layer->as<ConvolutionAttrs>(), d.inputs[0].dims, d.inputs[1].dims,
                    d.outputs[0].dims);
  if (!a) return unsupported(name + ": " + a.status().message());
  if (!isPointwiseConv(*a))
    return unsupported(name + " runs 1x1 convolutions with stride 1, no padding and one group");
  if (a->n > std::numeric_limits<int32_t>::max())
    return unsupported(name + ": the batch exceeds cuBLASLt's batch count");
  return Status::ok();
}

#if KILN_HAVE_CUDNN
// ---- Convolution through cuDNN --------------------------------------------------------------

/// One cuDNN handle per thread that runs kernels (a handle is bound to a stream per call),
/// destroyed when the thread ends: a server's worker threads come and go, and each handle holds
/// device and pinned host memory.
class ThreadCudnn {
 public:
  ThreadCudnn() {
    if (cudnnCreate(&h_) != CUDNN_STATUS_SUCCESS) h_ = nullptr;
  }
  ~ThreadCudnn() {
    if (h_) (void)cudnnDestroy(h_);
  }
  ThreadCudnn(const ThreadCudnn&) = delete;
  ThreadCudnn& operator=(const ThreadCudnn&) = delete;
  cudnnHandle_t get() const { return h_; }

 private:
  cudnnHandle_t h_ = nullptr;
};

cudnnHandle_t cudnn() {
  thread_local ThreadCudnn handle;
  return handle.get();
}

Status checkCudnn(cudnnStatus_t s, const std::string& what) {
  if (s == CUDNN_STATUS_SUCCESS) return Status::ok();
  return internalError(what + ": " + cudnnGetErrorString(s));
}

/// The padding cuDNN would need: symmetric (begin = end) and giving the layer's output dims.
bool cudnnGeometryFits(const Conv2dArgs& a) {
  auto out = [](int64_t in, int64_t k, int64_t s, int64_t d, int64_t p) {
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
  };
  return out(a.h, a.kh, a.strideH, a.dilH, a.padH) == a.oh &&
         out(a.w, a.kw, a.strideW, a.dilW, a.padW) == a.ow;
}

/// cudnnConvolutionForward with the algorithm cuDNN's heuristics rank first among those that fit
/// the workspace limit, then the epilogue kernel for bias, residual and activation when the
/// layer has them. fp32 accumulation always; .f32 is strict fp32 (FMA math: no TF32), .tf32
/// and the fp16 / bf16 variants use tensor-core math.
class CudnnConvolutionKernel final : public DeviceKernel<ConvolutionAttrs> {
 public:
  static constexpr size_t kMaxWorkspace = size_t{256} << 20;

  CudnnConvolutionKernel(const LayerDesc& d, Variant v) : DeviceKernel(d, v) {
    cudnnCreateTensorDescriptor(&x_);
    cudnnCreateTensorDescriptor(&y_);
    cudnnCreateFilterDescriptor(&w_);
    cudnnCreateConvolutionDescriptor(&conv_);
  }
  ~CudnnConvolutionKernel() override {
    if (x_) cudnnDestroyTensorDescriptor(x_);
    if (y_) cudnnDestroyTensorDescriptor(y_);
    if (w_) cudnnDestroyFilterDescriptor(w_);
    if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
  }

  Status reshaped() override {
    if (!x_ || !y_ || !w_ || !conv_) return error("cuDNN descriptors could not be created");
    if (!cudnn()) return error("cuDNN could not be initialized (cudnnCreate)");
    KILN_ASSIGN_OR_RETURN(args_, convArgs(attrs_, in_[0].dims, in_[1].dims, out_[0].dims));
    const Conv2dArgs& a = args_;
    if (!cudnnGeometryFits(a)) return error("asymmetric padding: cuDNN cannot give this output");
    const auto i32 = [](int64_t v) { return static_cast<int>(v); };
    const std::string where = "layer '" + name_ + "'";
    const cudnnDataType_t type = v_.storage == Storage::kF16    ? CUDNN_DATA_HALF
                                 : v_.storage == Storage::kBF16 ? CUDNN_DATA_BFLOAT16
                                                                : CUDNN_DATA_FLOAT;
    const bool strict = v_.storage == Storage::kF32 && !v_.tf32;
    KILN_RETURN_IF_ERROR(
        checkCudnn(cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NCHW, type, i32(a.n), i32(a.c),
                                              i32(a.h), i32(a.w)),
                   where + ": input descriptor"));
    KILN_RETURN_IF_ERROR(
        checkCudnn(cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NCHW, type, i32(a.n), i32(a.m),
                                              i32(a.oh), i32(a.ow)),
                   where + ": output descriptor"));
    KILN_RETURN_IF_ERROR(
        checkCudnn(cudnnSetFilter4dDescriptor(w_, type, CUDNN_TENSOR_NCHW, i32(a.m),
                                              i32(a.c / a.group), i32(a.kh), i32(a.kw)),
                   where + ": filter descriptor"));
    KILN_RETURN_IF_ERROR(
        checkCudnn(cudnnSetConvolution2dDescriptor(conv_, i32(a.padH), i32(a.padW), i32(a.strideH),
                                                   i32(a.strideW), i32(a.dilH), i32(a.dilW),
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                   where + ": convolution descriptor"));
    KILN_RETURN_IF_ERROR(
        checkCudnn(cudnnSetConvolutionGroupCount(conv_, i32(a.group)), where + ": group count"));
    KILN_RETURN_IF_ERROR(checkCudnn(
        cudnnSetConvolutionMathType(conv_, strict ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH),
        where + ": math type"));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    KILN_RETURN_IF_ERROR(
        checkCudnn(cudnnGetConvolutionForwardAlgorithm_v7(
                       cudnn(), x_, w_, conv_, y_, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf),
                   where + ": algorithm heuristics"));
    bool chosen = false;
    for (int k = 0; k < found && !chosen; ++k) {
      if (perf[k].status != CUDNN_STATUS_SUCCESS || perf[k].memory > kMaxWorkspace) continue;
      if (strict && perf[k].mathType != CUDNN_FMA_MATH && perf[k].mathType != CUDNN_DEFAULT_MATH)
        continue;  // strict fp32: no tensor-op (TF32) algorithm
      algo_ = perf[k].algo;
      setWorkspaceBytes(perf[k].memory);
      chosen = true;
    }
    if (!chosen)
      return error("cuDNN offers no " + suffix(v_) + " algorithm within the workspace limit");
    return post_.init(attrs_, present_, in_, out_[0].dims, v_.storage);
  }

  Status onRun(Stream& s) override {
    cudaStream_t stream = nativeStream(s);
    KILN_RETURN_IF_ERROR(checkCudnn(cudnnSetStream(cudnn(), stream), "cudnnSetStream"));
    const float one = 1.0f, zero = 0.0f;
    KILN_RETURN_IF_ERROR(
        checkCudnn(cudnnConvolutionForward(cudnn(), &one, x_, in(0), w_, in(1), conv_, algo_,
                                           workspace_, workspaceBytes(), &zero, y_, out(0)),
                   "layer '" + name_ + "': cudnnConvolutionForward"));
    return launched(post_.run(out(0), in(2), has(3) ? in(3) : nullptr, stream));
  }

 private:
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  Conv2dArgs args_{};
  ConvPost post_;
};

Status supportsCudnnConvolution(const LayerDesc& d, const std::string& name, Variant v) {
  KILN_RETURN_IF_ERROR(supportsConvolution(d, name, v));
  auto a = convArgs(d.layer->as<ConvolutionAttrs>(), d.inputs[0].dims, d.inputs[1].dims,
                    d.outputs[0].dims);
  if (!a) return unsupported(name + ": " + a.status().message());
  if (!cudnnGeometryFits(*a)) return unsupported(name + ": asymmetric padding");
  const int64_t limit = std::numeric_limits<int>::max();
  for (int64_t v : {a->n, a->c, a->h, a->w, a->m, a->oh, a->ow})
    if (v > limit) return unsupported(name + ": a dim exceeds cuDNN's int range");
  return Status::ok();
}
#endif  // KILN_HAVE_CUDNN

template <class K>
struct Tag {
  using type = K;
};

}  // namespace

void addDeviceTactics(std::vector<std::unique_ptr<Tactic>>& out) {
  // One tactic per variant: "<base>.<f32|tf32|f16|bf16>".
  auto add = [&](auto tag, const std::string& base, LayerKind kind, auto supports,
                 std::initializer_list<Variant> variants) {
    using K = typename decltype(tag)::type;
    for (Variant v : variants)
      out.push_back(std::make_unique<SimpleTactic<K>>(base + "." + suffix(v), kind, supports, v));
  };
  auto products = {kF32, kTF32, kF16, kBF16};
  auto stored = {kF32, kF16, kBF16};
  add(Tag<MatmulKernel>{}, "cuda.matrix_multiply.cublaslt", LayerKind::kMatrixMultiply,
      supportsMatmul, products);
  add(Tag<ConvolutionKernel>{}, "cuda.convolution.direct", LayerKind::kConvolution,
      supportsConvolution, {kF32});
  add(Tag<GemmConvolutionKernel>{}, "cuda.convolution.gemm", LayerKind::kConvolution,
      supportsGemmConvolution, products);
#if KILN_HAVE_CUDNN
  add(Tag<CudnnConvolutionKernel>{}, "cuda.convolution.cudnn", LayerKind::kConvolution,
      supportsCudnnConvolution, products);
#endif
  add(Tag<PointwiseKernel>{}, "cuda.pointwise", LayerKind::kPointwise, supportsPointwise, stored);
  add(Tag<PoolingKernel>{}, "cuda.pooling", LayerKind::kPooling, supportsPooling, stored);
  add(Tag<ActivationKernel>{}, "cuda.activation", LayerKind::kActivation, supportsActivation,
      stored);
  add(Tag<UnaryKernel>{}, "cuda.unary", LayerKind::kUnary, supportsUnary, stored);
  add(Tag<ElementwiseKernel>{}, "cuda.elementwise.broadcast", LayerKind::kElementwise,
      supportsElementwise, stored);
  add(Tag<SoftmaxKernel>{}, "cuda.softmax", LayerKind::kSoftmax, supportsSoftmax, stored);
  add(Tag<NormalizationKernel>{}, "cuda.normalization.layer", LayerKind::kNormalization,
      supportsNormalization, stored);
  // Data movement copies bytes: one tactic for every element type.
  out.push_back(std::make_unique<SimpleTactic<ShuffleKernel>>("cuda.shuffle", LayerKind::kShuffle,
                                                              supportsShuffle));
  out.push_back(std::make_unique<SimpleTactic<ConcatenationKernel>>(
      "cuda.concatenation", LayerKind::kConcatenation, supportsConcatenation));
  out.push_back(
      std::make_unique<SimpleTactic<CastKernel>>("cuda.cast", LayerKind::kCast, supportsCast));
}

}  // namespace kiln::cuda
