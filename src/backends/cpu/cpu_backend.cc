// kiln — the cpu backend object: host memory, host streams, the fast tactics of tactics.def and
// one reference fallback tactic per layer kind.
#include "backends/cpu/cpu_backend.h"

#include <cctype>
#include <cstdint>
#include <cstdlib>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels_avx2.h"
#include "backends/reference/reference.h"

namespace kiln {

CpuIsa hostCpuIsa() {
  static const CpuIsa isa = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    // F16C through CPUID (leaf 1, ECX): clang's __builtin_cpu_supports has no "f16c".
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c)
      return CpuIsa::kAvx2;
#endif
    return CpuIsa::kBaseline;
  }();
  return isa;
}

namespace cpu {

// Declarations of every fast tactic's functions, from the one list.
#define KILN_CPU_TACTIC(name, kind, supportsFn, createFn) \
  Status supportsFn(const LayerDesc& desc);               \
  Expected<std::unique_ptr<Kernel>> createFn(const LayerDesc& desc);
#include "backends/cpu/tactics.def"
#undef KILN_CPU_TACTIC

std::vector<std::unique_ptr<Tactic>> makeFastTactics() {
  std::vector<std::unique_ptr<Tactic>> out;
#define KILN_CPU_TACTIC(name, kind, supportsFn, createFn) \
  out.push_back(std::make_unique<FunctionTactic>(name, LayerKind::k##kind, &supportsFn, &createFn));
#include "backends/cpu/tactics.def"
#undef KILN_CPU_TACTIC
  return out;
}

}  // namespace cpu

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

/// "cpu.<kind>.reference": the reference kernel of the layer, offered only when no fast tactic
/// of the cpu backend supports the layer (so the builder never times it against one).
class FallbackTactic final : public Tactic {
 public:
  FallbackTactic(LayerKind kind, const char* kindName, const Tactic* reference,
                 const std::vector<const Tactic*>* fast)
      : kind_(kind),
        name_("cpu." + snakeCase(kindName) + ".reference"),
        reference_(reference),
        fast_(fast) {}

  const std::string& name() const override { return name_; }
  LayerKind kind() const override { return kind_; }

  Status supports(const LayerDesc& desc) const override {
    for (const Tactic* t : *fast_)
      if (t->kind() == desc.kind() && t->supports(desc).isOk())
        return unsupported(name_ + ": layer '" + desc.name() + "' runs on " + t->name());
    return reference_->supports(desc);
  }

  Expected<std::unique_ptr<Kernel>> create(const LayerDesc& desc) const override {
    // A plan may name the fallback for a layer that a newer fast tactic would take: only the
    // reference kernel's own conditions apply when creating it.
    KILN_RETURN_IF_ERROR(reference_->supports(desc));
    return reference_->create(desc);
  }

 private:
  LayerKind kind_;
  std::string name_;
  const Tactic* reference_;
  const std::vector<const Tactic*>* fast_;
};

class CpuBackend final : public Backend {
 public:
  CpuBackend() {
    tactics_ = cpu::makeFastTactics();
    for (const auto& t : tactics_)
      fast_.push_back(t.get());
#define KILN_LAYER(kind, attrs, summary)               \
  tactics_.push_back(std::make_unique<FallbackTactic>( \
      LayerKind::k##kind, #kind, referenceBackend().findTactic(referenceName(#kind)), &fast_));
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
    if (bytes > SIZE_MAX - kAlign) return Status(StatusCode::kOutOfMemory, "allocation too large");
    size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    if (rounded == 0) rounded = kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
    if (p == nullptr)
      return Status(StatusCode::kOutOfMemory,
                    "cpu backend: cannot allocate " + std::to_string(bytes) + " bytes");
    return p;
  }
  void deallocate(void* p) const override {
    std::free(p);
  }

  /// Fused layers this backend's tactics run (each also has the reference fallback): every
  /// attention layout and the causal mask (cpu.attention.f32.avx2), and conv / matmul epilogues
  /// with an AVX2 activation and a residual (epilogue.h).
  bool hasCapability(const Capability& c) const override {
    const bool avx2 = hostCpuIsa() >= CpuIsa::kAvx2;
    switch (c.what) {
      case Capability::What::kAttentionLayout:
      case Capability::What::kAttentionCausal:
        return avx2;
      case Capability::What::kEpilogueActivation:
        return avx2 &&
               (c.layer == LayerKind::kConvolution || c.layer == LayerKind::kMatrixMultiply) &&
               cpu::avx2::hasActivation(c.activation);
      case Capability::What::kEpilogueResidual:
        return avx2 &&
               (c.layer == LayerKind::kConvolution || c.layer == LayerKind::kMatrixMultiply);
      default:
        return Backend::hasCapability(c);
    }
  }

  /// "x86_64-avx2": plans name the ISA level their own kernels were chosen for.
  std::string deviceSignature() const override {
    return hostCpuIsa() == CpuIsa::kAvx2 ? "x86_64-avx2" : "x86_64";
  }

 protected:
  const std::vector<std::unique_ptr<Tactic>>& allTactics() const override {
    return tactics_;
  }

 private:
  static std::string referenceName(const char* kind) {
    return "reference." + snakeCase(kind);
  }

  std::string name_ = "cpu";
  std::vector<std::unique_ptr<Tactic>> tactics_;  ///< fast tactics first, then the fallbacks
  std::vector<const Tactic*> fast_;               ///< views of the fast tactics
};

}  // namespace

const Backend& cpuBackend() {
  static const CpuBackend backend;
  return backend;
}

}  // namespace kiln
