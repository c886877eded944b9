// kiln — the whole public API.
#pragma once

#include "kiln/builder.h"
#include "kiln/engine.h"
#include "kiln/explain.h"
#include "kiln/layers.h"
#include "kiln/network.h"
#include "kiln/onnx_parser.h"
#include "kiln/status.h"
#include "kiln/stream.h"
#include "kiln/tensor_file.h"
#include "kiln/types.h"
