// Each Hugging Face family's tensor names and fused layouts -> the canonical
// names the model reads (LlamaForCausalLM's, plus .bias, embed_positions,
// embed_norm and self_attn.sinks).
#pragma once
#include <string>

#include "core/tensor.h"
#include "model/config.h"

namespace ss {

// Renames, splits fused QKV projections, transposes GPT-2's Conv1D weights and
// adds Gemma's 1 to its norm gains (stored as w for 1 + w), in place. Split,
// transposed or widened tensors get owned copies; everything else keeps
// pointing into the file. Unknown names are
// dropped (buffers like rotary inv_freq). One-line ss::Error naming path and
// tensor when a fused tensor has the wrong shape.
void canonicalize_hf_tensors(const ModelConfig& c, TensorStore& ts, const std::string& path);

}  // namespace ss
