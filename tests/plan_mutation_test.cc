// Hostile plans: the metadata of real plans is edited the way an attacker would (any field,
// through the generated FlatBuffers API, or any byte), the checksum is recomputed as the writer
// does, and the plan is loaded. Every load must end in a clear error, or in a valid engine that
// re-serializes to a loadable plan, creates a context and runs on zero inputs without crashing.
// The CI sanitizer pass runs this under ASan + UBSan, which turns any out-of-bounds access or
// undefined behaviour into a failure.
//
// Deterministic: a fixed seed per model. Set KILN_MUTATION_VERBOSE=1 to print each mutant's edits
// before it is loaded (to find the one that crashes), and KILN_PLAN_MUTATIONS=N to run the
// opt-in long test (PlanMutation.LongRun) with N mutants per model.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>

#include <flatbuffers/flatbuffers.h>
#include <xxhash.h>

#include "plan/plan_format.h"
#include "plan_generated.h"
#include "test_util.h"

namespace kiln {
namespace {

/// Mutants per model in the normal suite (Release: a few seconds in all).
constexpr int kDigitsMutants = 3000;
constexpr int kTransformerMutants = 600;
/// Engines whose inputs and outputs together exceed this are loaded and given a context, but
/// not run (the test would have to allocate their buffers).
constexpr uint64_t kMaxRunBytes = uint64_t{256} << 20;

/// "MatrixMultiply" -> "matrix_multiply" (reference tactic names).
std::string snakeCase(const std::string& camel) {
  std::string out;
  for (char c : camel) {
    if (c >= 'A' && c <= 'Z') {
      if (!out.empty()) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

uint64_t alignUp(uint64_t x) {
  return (x + kPlanAlignment - 1) / kPlanAlignment * kPlanAlignment;
}

/// Recomputes the checksum as the writer does (XXH3-64 of the file with the field zeroed).
void reseal(std::vector<uint8_t>& b) {
  if (b.size() < sizeof(PlanHeader)) return;
  PlanHeader h;
  std::memcpy(&h, b.data(), sizeof h);
  h.checksum = 0;
  std::memcpy(b.data(), &h, sizeof h);
  h.checksum = XXH3_64bits(b.data(), b.size());
  std::memcpy(b.data(), &h, sizeof h);
}

/// Writes into `file` a plan with new metadata and the original weights region, laid out as the
/// writer does (`file`'s memory is reused: the transformer's plans are 15 MB).
void assemble(const std::vector<uint8_t>& original, const uint8_t* meta, size_t metaBytes,
              std::vector<uint8_t>& file) {
  PlanHeader h;
  std::memcpy(&h, original.data(), sizeof h);
  const uint8_t* weights = original.data() + h.weightsOffset;
  const uint64_t weightsBytes = h.weightsBytes;
  h.metaOffset = sizeof(PlanHeader);
  h.metaBytes = metaBytes;
  h.weightsOffset = alignUp(h.metaOffset + metaBytes);
  h.fileBytes = h.weightsOffset + weightsBytes;
  file.assign(h.fileBytes, 0);
  std::memcpy(file.data() + h.metaOffset, meta, metaBytes);
  if (weightsBytes) std::memcpy(file.data() + h.weightsOffset, weights, weightsBytes);
  std::memcpy(file.data(), &h, sizeof h);
  reseal(file);
}

void pack(const std::vector<uint8_t>& original, const fb::PlanDefT& def,
          std::vector<uint8_t>& file) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(fb::PlanDef::Pack(fbb, &def));
  assemble(original, fbb.GetBufferPointer(), fbb.GetSize(), file);
}

std::vector<uint8_t> pack(const std::vector<uint8_t>& original, const fb::PlanDefT& def) {
  std::vector<uint8_t> file;
  pack(original, def, file);
  return file;
}

/// The stored form of a kind's default attributes (what the plan writer writes for them).
struct DefaultAttrWriter {
  std::vector<std::unique_ptr<fb::AttrT>>& out;
  fb::AttrT& add(const char* name) {
    out.push_back(std::make_unique<fb::AttrT>());
    out.back()->name = name;
    return *out.back();
  }
  void operator()(const char* name, bool v) { add(name).ints = {v ? 1 : 0}; }
  void operator()(const char* name, int64_t v) { add(name).ints = {v}; }
  void operator()(const char* name, const std::vector<int64_t>& v) { add(name).ints = v; }
  template <class E>
  void operator()(const char* name, E v) requires std::is_enum_v<E> {
    add(name).ints = {static_cast<int64_t>(v)};
  }
  void operator()(const char* name, float v) { add(name).floats = {v}; }
  void operator()(const char* name, const Weights&) { add(name).weight = 0; }
  void operator()(const char* name, const std::string& v) { add(name).str = v; }
  void operator()(const char* name, const std::vector<Dim>& v) {
    auto& a = add(name);
    for (const Dim& d : v)
      a.dims.push_back(d.toString());
  }
};

std::vector<std::unique_ptr<fb::AttrT>> defaultAttrsOf(LayerKind kind) {
  std::vector<std::unique_ptr<fb::AttrT>> out;
  DefaultAttrWriter w{out};
  std::visit(
      [&](const auto& a) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(a)>, std::monostate>) a.visit(w);
      },
      defaultAttrs(kind));
  return out;
}

/// Edits plans: structure-aware (a field of the unpacked metadata) or raw bytes. Every edit is
/// described in `log`.
class Mutator {
 public:
  Mutator(const std::vector<uint8_t>& plan, uint64_t seed) : plan_(plan), rng_(seed) {
    std::memcpy(&header_, plan.data(), sizeof header_);
    original_ = fb::UnPackPlanDef(plan.data() + header_.metaOffset);
  }

  const fb::PlanDefT& original() const { return *original_; }

  /// The next mutant, written into `out`.
  void next(std::vector<uint8_t>& out) {
    log.clear();
    if (chance(75)) {
      fb::PlanDefT def(*original_);
      const size_t edits = 1 + below(3);
      for (size_t i = 0; i < edits; ++i)
        editStructure(def);
      pack(plan_, def, out);
      if (chance(10)) editParamValue(def, out);
    } else {
      out.assign(plan_.begin(), plan_.end());
      const size_t edits = 1 + below(4);
      for (size_t i = 0; i < edits; ++i)
        editBytes(out);
    }
    reseal(out);
  }

  std::string log;

 private:
  size_t below(size_t n) { return n ? static_cast<size_t>(rng_() % n) : 0; }
  bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }
  void note(const std::string& s) { log += s + "; "; }

  /// A value near `current` or one of the classic boundary values.
  int64_t interesting(int64_t current) {
    static const int64_t kValues[] = {0,
                                      1,
                                      -1,
                                      2,
                                      3,
                                      4,
                                      7,
                                      8,
                                      16,
                                      63,
                                      64,
                                      65,
                                      255,
                                      256,
                                      4096,
                                      -64,
                                      INT32_MAX,
                                      INT32_MIN,
                                      int64_t{1} << 31,
                                      int64_t{1} << 32,
                                      int64_t{1} << 40,
                                      int64_t{1} << 62,
                                      INT64_MAX - 63,
                                      INT64_MAX,
                                      INT64_MIN};
    const auto u = static_cast<uint64_t>(current);
    switch (below(5)) {
      case 0:
        return static_cast<int64_t>(u + 1);
      case 1:
        return static_cast<int64_t>(u - 1);
      case 2:
        return static_cast<int64_t>(u * 2);
      default:
        return kValues[below(std::size(kValues))];
    }
  }
  int32_t interesting32(int32_t current) {
    const int64_t v = interesting(current);
    return chance(70) ? static_cast<int32_t>(std::clamp<int64_t>(v, -4, 64))
                      : static_cast<int32_t>(v);
  }
  float interestingFloat() {
    static const float kValues[] = {0.0f,
                                    -0.0f,
                                    1.0f,
                                    -1.0f,
                                    0.5f,
                                    1e-30f,
                                    1e30f,
                                    std::numeric_limits<float>::infinity(),
                                    -std::numeric_limits<float>::infinity(),
                                    std::numeric_limits<float>::quiet_NaN(),
                                    std::numeric_limits<float>::denorm_min()};
    return kValues[below(std::size(kValues))];
  }
  /// A tensor id: usually a valid one, sometimes just outside.
  int32_t tensorId(const fb::PlanDefT& def) {
    const auto n = static_cast<int32_t>(def.tensors.size());
    if (chance(80)) return static_cast<int32_t>(below(static_cast<size_t>(n)));
    const int32_t edge[] = {-1, -2, n, n + 1, INT32_MAX, INT32_MIN};
    return edge[below(std::size(edge))];
  }
  void editInts(std::vector<int64_t>& v, const std::string& what) {
    if (v.empty() || chance(25)) {
      if (!v.empty() && chance(50)) {
        v.pop_back();
        note(what + " pop");
      } else if (chance(20)) {
        v.clear();
        note(what + " clear");
      } else {
        v.push_back(interesting(v.empty() ? 1 : v.back()));
        note(what + " push " + std::to_string(v.back()));
      }
      return;
    }
    const size_t i = below(v.size());
    v[i] = interesting(v[i]);
    note(what + "[" + std::to_string(i) + "]=" + std::to_string(v[i]));
  }
  /// Edits the static dims of a stored shape (one Dim::toString per dim) as integers.
  void editShape(std::vector<std::string>& shape, const std::string& what) {
    std::vector<int64_t> v;
    for (const std::string& d : shape) {
      auto dim = Dim::parse(d);
      v.push_back(dim && dim->isStatic() ? dim->value() : 1);
    }
    editInts(v, what);
    shape.clear();
    for (int64_t d : v)
      shape.push_back(std::to_string(d));
  }
  /// Replaces one dim of a stored shape with a symbol, an expression or text that is no dim.
  void editShapeText(std::vector<std::string>& shape, const std::string& what) {
    static const char* kTexts[] = {"batch",
                                   "seq",
                                   "2*batch",
                                   "batch+1",
                                   "floor(batch/0)",
                                   "max(batch,seq)",
                                   "-1",
                                   "-batch",
                                   "",
                                   "(",
                                   "9999999999999999999",
                                   "%x",
                                   "batch*batch*batch*batch*batch"};
    const std::string text = kTexts[below(std::size(kTexts))];
    if (shape.empty())
      shape.push_back(text);
    else
      shape[below(shape.size())] = text;
    note(what + " dim='" + text + "'");
  }
  void editIds(std::vector<int32_t>& v, const fb::PlanDefT& def, const std::string& what) {
    if (v.empty() || chance(30)) {
      if (!v.empty() && chance(50)) {
        v.erase(v.begin() + static_cast<long>(below(v.size())));
        note(what + " erase");
      } else {
        v.push_back(tensorId(def));
        note(what + " push " + std::to_string(v.back()));
      }
      return;
    }
    const size_t i = below(v.size());
    if (chance(15) && v.size() > 1) {
      std::swap(v[i], v[below(v.size())]);
      note(what + " swap");
      return;
    }
    v[i] = tensorId(def);
    note(what + "[" + std::to_string(i) + "]=" + std::to_string(v[i]));
  }

  void editTensor(fb::PlanDefT& def) {
    if (def.tensors.empty()) return;
    const size_t i = below(def.tensors.size());
    fb::TensorDefT& t = *def.tensors[i];
    const std::string what = "tensor " + std::to_string(i) + " '" + t.name + "'";
    switch (below(8)) {
      case 0:
        t.dtype = interesting32(t.dtype);
        note(what + " dtype=" + std::to_string(t.dtype));
        break;
      case 1:
      case 2:
      case 3:
        editShape(t.shape, what + " shape");
        break;
      case 4:
        editShapeText(t.shape, what + " shape");
        break;
      case 5:
        t.name = chance(20) ? std::string() : def.tensors[below(def.tensors.size())]->name;
        note(what + " name='" + t.name + "'");
        break;
      case 6:
        if (chance(50))
          t.is_input = !t.is_input;
        else
          t.is_output = !t.is_output;
        note(what + " io flags");
        break;
      default:
        if (chance(50)) {
          def.tensors.resize(below(def.tensors.size()));
          note("tensors truncated to " + std::to_string(def.tensors.size()));
        } else {
          std::swap(def.tensors[i], def.tensors[below(def.tensors.size())]);
          note(what + " swapped with another tensor");
        }
        break;
    }
  }

  void editAttr(fb::PlanDefT& def, fb::LayerDefT& l, const std::string& lwhat) {
    if (l.attrs.empty() || chance(10)) {
      // Attributes of another layer (usually of another kind).
      const fb::LayerDefT& other = *def.layers[below(def.layers.size())];
      l.attrs.clear();
      for (const auto& a : other.attrs)
        l.attrs.push_back(std::make_unique<fb::AttrT>(*a));
      note(lwhat + " attrs copied from '" + other.name + "'");
      return;
    }
    const size_t k = below(l.attrs.size());
    fb::AttrT& a = *l.attrs[k];
    const std::string what = lwhat + " attr '" + a.name + "'";
    switch (below(8)) {
      case 0:
      case 1:
      case 2:
        editInts(a.ints, what);
        break;
      case 3:
        if (a.floats.empty() || chance(20))
          a.floats.push_back(interestingFloat());
        else
          a.floats[below(a.floats.size())] = interestingFloat();
        note(what + " float");
        break;
      case 4:
        a.weight = chance(50) ? static_cast<int32_t>(below(def.weights.size() + 1))
                              : interesting32(a.weight);
        note(what + " weight=" + std::to_string(a.weight));
        break;
      case 5:
        l.attrs.erase(l.attrs.begin() + static_cast<long>(k));
        note(what + " dropped");
        break;
      case 6:
        l.attrs.push_back(std::make_unique<fb::AttrT>(a));
        if (chance(50)) l.attrs.back()->name = "unknown";
        note(what + " duplicated");
        break;
      default:
        if (chance(50)) {
          a.ints.clear();
          a.floats = {interestingFloat()};
          note(what + " ints -> floats");
        } else {
          a.floats.clear();
          a.ints = {interesting(0)};
          note(what + " floats -> ints");
        }
        break;
    }
  }

  void editLayer(fb::PlanDefT& def) {
    if (def.layers.empty()) return;
    const size_t i = below(def.layers.size());
    fb::LayerDefT& l = *def.layers[i];
    const std::string what = "layer " + std::to_string(i) + " '" + l.name + "'";
    switch (below(12)) {
      case 0: {
        // Another kind, named consistently, running the reference tactic of that kind, so
        // that the edit reaches shape inference and the kernels.
        l.kind = chance(90) ? static_cast<int32_t>(below(kLayerKindCount)) : interesting32(l.kind);
        if (l.kind >= 0 && l.kind < kLayerKindCount && chance(90)) {
          const auto kind = static_cast<LayerKind>(l.kind);
          l.kind_name = layerKindName(kind);
          l.tactic = "reference." + snakeCase(layerKindName(kind));
          if (chance(70)) l.attrs = defaultAttrsOf(kind);
        }
        note(what + " kind=" + std::to_string(l.kind) + " " + l.kind_name);
        if (chance(50)) editAttr(def, l, what);
        break;
      }
      case 1:
      case 2:
      case 3:
      case 4:
        editAttr(def, l, what);
        break;
      case 5:
      case 6:
        editIds(l.inputs, def, what + " inputs");
        break;
      case 7:
        editIds(l.outputs, def, what + " outputs");
        break;
      case 8:
        l.tactic = def.layers[below(def.layers.size())]->tactic;
        note(what + " tactic=" + l.tactic);
        break;
      case 9:
        l.name = def.layers[below(def.layers.size())]->name;
        note(what + " name=" + l.name);
        break;
      default: {
        const size_t j = below(def.layers.size());
        switch (below(3)) {
          case 0:
            def.layers.erase(def.layers.begin() + static_cast<long>(i));
            note(what + " removed");
            break;
          case 1:
            def.layers.insert(def.layers.begin() + static_cast<long>(j),
                              std::make_unique<fb::LayerDefT>(l));
            note(what + " duplicated at " + std::to_string(j));
            break;
          default:
            std::swap(def.layers[i], def.layers[j]);
            note(what + " swapped with layer " + std::to_string(j));
            break;
        }
        break;
      }
    }
  }

  void editIO(fb::PlanDefT& def) {
    auto& list = chance(50) ? def.inputs : def.outputs;
    const std::string which = &list == &def.inputs ? "input" : "output";
    if (list.empty() || chance(20)) {
      if (!list.empty() && chance(50)) {
        list.erase(list.begin() + static_cast<long>(below(list.size())));
        note(which + " removed");
      } else {
        auto io = std::make_unique<fb::IODefT>();
        io->tensor = tensorId(def);
        note(which + " added: tensor " + std::to_string(io->tensor));
        list.push_back(std::move(io));
      }
      return;
    }
    fb::IODefT& io = *list[below(list.size())];
    if (chance(70)) {
      io.tensor = tensorId(def);
      note(which + " tensor=" + std::to_string(io.tensor));
    } else if (chance(50)) {
      editShape(io.source_shape, which + " source_shape");
    } else {
      editShapeText(io.source_shape, which + " source_shape");
    }
  }

  void editWeights(fb::PlanDefT& def) {
    if (def.weights.empty()) return;
    const size_t i = below(def.weights.size());
    fb::WeightRefT& w = *def.weights[i];
    const std::string what = "weights " + std::to_string(i);
    switch (below(7)) {
      case 0: {
        static const uint64_t kOffsets[] = {0,
                                            64,
                                            128,
                                            4096,
                                            UINT64_MAX,
                                            UINT64_MAX - 63,
                                            uint64_t{1} << 63,
                                            header_.weightsBytes,
                                            header_.weightsBytes - 64};
        w.offset = chance(50) ? kOffsets[below(std::size(kOffsets))]
                              : static_cast<uint64_t>(interesting(static_cast<int64_t>(w.offset)));
        note(what + " offset=" + std::to_string(w.offset));
        break;
      }
      case 1:
        w.bytes = static_cast<uint64_t>(interesting(static_cast<int64_t>(w.bytes)));
        note(what + " bytes=" + std::to_string(w.bytes));
        break;
      case 2:
        w.dtype = interesting32(w.dtype);
        note(what + " dtype=" + std::to_string(w.dtype));
        break;
      case 3:
        editInts(w.dims, what + " dims");
        break;
      case 4:
        def.weights.resize(below(def.weights.size()));
        note("weights truncated to " + std::to_string(def.weights.size()));
        break;
      default:
        reshapeConstant(def);
        break;
    }
  }

  /// Gives a constant new dims of no more bytes, consistently in its weights record and its
  /// tensor, so that the plan passes the constant checks and the edit reaches shape inference
  /// and the kernels of its consumers.
  void reshapeConstant(fb::PlanDefT& def) {
    std::vector<size_t> constants;
    for (size_t i = 0; i < def.layers.size(); ++i)
      if (def.layers[i]->kind == static_cast<int32_t>(LayerKind::kConstant)) constants.push_back(i);
    if (constants.empty()) return;
    fb::LayerDefT& l = *def.layers[constants[below(constants.size())]];
    if (l.attrs.empty() || l.outputs.empty()) return;
    const int32_t wi = l.attrs[0]->weight;
    const int32_t ti = l.outputs[0];
    if (wi < 0 || static_cast<size_t>(wi) >= def.weights.size() || ti < 0 ||
        static_cast<size_t>(ti) >= def.tensors.size())
      return;
    fb::WeightRefT& w = *def.weights[wi];
    std::vector<int64_t> dims = w.dims;
    switch (below(4)) {
      case 0:
        if (!dims.empty()) dims.pop_back();
        break;
      case 1:
        dims.push_back(1);
        break;
      case 2:
        if (!dims.empty()) dims[below(dims.size())] = 0;
        break;
      default:
        if (!dims.empty()) {
          int64_t& d = dims[below(dims.size())];
          d = d > 1 ? d / 2 : d;
        }
        break;
    }
    auto bytes = byteSize(static_cast<DataType>(w.dtype), dims, "mutant");
    if (!bytes || *bytes > w.bytes) return;
    w.dims = dims;
    w.bytes = *bytes;
    def.tensors[ti]->shape.clear();
    for (int64_t d : dims)
      def.tensors[ti]->shape.push_back(std::to_string(d));
    note("constant '" + l.name + "' reshaped to " + dimsToString(dims));
  }

  /// Changes one element of a small integer constant (a shape, axes or indices param) in the
  /// weights region itself.
  void editParamValue(const fb::PlanDefT& def, std::vector<uint8_t>& file) {
    std::vector<const fb::WeightRefT*> ints;
    for (const auto& w : def.weights)
      if ((w->dtype == static_cast<int32_t>(DataType::kInt64) ||
           w->dtype == static_cast<int32_t>(DataType::kInt32)) &&
          w->bytes > 0 && w->bytes <= 64)
        ints.push_back(w.get());
    if (ints.empty()) return;
    const fb::WeightRefT& w = *ints[below(ints.size())];
    PlanHeader h;
    std::memcpy(&h, file.data(), sizeof h);
    const size_t elem = w.dtype == static_cast<int32_t>(DataType::kInt64) ? 8 : 4;
    const uint64_t at = h.weightsOffset + w.offset + below(w.bytes / elem) * elem;
    if (at + elem > file.size()) return;
    int64_t v = 0;
    if (elem == 8) {
      std::memcpy(&v, file.data() + at, 8);
      v = interesting(v);
      std::memcpy(file.data() + at, &v, 8);
    } else {
      int32_t v32;
      std::memcpy(&v32, file.data() + at, 4);
      v32 = static_cast<int32_t>(interesting(v32));
      std::memcpy(file.data() + at, &v32, 4);
      v = v32;
    }
    note("param value at weights offset " + std::to_string(w.offset) + " = " + std::to_string(v));
  }

  void editPlan(fb::PlanDefT& def) {
    switch (below(4)) {
      case 0:
      case 1:
        def.arena_bytes =
            chance(30) ? def.arena_bytes / 2
                       : static_cast<uint64_t>(interesting(static_cast<int64_t>(def.arena_bytes)));
        note("arena_bytes=" + std::to_string(def.arena_bytes));
        break;
      case 2:
        def.activation_bytes = static_cast<uint64_t>(interesting(0));
        note("activation_bytes");
        break;
      default:
        if (chance(50)) def.build_log.clear();
        def.source = chance(50) ? std::string() : std::string(300, 'x');
        note("source / build log");
        break;
    }
  }

  void editStructure(fb::PlanDefT& def) {
    switch (below(20)) {
      case 0:
      case 1:
      case 2:
      case 3:
        editTensor(def);
        break;
      case 4:
      case 5:
      case 6:
      case 7:
      case 8:
      case 9:
      case 10:
        editLayer(def);
        break;
      case 11:
      case 12:
        editIO(def);
        break;
      case 13:
      case 14:
      case 15:
      case 16:
        editWeights(def);
        break;
      default:
        editPlan(def);
        break;
    }
  }

  void editBytes(std::vector<uint8_t>& b) {
    // Positions come from the original header: an earlier edit may have changed b's.
    PlanHeader h = header_;
    const size_t metaEnd = static_cast<size_t>(h.metaOffset + h.metaBytes);
    switch (below(10)) {
      case 0: {
        // A header section field.
        std::memcpy(&h, b.data(), sizeof h);
        uint64_t* fields[] = {&h.metaOffset, &h.metaBytes, &h.weightsOffset, &h.weightsBytes};
        const size_t k = below(std::size(fields));
        *fields[k] = static_cast<uint64_t>(interesting(static_cast<int64_t>(*fields[k])));
        std::memcpy(b.data(), &h, sizeof h);
        note("header field " + std::to_string(k) + "=" + std::to_string(*fields[k]));
        break;
      }
      case 1: {
        // An aligned 32-bit word of the metadata (offsets, lengths, scalars).
        const size_t at = (h.metaOffset + below(h.metaBytes / 4) * 4);
        int32_t v;
        std::memcpy(&v, b.data() + at, 4);
        v = static_cast<int32_t>(interesting(v));
        std::memcpy(b.data() + at, &v, 4);
        note("meta word at " + std::to_string(at) + "=" + std::to_string(v));
        break;
      }
      case 2: {
        // An aligned 64-bit word of the metadata (dims, offsets, sizes).
        if (h.metaBytes < 8) break;
        const size_t at = (h.metaOffset + below(h.metaBytes / 8) * 8);
        int64_t v;
        std::memcpy(&v, b.data() + at, 8);
        v = interesting(v);
        std::memcpy(b.data() + at, &v, 8);
        note("meta dword at " + std::to_string(at) + "=" + std::to_string(v));
        break;
      }
      case 3: {
        // Truncated metadata: a smaller metaBytes.
        std::memcpy(&h, b.data(), sizeof h);
        h.metaBytes = below(header_.metaBytes);
        std::memcpy(b.data(), &h, sizeof h);
        note("metaBytes=" + std::to_string(h.metaBytes));
        break;
      }
      default: {
        const size_t at = h.metaOffset + below(metaEnd - h.metaOffset);
        b[at] ^= static_cast<uint8_t>(1u << below(8));
        note("bit flip at " + std::to_string(at));
        break;
      }
    }
  }

  const std::vector<uint8_t>& plan_;
  PlanHeader header_{};
  std::unique_ptr<fb::PlanDefT> original_;
  std::mt19937_64 rng_;
};

struct Tally {
  int refused = 0;
  int loaded = 0;
  int contexts = 0;
  int ran = 0;
  std::map<StatusCode, int> codes;
  /// Error messages with names and numbers blanked, for KILN_MUTATION_VERBOSE's summary of what
  /// the mutants run into.
  std::map<std::string, int> kinds;
};

std::string messageKind(const std::string& m) {
  std::string out;
  bool quoted = false;
  for (char c : m) {
    if (c == '\'') {
      quoted = !quoted;
      if (quoted) out += "'_'";
      continue;
    }
    if (quoted) continue;
    if (c >= '0' && c <= '9') {
      if (out.empty() || out.back() != '#') out += '#';
      continue;
    }
    out += c;
  }
  return out.substr(0, 90);
}

/// An error from a hostile plan: a message, and never an internal error (an escaped exception
/// or a broken invariant).
void expectCleanError(const Status& s, const std::string& stage, const std::string& log,
                      Tally& tally) {
  ++tally.codes[s.code()];
  ++tally.kinds[stage + ": " + messageKind(s.message())];
  EXPECT_FALSE(s.message().empty()) << stage << " after: " << log;
  EXPECT_NE(s.code(), StatusCode::kInternal) << stage << ": " << s.toString() << "\nafter: " << log;
}

void tryMutant(const std::vector<uint8_t>& bytes, const std::string& log, Tally& tally) {
  auto engine = Runtime::deserialize(bytes.data(), bytes.size(), "mutant.plan");
  if (!engine) {
    ++tally.refused;
    expectCleanError(engine.status(), "load", log, tally);
    return;
  }
  ++tally.loaded;
  const Engine& e = **engine;
  (void)e.layers();
  (void)e.memory();
  // A loaded engine is valid: it serializes to a plan that loads again.
  auto again = e.serialize();
  ASSERT_TRUE(again.hasValue()) << again.status().toString() << "\nafter: " << log;
  auto reloaded = Runtime::deserialize(again->data(), again->size(), "reserialized.plan");
  EXPECT_TRUE(reloaded.hasValue()) << reloaded.status().toString() << "\nafter: " << log;

  auto ctx = e.createExecutionContext();
  if (!ctx) {
    expectCleanError(ctx.status(), "context", log, tally);
    return;
  }
  ++tally.contexts;
  uint64_t ioBytes = 0;
  for (const auto* list : {&e.inputs(), &e.outputs()})
    for (const IOTensorInfo& io : *list)
      ioBytes += io.bytes();
  if (ioBytes > kMaxRunBytes) return;
  std::vector<Weights> buffers;
  for (const IOTensorInfo& io : e.inputs()) {
    auto w = Weights::zeros(io.dtype, io.dims, io.name);
    ASSERT_TRUE(w.hasValue()) << w.status().toString();
    ASSERT_TRUE((*ctx)->setInputTensor(io.name, w->data(), w->bytes(), io.dtype).isOk()) << log;
    buffers.push_back(std::move(w).value());
  }
  for (const IOTensorInfo& io : e.outputs()) {
    auto w = Weights::zeros(io.dtype, io.dims, io.name);
    ASSERT_TRUE(w.hasValue()) << w.status().toString();
    ASSERT_TRUE((*ctx)->setTensorAddress(io.name, w->mutableData(), w->bytes(), io.dtype).isOk())
        << log;
    buffers.push_back(std::move(w).value());
  }
  Status s = (*ctx)->execute();
  if (s.isOk())
    ++tally.ran;
  else
    expectCleanError(s, "execute", log, tally);
}

/// The plans of the shared models, built once.
struct Plans {
  std::vector<uint8_t> digits;
  std::vector<uint8_t> transformer;
};

/// The plan of a shared model, for the shapes of its stored inputs (as models_test does), or
/// with every dimension symbol set to 1 when `unitSymbols`.
std::vector<uint8_t> buildPlan(const std::string& model, bool unitSymbols) {
  const std::string dir = test::modelDir(model);
  auto net = OnnxParser::parseFile(dir + "/model.onnx");
  EXPECT_TRUE(net.hasValue()) << net.status().toString();
  if (!net) return {};
  auto inputs = test::readSet(dir + "/test_data_set_0", "input");
  Expected<std::shared_ptr<Engine>> engine = internalError("not built");
  if (unitSymbols) {
    BuilderConfig config;
    for (TensorId t : net->inputs())
      for (const Dim& d : net->tensor(t).shape)
        if (d.isSymbol()) config.symbols[d.symbol()] = 1;
    engine = Builder::build(*net, config);
  } else {
    engine = test::buildFor(*net, inputs);
  }
  EXPECT_TRUE(engine.hasValue()) << engine.status().toString();
  if (!engine) return {};
  auto bytes = (*engine)->serialize();
  EXPECT_TRUE(bytes.hasValue()) << bytes.status().toString();
  return bytes ? *bytes : std::vector<uint8_t>{};
}

const Plans& plans() {
  // Digits at batch 1 (runs fast); gpt2 at the shapes of its stored input.
  static const Plans p{buildPlan("digits_resnet", true), buildPlan("gpt2_tiny", false)};
  return p;
}

void runMutants(const std::vector<uint8_t>& plan, const std::string& model, int count,
                uint64_t seed) {
  ASSERT_FALSE(plan.empty()) << model;
  Mutator m(plan, seed);
  const bool verbose = std::getenv("KILN_MUTATION_VERBOSE") != nullptr;
  Tally tally;
  std::vector<uint8_t> mutant;
  for (int i = 0; i < count; ++i) {
    m.next(mutant);
    if (verbose) std::fprintf(stderr, "%s mutant %d: %s\n", model.c_str(), i, m.log.c_str());
    tryMutant(mutant, m.log, tally);
    if (::testing::Test::HasFatalFailure()) return;
  }
  if (verbose)
    for (const auto& [kind, n] : tally.kinds)
      std::fprintf(stderr, "%6d  %s\n", n, kind.c_str());
  std::string codes;
  for (const auto& [code, n] : tally.codes)
    codes +=
        std::string(codes.empty() ? "" : ", ") + statusCodeName(code) + " " + std::to_string(n);
  std::printf(
      "[ mutants  ] %s: %d mutants: %d refused, %d loaded, %d got a context, %d ran; "
      "errors: %s\n",
      model.c_str(), count, tally.refused, tally.loaded, tally.contexts, tally.ran, codes.c_str());
  // The mutator reaches both outcomes: most edits are refused, some leave a valid engine
  // (names, floats, arena slack...).
  EXPECT_GT(tally.refused, count / 4) << model;
  EXPECT_GT(tally.ran, 0) << model;
}

// ---- the hostile plans of the issue, one by one, with their messages ----

/// The digits plan with `edit` applied to its metadata, resealed.
template <class F>
std::vector<uint8_t> edited(F edit) {
  const std::vector<uint8_t>& plan = plans().digits;
  PlanHeader h;
  std::memcpy(&h, plan.data(), sizeof h);
  auto def = fb::UnPackPlanDef(plan.data() + h.metaOffset);
  edit(*def);
  return pack(plan, *def);
}

Status load(const std::vector<uint8_t>& bytes) {
  return Runtime::deserialize(bytes.data(), bytes.size(), "hostile.plan").status();
}

void expectRefused(const Status& s, std::initializer_list<const char*> parts) {
  EXPECT_EQ(s.code(), StatusCode::kCorruptPlan) << s.toString();
  EXPECT_NE(s.message().find("'hostile.plan'"), std::string::npos) << s.message();
  for (const char* part : parts)
    EXPECT_NE(s.message().find(part), std::string::npos) << "'" << part << "' in " << s.message();
}

fb::LayerDefT& firstLayer(fb::PlanDefT& def, LayerKind kind) {
  for (auto& l : def.layers)
    if (l->kind == static_cast<int32_t>(kind)) return *l;
  ADD_FAILURE() << "no " << layerKindName(kind) << " layer";
  return *def.layers[0];
}

void dropAttr(fb::LayerDefT& l, const std::string& name) {
  const size_t before = l.attrs.size();
  std::erase_if(l.attrs, [&](const auto& a) { return a->name == name; });
  EXPECT_EQ(l.attrs.size() + 1, before) << name;
}

TEST(HostilePlan, WeightsRecordSmallerThanItsTensor) {
  Status s = load(edited([](fb::PlanDefT& def) {
    fb::LayerDefT& c = firstLayer(def, LayerKind::kConstant);
    fb::WeightRefT& w = *def.weights[static_cast<size_t>(c.attrs[0]->weight)];
    ASSERT_GE(w.dims.size(), 1u);
    ASSERT_GT(w.dims[0], 1);
    w.dims[0] = 1;  // consistent with its byte count, smaller than the tensor
    w.bytes = *byteSize(static_cast<DataType>(w.dtype), w.dims, "w");
  }));
  expectRefused(s, {"constant layer", "weights but its tensor"});
}

TEST(HostilePlan, WeightsOffsetThatWraps) {
  Status s = load(edited([](fb::PlanDefT& def) { def.weights[0]->offset = UINT64_MAX - 63; }));
  expectRefused(s, {"weights record 0", "outside the weights region"});
}

TEST(HostilePlan, WeightsWithAWrongSize) {
  Status s = load(edited([](fb::PlanDefT& def) { def.weights[0]->bytes -= 4; }));
  expectRefused(s, {"weights record 0", "needs"});
}

TEST(HostilePlan, MetadataOffsetPlusSizeThatWraps) {
  for (uint64_t metaBytes : {UINT64_MAX - 63, UINT64_MAX, uint64_t{1} << 63}) {
    std::vector<uint8_t> b = plans().digits;
    PlanHeader h;
    std::memcpy(&h, b.data(), sizeof h);
    h.metaBytes = metaBytes;
    std::memcpy(b.data(), &h, sizeof h);
    reseal(b);
    Status s = Runtime::deserialize(b.data(), b.size(), "hostile.plan").status();
    expectRefused(s, {"inconsistent section offsets"});
  }
  std::vector<uint8_t> b = plans().digits;
  PlanHeader h;
  std::memcpy(&h, b.data(), sizeof h);
  // weightsOffset + weightsBytes wraps around to the file size.
  h.weightsOffset = UINT64_MAX - 63;
  h.weightsBytes = b.size() + 64;
  std::memcpy(b.data(), &h, sizeof h);
  reseal(b);
  expectRefused(load(b), {"inconsistent section offsets"});
}

TEST(HostilePlan, ShuffleWithoutItsMode) {
  Status s = load(
      edited([](fb::PlanDefT& def) { dropAttr(firstLayer(def, LayerKind::kShuffle), "mode"); }));
  expectRefused(s, {"(Shuffle)", "attribute 'mode' is missing"});
}

TEST(HostilePlan, ConstantWithoutItsValue) {
  Status s = load(
      edited([](fb::PlanDefT& def) { dropAttr(firstLayer(def, LayerKind::kConstant), "value"); }));
  expectRefused(s, {"(Constant)", "attribute 'value' is missing"});
}

TEST(HostilePlan, AttributesRepeatedUnknownOrMalformed) {
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  auto& l = firstLayer(def, LayerKind::kConvolution);
                  l.attrs.push_back(std::make_unique<fb::AttrT>(*l.attrs[0]));
                })),
                {"appears twice"});
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  auto& l = firstLayer(def, LayerKind::kConvolution);
                  l.attrs.push_back(std::make_unique<fb::AttrT>(*l.attrs[0]));
                  l.attrs.back()->name = "bogus";
                })),
                {"unexpected attributes"});
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  for (auto& a : firstLayer(def, LayerKind::kConvolution).attrs)
                    if (a->name == "group") a->ints = {1, 1};
                })),
                {"attribute 'group' is malformed"});
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  for (auto& a : firstLayer(def, LayerKind::kConvolution).attrs)
                    if (a->name == "padding") a->ints = {99};
                })),
                {"attribute 'padding' has out-of-range value 99"});
}

TEST(HostilePlan, AttributesOutOfRangeAreRefusedByShapeInference) {
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  for (auto& a : firstLayer(def, LayerKind::kConvolution).attrs)
                    if (a->name == "group") a->ints = {-2};
                })),
                {"group must be >= 1"});
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  for (auto& a : firstLayer(def, LayerKind::kConvolution).attrs)
                    if (a->name == "strides") a->ints = {0, 0};
                })),
                {"strides"});
}

TEST(HostilePlan, LayerInputsMissingOrOutOfRange) {
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  firstLayer(def, LayerKind::kConvolution).inputs.resize(1);
                })),
                {"expected 2 to 4 inputs"});
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  firstLayer(def, LayerKind::kConvolution).inputs[1] = 100000;
                })),
                {"tensor id 100000"});
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  firstLayer(def, LayerKind::kConvolution).inputs[1] = -1;  // absent
                })),
                {"input 1 is required but absent"});
}

TEST(HostilePlan, StoredShapesMustBeTheInferredOnes) {
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  auto& l = firstLayer(def, LayerKind::kConvolution);
                  auto& shape = def.tensors[static_cast<size_t>(l.outputs[0])]->shape;
                  shape.back() = std::to_string(std::stoll(shape.back()) + 1);
                })),
                {"inconsistent with its inputs"});
  // A tensor whose byte size overflows.
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  def.tensors.back()->shape = {"1099511627776", "1099511627776"};
                })),
                {"overflows"});
}

TEST(HostilePlan, TacticOfAnotherKind) {
  expectRefused(load(edited([](fb::PlanDefT& def) {
                  firstLayer(def, LayerKind::kConvolution).tactic =
                      firstLayer(def, LayerKind::kPooling).tactic;
                })),
                {"implements Pooling layers"});
}

TEST(HostilePlan, AMalformedShapeIsRefused) {
  for (const char* text : {"(", "", "-1", "9999999999999999999"})
    expectRefused(load(edited([&](fb::PlanDefT& def) { def.tensors.back()->shape = {text}; })),
                  {"malformed shape"});
}

TEST(HostilePlan, TheArenaLimitItRecordsIsEnforced) {
  // A plan's memory limit is honoured as recorded: an arena above it is an out-of-memory error
  // naming the arena, never an allocation.
  auto b = edited([](fb::PlanDefT& def) { def.max_arena_bytes = 1; });
  auto engine = Runtime::deserialize(b.data(), b.size(), "hostile.plan");
  ASSERT_FALSE(engine.hasValue());
  EXPECT_EQ(engine.status().code(), StatusCode::kOutOfMemory) << engine.status().toString();
  EXPECT_NE(engine.status().message().find("arena"), std::string::npos)
      << engine.status().message();
}

TEST(PlanMutation, UnpackedAndRepackedPlansLoad) {
  // The control: the FlatBuffers round trip the structure-aware mutator uses changes nothing
  // the loader cares about (it omits empty vectors and strings, which read as empty).
  for (const auto* plan : {&plans().digits, &plans().transformer}) {
    ASSERT_FALSE(plan->empty());
    PlanHeader h;
    std::memcpy(&h, plan->data(), sizeof h);
    auto def = fb::UnPackPlanDef(plan->data() + h.metaOffset);
    std::vector<uint8_t> repacked = pack(*plan, *def);
    auto e = Runtime::deserialize(repacked.data(), repacked.size(), "repacked.plan");
    ASSERT_TRUE(e.hasValue()) << e.status().toString();
    Tally tally;
    tryMutant(repacked, "(none)", tally);
    EXPECT_EQ(tally.ran, 1);
  }
}

TEST(PlanMutation, DigitsResnet) {
  runMutants(plans().digits, "digits_resnet", kDigitsMutants, 0x6b696c6e01);
}

TEST(PlanMutation, Gpt2Tiny) {
  runMutants(plans().transformer, "gpt2_tiny", kTransformerMutants, 0x6b696c6e02);
}

/// Opt-in: KILN_PLAN_MUTATIONS=N runs N more mutants per model, with other seeds.
TEST(PlanMutation, LongRun) {
  const char* n = std::getenv("KILN_PLAN_MUTATIONS");
  if (!n) GTEST_SKIP() << "set KILN_PLAN_MUTATIONS=N to run N mutants per model";
  const int count = std::atoi(n);
  runMutants(plans().digits, "digits_resnet", count, 0x6b696c6e11);
  runMutants(plans().transformer, "gpt2_tiny", count, 0x6b696c6e12);
}

}  // namespace
}  // namespace kiln
