// The llama2.c tokenizer.bin format: int32 max_token_length, then per token
// float32 score, int32 byte length and the bytes. Encoding matches llama2.c
// run.c: code-point pieces with byte fallback, then score-ordered BPE merges.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ss {

class Llama2cTokenizer : public Tokenizer {
 public:
  // Parses the bytes of a tokenizer.bin; `name` (the file) labels errors.
  Llama2cTokenizer(std::string_view data, const std::string& name);

  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string decode(int prev, int id) const override;
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  int lookup(std::string_view piece) const;  // -1 when absent

  std::string name_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int, Hash, std::equal_to<>> ids_;
  bool byte_pieces_ = false;  // ids 3..258 are <0x00>..<0xFF>
};

// The byte a "<0xXX>" piece stands for, or -1 for any other piece.
int byte_piece_value(std::string_view piece);

}  // namespace ss
