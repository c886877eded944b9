// kiln — kernels of the cpu backend that take a fused epilogue, made directly (for tests, and
// for the wiring of the optimizer's epilogue attributes): the same kernels as the tactics
// "cpu.matrix_multiply.onednn.f32" and "cpu.convolution.*", with `postOps` applied to the result.
#pragma once

#include <memory>
#include <vector>

#include "backends/cpu/onednn.h"

namespace kiln::cpu {

Expected<std::unique_ptr<Kernel>> createOnednnMatMulWithPostOps(const LayerDesc& desc,
                                                                std::vector<PostOp> postOps);
Expected<std::unique_ptr<Kernel>> createOnednnConvolutionWithPostOps(const LayerDesc& desc,
                                                                     std::vector<PostOp> postOps,
                                                                     bool blocked);

}  // namespace kiln::cpu
