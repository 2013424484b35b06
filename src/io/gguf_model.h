// Model weights in GGUF files (llama.cpp's format), both ways.
#pragma once
#include <string>

#include "io/checkpoint.h"
#include "io/gguf.h"

namespace ss {

class Tokenizer;

// A GGUF model of the llama architecture (Llama, Mistral, llama2.c exports)
// with F32, F16, BF16 or Q8_0 tensors, memory-mapped. Quantised tensors stay
// quantised: decode multiplies them directly. One-line ss::Error naming the
// file for another architecture, a tensor type we do not read, or a missing
// or mis-shaped tensor.
Checkpoint load_gguf(const std::string& path);

// Writes a llama-family checkpoint as GGUF with 2-D weights in `type` (F32,
// F16 or Q8_0; norms stay F32, and rows that are not whole Q8_0 blocks F16), q/k rows in
// llama.cpp's interleaved RoPE order, and the vocabulary of `tok` when it is a
// llama2.c/SentencePiece-style vocabulary (nullptr: none). Written atomically (temporary file,
// fsync, rename).
void save_gguf(const Checkpoint& ck, const Tokenizer* tok, DType type, const std::string& path);

}  // namespace ss
