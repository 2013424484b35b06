// GPT-2's byte-level spelling of text, shared by the tokenizer.json and GGUF
// byte-level BPE tokenizers: every byte is one character of a 256-character
// alphabet, so merges and vocabularies are written in printable text.
#pragma once
#include <string>
#include <string_view>

namespace ss {

// Raw bytes to their byte-level spelling.
std::string to_byte_level(std::string_view raw);
// Raw bytes of a byte-level spelling. A character outside the alphabet (a
// token stored as raw text) stands for its own UTF-8 bytes.
std::string from_byte_level(std::string_view s);

}  // namespace ss
