// The tokenizer stored in a GGUF file's metadata (tokenizer.ggml.*):
//   "llama": SentencePiece-style BPE by scores with byte fallback, run by
//     Llama2cTokenizer. Pieces spell spaces U+2581 in the file, ' ' here, so
//     a U+2581 in the text is an ordinary character (bytes), not a space.
//   "gpt2": byte-level BPE with tokenizer.ggml.merges, run by BpeTokenizer.
//     The pre-tokenizer regex follows tokenizer.ggml.pre: GPT-2's for files
//     without one (GPT-NeoX), "default", "gpt-2", "mpt" and "olmo"; Llama-3's
//     for "llama3", "llama-v3" and "llama-bpe"; Qwen2's for "qwen2".
// Token types (tokenizer.ggml.token_type) as llama.cpp writes them: control
// tokens decode to "" and, like user-defined ones, are matched verbatim in
// byte-level text; in "llama" vocabularies only normal and user-defined
// pieces are built from text.
// BOS: encode(text, true) adds tokenizer.ggml.bos_token_id only where
// tokenizer.ggml.add_bos_token says so, by default for "llama" and the
// Llama-3 pre-tokenizers, as llama.cpp does; otherwise bos_id() is -1.
#pragma once
#include <memory>
#include <string>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace ss {

// One-line ss::Error naming the file when the vocabulary is missing, of an
// unsupported kind or inconsistent.
std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& file);
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);

}  // namespace ss
