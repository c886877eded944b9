// kiln — the reference backend object: host memory, host streams, and one tactic per layer kind
// ("reference.<kind in snake case>"), generated from layers.def.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string>

#include "backends/reference/reference.h"
#include "util/float16.h"

namespace kiln {
namespace {

/// "MatrixMultiply" -> "matrix_multiply"
std::string snakeCase(const char* camel) {
  std::string out;
  for (const char* p = camel; *p; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (std::isupper(c)) {
      if (!out.empty()) out += '_';
      out += static_cast<char>(std::tolower(c));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

using SupportsFn = Status (*)(const LayerDesc&);
using CreateFn = Expected<std::unique_ptr<Kernel>> (*)(const LayerDesc&);

// ---- float16 / bfloat16 through float32 ----
// The oracle at every precision: a layer whose kernel takes only float32 runs on float16 and
// bfloat16 tensors by widening them to float32, computing, and rounding the results back (once
// per output, to nearest even). Layers that take the narrow types themselves (Cast, the data
// movement kinds) run them as they are.

bool isNarrowFloat(DataType t) {
  return t == DataType::kFloat16 || t == DataType::kBFloat16;
}

void widenValues(const void* src, DataType t, float* dst, int64_t n) {
  loadNarrow(static_cast<const uint16_t*>(src), t == DataType::kFloat16, dst, n);
}

void narrowValues(const float* src, DataType t, void* dst, int64_t n) {
  storeNarrow(src, t == DataType::kFloat16, static_cast<uint16_t*>(dst), n);
}

Expected<Weights> widenWeights(const Weights& w) {
  KILN_ASSIGN_OR_RETURN(Weights out,
                        Weights::zeros(DataType::kFloat32, w.dims(), "widened constant"));
  widenValues(w.data(), w.dtype(), static_cast<float*>(out.mutableData()), w.count());
  return out;
}

bool hasNarrowFloat(const LayerDesc& d) {
  for (const TensorDesc& t : d.inputs)
    if (isNarrowFloat(t.dtype)) return true;
  for (const TensorDesc& t : d.outputs)
    if (isNarrowFloat(t.dtype)) return true;
  return false;
}

/// `desc` with every narrow float tensor float32, and the float32 copies of its narrow
/// constants (owned here, so the pointers stay valid as long as this object).
struct WidenedDesc {
  LayerDesc desc;
  std::deque<Weights> owned;
};

/// With `values` false only the types change (enough for supports(), which reads types and
/// the integer params, never narrow weights); true also makes the float32 constants.
Expected<std::unique_ptr<WidenedDesc>> widen(const LayerDesc& d, bool values) {
  auto w = std::make_unique<WidenedDesc>();
  w->desc = d;
  for (size_t k = 0; k < d.inputs.size(); ++k) {
    if (!isNarrowFloat(d.inputs[k].dtype)) continue;
    w->desc.inputs[k].dtype = DataType::kFloat32;
    if (values && d.constantInputs[k] && isNarrowFloat(d.constantInputs[k]->dtype())) {
      KILN_ASSIGN_OR_RETURN(Weights c, widenWeights(*d.constantInputs[k]));
      w->owned.push_back(std::move(c));
      w->desc.constantInputs[k] = &w->owned.back();
    }
  }
  for (TensorDesc& t : w->desc.outputs)
    if (isNarrowFloat(t.dtype)) t.dtype = DataType::kFloat32;
  return w;
}

/// A float32 kernel run on narrow tensors: inputs widened into staging buffers before each
/// run, outputs computed in staging buffers and rounded into the real ones after.
class WideningKernel final : public Kernel {
 public:
  WideningKernel(std::unique_ptr<WidenedDesc> desc, std::unique_ptr<Kernel> inner)
      : desc_(std::move(desc)), inner_(std::move(inner)) {}

 private:
  Status onReshape(const std::vector<TensorDesc>& inputs,
                   const std::vector<TensorDesc>& outputs) override {
    in_ = inputs;
    out_ = outputs;
    std::vector<TensorDesc> wideIn = inputs, wideOut = outputs;
    std::vector<const Weights*> values;
    values_.clear();
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Weights* v = reshapeValue(k);
      if (v && isNarrowFloat(v->dtype())) {
        KILN_ASSIGN_OR_RETURN(Weights w, widenWeights(*v));
        values_.push_back(std::move(w));
        v = &values_.back();
      }
      values.push_back(v);
      if (isNarrowFloat(inputs[k].dtype)) wideIn[k].dtype = DataType::kFloat32;
    }
    for (TensorDesc& t : wideOut)
      if (isNarrowFloat(t.dtype)) t.dtype = DataType::kFloat32;
    KILN_RETURN_IF_ERROR(inner_->reshape(wideIn, wideOut, values));
    inStage_.assign(inputs.size(), {});
    outStage_.assign(outputs.size(), {});
    for (size_t k = 0; k < inputs.size(); ++k)
      if (isNarrowFloat(inputs[k].dtype))
        inStage_[k].resize(static_cast<size_t>(volume(inputs[k].dims)));
    for (size_t k = 0; k < outputs.size(); ++k)
      if (isNarrowFloat(outputs[k].dtype))
        outStage_[k].resize(static_cast<size_t>(volume(outputs[k].dims)));
    setWorkspaceBytes(inner_->workspaceBytes());
    return Status::ok();
  }

  Status onSetup(const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
                 void* workspace) override {
    inPtr_ = inputs;
    outPtr_ = outputs;
    std::vector<const void*> ins = inputs;
    std::vector<void*> outs = outputs;
    for (size_t k = 0; k < ins.size(); ++k)
      if (ins[k] && isNarrowFloat(in_[k].dtype)) ins[k] = inStage_[k].data();
    for (size_t k = 0; k < outs.size(); ++k)
      if (isNarrowFloat(out_[k].dtype)) outs[k] = outStage_[k].data();
    return inner_->setup(ins, outs, workspace);
  }

  Status onRun(Stream& stream) override {
    for (size_t k = 0; k < inPtr_.size(); ++k)
      if (inPtr_[k] && isNarrowFloat(in_[k].dtype))
        widenValues(inPtr_[k], in_[k].dtype, inStage_[k].data(),
                    static_cast<int64_t>(inStage_[k].size()));
    KILN_RETURN_IF_ERROR(inner_->run(stream));
    for (size_t k = 0; k < outPtr_.size(); ++k)
      if (isNarrowFloat(out_[k].dtype))
        narrowValues(outStage_[k].data(), out_[k].dtype, outPtr_[k],
                     static_cast<int64_t>(outStage_[k].size()));
    return Status::ok();
  }

  std::unique_ptr<WidenedDesc> desc_;
  std::unique_ptr<Kernel> inner_;
  std::vector<TensorDesc> in_, out_;
  std::deque<Weights> values_;
  std::vector<std::vector<float>> inStage_, outStage_;
  std::vector<const void*> inPtr_;
  std::vector<void*> outPtr_;
};

/// The one tactic of a layer kind: forwards to supportsReference<Kind> / createReference<Kind>.
class ReferenceTactic final : public Tactic {
 public:
  ReferenceTactic(LayerKind kind, const char* kindName, SupportsFn supports, CreateFn create)
      : kind_(kind),
        name_("reference." + snakeCase(kindName)),
        supports_(supports),
        create_(create) {}

  const std::string& name() const override { return name_; }
  LayerKind kind() const override { return kind_; }

  Status supports(const LayerDesc& desc) const override {
    if (desc.layer == nullptr) return invalidArgument(name_ + ": layer desc without a layer");
    if (desc.kind() != kind_)
      return unsupported(name_ + " implements " + layerKindName(kind_) + " layers, not layer '" +
                         desc.name() + "' (" + layerKindName(desc.kind()) + ")");
    Status s = supports_(desc);
    if (s.isOk() || !hasNarrowFloat(desc)) return s;
    KILN_ASSIGN_OR_RETURN(auto wide, widen(desc, /*values=*/false));
    return supports_(wide->desc).isOk() ? Status::ok() : s;
  }

  Expected<std::unique_ptr<Kernel>> create(const LayerDesc& desc) const override {
    KILN_RETURN_IF_ERROR(supports(desc));
    if (supports_(desc).isOk()) return create_(desc);
    KILN_ASSIGN_OR_RETURN(auto wide, widen(desc, /*values=*/true));
    KILN_ASSIGN_OR_RETURN(auto inner, create_(wide->desc));
    return std::unique_ptr<Kernel>(new WideningKernel(std::move(wide), std::move(inner)));
  }

 private:
  LayerKind kind_;
  std::string name_;
  SupportsFn supports_;
  CreateFn create_;
};

class ReferenceBackend final : public Backend {
 public:
  ReferenceBackend() {
#define KILN_LAYER(kind, attrs, summary)                \
  tactics_.push_back(std::make_unique<ReferenceTactic>( \
      LayerKind::k##kind, #kind, &supportsReference##kind, &createReference##kind));
#include "kiln/layers.def"
#undef KILN_LAYER
  }

  const std::string& name() const override {
    return name_;
  }
  MemorySpace memorySpace() const override {
    return MemorySpace::kHost;
  }
  std::unique_ptr<Stream> createStream() const override {
    return std::make_unique<HostStream>();
  }

  /// 64-byte aligned host memory; a zero-byte request still gets a valid (unique) pointer.
  Expected<void*> allocate(size_t bytes) const override {
    constexpr size_t kAlign = 64;
    if (bytes > SIZE_MAX - kAlign)
      return outOfMemory("reference backend: cannot allocate " + std::to_string(bytes) +
                         " bytes (larger than the address space)");
    size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    if (rounded == 0) rounded = kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
    if (p == nullptr)
      return Status(StatusCode::kOutOfMemory,
                    "reference backend: cannot allocate " + std::to_string(bytes) + " bytes");
    return p;
  }
  void deallocate(void* p) const override {
    std::free(p);
  }

  /// The oracle runs every layer kind and every fused variant.
  bool hasCapability(const Capability&) const override {
    return true;
  }

  std::string deviceSignature() const override {
#if defined(__x86_64__) || defined(_M_X64)
    return "x86_64";
#elif defined(__aarch64__)
    return "aarch64";
#else
    return "host";
#endif
  }

 protected:
  const std::vector<std::unique_ptr<Tactic>>& allTactics() const override {
    return tactics_;
  }

 private:
  std::string name_ = "reference";
  std::vector<std::unique_ptr<Tactic>> tactics_;
};

}  // namespace

const Backend& referenceBackend() {
  static const ReferenceBackend backend;
  return backend;
}

}  // namespace kiln
