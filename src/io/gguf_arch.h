// GGUF architectures (llama.cpp's general.architecture) <-> ModelConfig and
// canonical tensor names, both ways, under llama.cpp's metadata keys
// ({arch}.context_length, {arch}.attention.head_count, ...) and tensor names
// (token_embd, blk.N.attn_qkv, ...). One table row per architecture: llama
// (and Mistral, which llama.cpp writes as llama), mistral, qwen2, gptneox,
// falcon, mpt, bloom, gpt2.
//
// Layouts follow llama.cpp's convert_hf_to_gguf.py: llama's q/k rows are in
// interleaved RoPE order (the permutation undone by RopeLayout::Interleaved);
// qwen2, gptneox and falcon rotate halves, as in Hugging Face; every fused
// projection (gptneox, falcon, mpt, bloom, gpt2) is blk.N.attn_qkv with the
// rows of q, then k, then v, and GPT-2's Conv1D weights are stored as
// [out][in] like every other linear layer.
#pragma once
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/tensor.h"
#include "io/gguf.h"
#include "model/config.h"

namespace ss {

// "llama, mistral, qwen2, gptneox, falcon, mpt, bloom, gpt2"
std::string gguf_supported_architectures();

// Every hyperparameter of f's architecture from its metadata, plus the
// vocabulary size (token_embd), tied embeddings (no output.weight) and what
// the tensors imply. One-line ss::Error naming the file for an unknown
// general.architecture (listing the supported ones), a missing key, a
// tensor the architecture does not have, or numbers the model cannot use.
ModelConfig gguf_read_config(const GgufFile& f);

// (canonical, GGUF) names of every tensor a model of c's architecture read
// from f may hold. A fused projection's canonical name is
// model.layers.N.self_attn.qkv_proj.{weight,bias}: gguf_add_tensor splits it.
std::vector<std::pair<std::string, std::string>> gguf_tensor_names(const ModelConfig& c,
                                                                   const GgufFile& f);

// Adds tensor t, read from GGUF tensor `gguf`, to ts under `canonical`; a
// fused projection becomes q, k and v views of its rows (no copies).
// One-line ss::Error naming the file and tensor when its rows do not add up.
void gguf_add_tensor(const ModelConfig& c, const std::string& canonical, const std::string& gguf,
                     const Tensor& t, TensorStore& ts, const std::string& path);

// --- Writing -------------------------------------------------------------------

using GgufValue = std::variant<uint32_t, float, bool, std::string>;

// general.architecture and the hyperparameters of c under its architecture's
// keys. One-line ss::Error when c's family has no GGUF architecture or c uses
// a switch the architecture's keys cannot carry (the file would load as
// another model).
std::vector<std::pair<std::string, GgufValue>> gguf_write_config(const ModelConfig& c);

// One GGUF tensor to write: the rows of one or more canonical tensors (q, k
// and v for a fused projection), optionally reordered for interleaved RoPE.
struct GgufOutTensor {
  std::string name;                // GGUF name
  std::vector<std::string> parts;  // canonical names, concatenated by rows
  int permute_heads = 0;           // > 0: rotate-half -> interleaved rows over this many heads
  int permute_rot = 0;             // rotary rows per head that the permutation reorders
  std::vector<int64_t> shape;      // canonical order: rows first
};
// Every tensor of ts that c's architecture stores, in file order.
std::vector<GgufOutTensor> gguf_tensor_plan(const ModelConfig& c, const TensorStore& ts);
// A planned tensor's values as f32, rows as GGUF stores them.
std::vector<float> gguf_tensor_values(const TensorStore& ts, const GgufOutTensor& p);

}  // namespace ss
