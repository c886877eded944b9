// kiln — cpu MatrixMultiply through oneDNN's matmul primitive: y = A @ B (+ C), batched with
// numpy broadcasting of the batch dims, MatMul's 1-D promotion, Gemm's transposes (as strides,
// no copy), C as the primitive's bias when it is a row vector and as a binary-add post-op
// otherwise. A constant B is reordered once per shape into the layout oneDNN prefers. oneDNN
// runs single-threaded inside kiln's pool: a 2-D product with a constant B splits by rows, one
// primitive per slice, all reading the one packed B. This is the tactic that takes fused
// post-ops.
#include <algorithm>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/onednn.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/post_op_hooks.h"

namespace kiln::cpu {
namespace {

class OnednnMatMulKernel final : public CpuKernel {
 public:
  OnednnMatMulKernel(const LayerDesc& desc, std::vector<PostOp> postOps)
      : CpuKernel(desc), postOps_(std::move(postOps)) {
    constantB_ = desc.constantInputs.size() > 1 ? desc.constantInputs[1] : nullptr;
  }

 private:
  Status reshaped() override {
    const auto& at = attrs<MatrixMultiplyAttrs>();
    const Dims& a = in_[0].dims;
    const Dims& b = in_[1].dims;
    const Dims& y = out_[0].dims;
    const std::string shapes =
        "A" + dimsToString(a) + ", B" + dimsToString(b) + ", y" + dimsToString(y);
    if (a.empty() || b.empty())
      return decline(desc_, "A and B must not be scalars (" + shapes + ")");
    const bool a1 = a.size() == 1, b1 = b.size() == 1;
    const bool transA = at.transA && !a1, transB = at.transB && !b1;
    const size_t ra = a.size(), rb = b.size();
    const int64_t m = a1 ? 1 : (transA ? a[ra - 1] : a[ra - 2]);
    const int64_t k = a1 ? a[0] : (transA ? a[ra - 2] : a[ra - 1]);
    const int64_t kb = b1 ? b[0] : (transB ? b[rb - 1] : b[rb - 2]);
    const int64_t n = b1 ? 1 : (transB ? b[rb - 2] : b[rb - 1]);
    if (kb != k) return layerError(desc_, "inner dims differ (" + shapes + ")");
    const size_t matRank = (a1 ? 0 : 1) + (b1 ? 0 : 1);
    if (y.size() < matRank) return layerError(desc_, "output rank too small (" + shapes + ")");
    size_t batchRank = y.size() - matRank;
    const Dims batch(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(batchRank));
    size_t r = batchRank + 2;
    if (r > 12) return decline(desc_, "more than 12 dims (" + shapes + ")");
    // Operand dims padded to rank r: batch dims right-aligned, missing ones 1.
    auto padded = [&](const Dims& src, size_t srcBatch, int64_t rows, int64_t cols) {
      Dims d(r, 1);
      for (size_t i = 0; i < srcBatch; ++i)
        d[batchRank - srcBatch + i] = src[i];
      d[r - 2] = rows;
      d[r - 1] = cols;
      return d;
    };
    // Strides of a (possibly transposed) row-major matrix stack.
    auto strides = [&](const Dims& d, bool trans) {
      Dims s(r, 0);
      const int64_t rows = d[r - 2], cols = d[r - 1];
      s[r - 2] = trans ? 1 : cols;
      s[r - 1] = trans ? rows : 1;
      int64_t acc = rows * cols;
      for (size_t i = r - 2; i-- > 0;) {
        s[i] = acc;
        acc *= d[i];
      }
      return s;
    };
    const size_t aBatch = a1 ? 0 : ra - 2, bBatch = b1 ? 0 : rb - 2;
    if (aBatch > batchRank || bBatch > batchRank)
      return layerError(desc_, "batch dims do not broadcast (" + shapes + ")");
    Dims aD = padded(a, aBatch, m, k), bD = padded(b, bBatch, k, n), yD = padded(y, 0, m, n);
    for (size_t i = 0; i < batchRank; ++i)
      yD[i] = batch[i];
    for (size_t i = 0; i < batchRank; ++i)
      if ((aD[i] != yD[i] && aD[i] != 1) || (bD[i] != yD[i] && bD[i] != 1))
        return layerError(desc_, "batch dims do not broadcast (" + shapes + ")");

    // A stack of row-major A times one B is one GEMM with the batch folded into M (oneDNN's
    // batched path would repack B per batch entry): [b.., M, K] @ [K, N] -> [b.. * M, N].
    bool bShared = true;
    for (size_t i = 0; i < batchRank; ++i)
      bShared = bShared && bD[i] == 1 && aD[i] == yD[i];
    const bool cFoldable = !desc_.hasInput(2) || [&] {
      const Dims& c = in_[2].dims;
      for (size_t i = 0; i + 1 < c.size(); ++i)
        if (c[i] != 1) return false;
      return true;
    }();
    if (batchRank > 0 && bShared && !transA && cFoldable) {
      int64_t rows = m;
      for (size_t i = 0; i < batchRank; ++i)
        rows *= yD[i];
      aD = {rows, k};
      bD = {k, n};
      yD = {rows, n};
      batchRank = 0;
      r = 2;
    }
    using md = dnnl::memory::desc;
    md aMd = stridedDesc(aD, strides(aD, transA));
    md bUser = stridedDesc(bD, strides(bD, transB));
    md yMd = plainDesc(yD);
    md bMd = constantB_
                 ? md(bUser.get_dims(), dnnl::memory::data_type::f32, dnnl::memory::format_tag::any)
                 : bUser;
    md biasMd;
    hasBias_ = hasC_ = false;
    std::vector<PostOp> ops = postOps_;
    dnnl::post_ops po;
    if (desc_.hasInput(2)) {
      if (at.beta != 1.0f) return decline(desc_, "beta != 1 is not fused");
      Dims c = in_[2].dims;
      while (c.size() > r && c.front() == 1)
        c.erase(c.begin());
      if (c.size() > r) return layerError(desc_, "C has more dims than y (" + shapes + ")");
      Dims cD(r, 1);
      std::copy(c.begin(), c.end(), cD.end() - static_cast<std::ptrdiff_t>(c.size()));
      for (size_t i = 0; i < r; ++i)
        if (cD[i] != 1 && cD[i] != yD[i])
          return layerError(desc_, "C" + dimsToString(c) + " does not broadcast to y");
      bool rowVector = true;
      for (size_t i = 0; i + 1 < r; ++i)
        rowVector = rowVector && cD[i] == 1;
      if (rowVector) {
        biasMd = plainDesc(cD);
        hasBias_ = true;
      } else {
        cMd_ = plainDesc(cD);
        hasC_ = true;
      }
    }
    if (at.alpha != 1.0f) return decline(desc_, "alpha != 1 is not fused");
    KILN_ASSIGN_OR_RETURN(po, makePostOps(ops));
    if (hasC_) po.append_binary(dnnl::algorithm::binary_add, cMd_);
    try {
      useOneDnnThreadCount();
      dnnl::primitive_attr attr;
      attr.set_post_ops(po);
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      pd_ = hasBias_ ? dnnl::matmul::primitive_desc(dnnlEngine(), aMd, bMd, biasMd, yMd, attr)
                     : dnnl::matmul::primitive_desc(dnnlEngine(), aMd, bMd, yMd, attr);
      prim_ = dnnl::matmul(pd_);
      needWorkspace(pd_.scratchpad_desc().get_size());
      aMem_ = dnnl::memory(aMd, dnnlEngine(), nullptr);
      yMem_ = dnnl::memory(yMd, dnnlEngine(), nullptr);
      bMem_ = dnnl::memory(pd_.weights_desc(), dnnlEngine(), nullptr);
      if (hasBias_) biasMem_ = dnnl::memory(biasMd, dnnlEngine(), nullptr);
      if (hasC_) cMem_ = dnnl::memory(cMd_, dnnlEngine(), nullptr);
      scratch_ = dnnl::memory(pd_.scratchpad_desc(), dnnlEngine(), nullptr);
      packedB_ = false;
      if (constantB_) {
        // Pack once per shape (kept when the new shape wants the same packed layout).
        if (!(packedDesc_ == pd_.weights_desc())) {
          dnnl::memory src(bUser, dnnlEngine(), const_cast<void*>(constantB_->data()));
          packed_ = dnnl::memory(pd_.weights_desc(), dnnlEngine());
          dnnl::stream s(dnnlEngine());
          dnnl::reorder(src, packed_).execute(s, src, packed_);
          s.wait();
          packedDesc_ = pd_.weights_desc();
        }
        packedB_ = true;
      }
      if (!stream_) stream_ = std::make_unique<dnnl::stream>(dnnlEngine());
    } catch (const dnnl::error& e) {
      return dnnlError(desc_, e, "creating the matmul primitive for " + shapes);
    }
    try {
      // A plain 2-D A with packed B is split over the threads. Few rows: by columns, each
      // slice packing and reading only its own columns of B (a split by rows would have every
      // thread read all of B, which bounds small-M GEMMs such as a language-model head by
      // memory traffic). Otherwise by rows, each slice reading the same packed B (forced to
      // the whole primitive's layout).
      slices_.clear();
      const int64_t rows = aD[0];
      const double macs = static_cast<double>(rows) * static_cast<double>(n) * k;
      const int t = threadsFor(threads_, macs, kMacsPerThread);
      const bool splittable = r == 2 && !transA && packedB_ && !hasC_ && t > 1;
      const bool byColumns = splittable && rows < 128 && n >= 64 * t;
      if (byColumns) {
        const int64_t per = ((n + t - 1) / t + 15) / 16 * 16;
        size_t ws = 0;
        for (int64_t c0 = 0; c0 < n; c0 += per) {
          Slice sl;
          sl.col0 = c0;
          const int64_t cnt = std::min(per, n - c0);
          md sa = stridedDesc({rows, k}, {k, 1}), sy = stridedDesc({rows, cnt}, {n, 1});
          md sbUser = stridedDesc({k, cnt}, transB ? Dims{1, k} : Dims{n, 1});
          md sbAny({k, cnt}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
          md sbias = hasBias_ ? plainDesc({1, cnt}) : md();
          dnnl::primitive_attr attr;
          attr.set_post_ops(po);
          attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
          sl.pd = hasBias_ ? dnnl::matmul::primitive_desc(dnnlEngine(), sa, sbAny, sbias, sy, attr)
                           : dnnl::matmul::primitive_desc(dnnlEngine(), sa, sbAny, sy, attr);
          sl.prim = dnnl::matmul(sl.pd);
          const float* bSrc =
              static_cast<const float*>(constantB_->data()) + (transB ? c0 * k : c0);
          dnnl::memory src(sbUser, dnnlEngine(), const_cast<float*>(bSrc));
          sl.packed = dnnl::memory(sl.pd.weights_desc(), dnnlEngine());
          dnnl::stream st(dnnlEngine());
          dnnl::reorder(src, sl.packed).execute(st, src, sl.packed);
          st.wait();
          sl.a = dnnl::memory(sa, dnnlEngine(), nullptr);
          sl.y = dnnl::memory(sy, dnnlEngine(), nullptr);
          sl.scratch = dnnl::memory(sl.pd.scratchpad_desc(), dnnlEngine(), nullptr);
          sl.bias = hasBias_ ? dnnl::memory(sbias, dnnlEngine(), nullptr) : dnnl::memory();
          sl.stream = std::make_unique<dnnl::stream>(dnnlEngine());
          sl.wsOffset = ws;
          ws += (sl.pd.scratchpad_desc().get_size() + 63) / 64 * 64;
          slices_.push_back(std::move(sl));
        }
        rowElems_ = {k, n};
        needWorkspace(ws);
      } else if (splittable && rows >= 16) {
        const int64_t per = ((rows + t - 1) / t + 7) / 8 * 8;
        size_t ws = 0;
        for (int64_t r0 = 0; r0 < rows; r0 += per) {
          Slice sl;
          sl.row0 = r0;
          const int64_t cnt = std::min(per, rows - r0);
          md sa = stridedDesc({cnt, k}, {k, 1}), sy = plainDesc({cnt, n});
          dnnl::primitive_attr attr;
          attr.set_post_ops(po);
          attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
          sl.pd = hasBias_ ? dnnl::matmul::primitive_desc(dnnlEngine(), sa, packedDesc_, biasMd, sy,
                                                          attr)
                           : dnnl::matmul::primitive_desc(dnnlEngine(), sa, packedDesc_, sy, attr);
          sl.prim = dnnl::matmul(sl.pd);
          sl.a = dnnl::memory(sa, dnnlEngine(), nullptr);
          sl.y = dnnl::memory(sy, dnnlEngine(), nullptr);
          sl.scratch = dnnl::memory(sl.pd.scratchpad_desc(), dnnlEngine(), nullptr);
          sl.bias = hasBias_ ? dnnl::memory(biasMd, dnnlEngine(), nullptr) : dnnl::memory();
          sl.stream = std::make_unique<dnnl::stream>(dnnlEngine());
          sl.wsOffset = ws;
          ws += (sl.pd.scratchpad_desc().get_size() + 63) / 64 * 64;
          slices_.push_back(std::move(sl));
        }
        rowElems_ = {k, n};
        needWorkspace(ws);
      }
    } catch (const dnnl::error& e) {
      slices_.clear();  // a slice primitive that oneDNN refuses: run unsplit
      needWorkspace(pd_.scratchpad_desc().get_size());
    }
    return Status::ok();
  }

  Status computeSlices() {
    std::vector<std::string> errors(slices_.size());
    runChunks(threads_, static_cast<int64_t>(slices_.size()), [&](int64_t i) {
      useOneDnnThreadCount();
      Slice& sl = slices_[static_cast<size_t>(i)];
      try {
        sl.a.set_data_handle(
            const_cast<float*>(static_cast<const float*>(inPtr_[0]) + sl.row0 * rowElems_[0]));
        sl.y.set_data_handle(static_cast<float*>(outPtr_[0]) + sl.row0 * rowElems_[1] + sl.col0);
        sl.scratch.set_data_handle(static_cast<uint8_t*>(workspace_) + sl.wsOffset);
        const bool ownB = static_cast<bool>(sl.packed);  // a column slice packs its own B
        std::unordered_map<int, dnnl::memory> args = {
            {DNNL_ARG_SRC, sl.a},
            {DNNL_ARG_WEIGHTS, ownB ? sl.packed : packed_},
            {DNNL_ARG_DST, sl.y},
            {DNNL_ARG_SCRATCHPAD, sl.scratch}};
        if (hasBias_) {
          sl.bias.set_data_handle(
              const_cast<float*>(static_cast<const float*>(inPtr_[2]) + sl.col0));
          args[DNNL_ARG_BIAS] = sl.bias;
        }
        sl.prim.execute(*sl.stream, args);
        sl.stream->wait();
      } catch (const dnnl::error& e) {
        errors[static_cast<size_t>(i)] = e.what();
      }
    });
    for (const std::string& e : errors)
      if (!e.empty()) return internalError("layer '" + desc_.name() + "': oneDNN: " + e);
    return Status::ok();
  }

  Status compute() override {
    useOneDnnThreadCount();
    if (!slices_.empty()) return computeSlices();
    aMem_.set_data_handle(const_cast<void*>(inPtr_[0]));
    yMem_.set_data_handle(outPtr_[0]);
    scratch_.set_data_handle(workspace_);
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, aMem_}, {DNNL_ARG_DST, yMem_}, {DNNL_ARG_SCRATCHPAD, scratch_}};
    if (packedB_) {
      args[DNNL_ARG_WEIGHTS] = packed_;
    } else {
      bMem_.set_data_handle(const_cast<void*>(inPtr_[1]));
      args[DNNL_ARG_WEIGHTS] = bMem_;
    }
    if (hasBias_) {
      biasMem_.set_data_handle(const_cast<void*>(inPtr_[2]));
      args[DNNL_ARG_BIAS] = biasMem_;
    }
    if (hasC_) {
      cMem_.set_data_handle(const_cast<void*>(inPtr_[2]));
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(static_cast<int>(postOps_.size())) | DNNL_ARG_SRC_1] =
          cMem_;
    }
    prim_.execute(*stream_, args);
    stream_->wait();
    return Status::ok();
  }

  std::vector<PostOp> postOps_;
  const Weights* constantB_ = nullptr;
  bool hasBias_ = false, hasC_ = false, packedB_ = false;
  dnnl::memory::desc cMd_, packedDesc_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
  dnnl::memory aMem_, bMem_, yMem_, biasMem_, cMem_, scratch_, packed_;
  std::unique_ptr<dnnl::stream> stream_;
  struct Slice {
    int64_t row0 = 0, col0 = 0;
    dnnl::memory packed;  ///< column slices: their own columns of B, packed
    size_t wsOffset = 0;
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
    dnnl::memory a, y, scratch, bias;
    std::unique_ptr<dnnl::stream> stream;
  };
  std::vector<Slice> slices_;  ///< row slices over the threads (empty: one primitive)
  Dims rowElems_;              ///< elements per row of A and of y
};

}  // namespace

Status supportsOnednnMatMul(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  if (!desc.hasInput(0) || !desc.hasInput(1)) return decline(desc, "A and B are required");
  const auto& at = desc.layer->as<MatrixMultiplyAttrs>();
  if (at.alpha != 1.0f) return decline(desc, "alpha != 1 is not fused");
  if (desc.hasInput(2) && at.beta != 1.0f) return decline(desc, "beta != 1 is not fused");
  if (desc.outputs.empty() || desc.outputs[0].dims.size() + 2 > 14)
    return decline(desc, "too many dims for oneDNN");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createOnednnMatMul(const LayerDesc& desc) {
  return makeKernel<OnednnMatMulKernel>(desc, std::vector<PostOp>{});
}

Expected<std::unique_ptr<Kernel>> createOnednnMatMulWithPostOps(const LayerDesc& desc,
                                                                std::vector<PostOp> postOps) {
  KILN_RETURN_IF_ERROR(supportsOnednnMatMul(desc));
  return makeKernel<OnednnMatMulKernel>(desc, std::move(postOps));
}

}  // namespace kiln::cpu
