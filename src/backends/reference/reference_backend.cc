// kiln — the reference backend object: host memory, host streams, and one tactic per layer kind
// ("reference.<kind in snake case>"), generated from layers.def.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backends/reference/reference.h"

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
    return supports_(desc);
  }

  Expected<std::unique_ptr<Kernel>> create(const LayerDesc& desc) const override {
    KILN_RETURN_IF_ERROR(supports(desc));
    return create_(desc);
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
