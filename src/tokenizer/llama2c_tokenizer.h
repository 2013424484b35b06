// The llama2.c tokenizer.bin format: int32 max_token_length, then per token
// float32 score, int32 byte length and the bytes. Encoding matches llama2.c
// run.c: code-point pieces with byte fallback, then score-ordered BPE merges.
// The same algorithm serves SentencePiece-style vocabularies stored elsewhere
// (GGUF), built from pieces and scores.
#pragma once
#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ss {

class Llama2cTokenizer : public Tokenizer {
 public:
  struct Vocab {
    std::vector<std::string> pieces;  // token text, spaces spelt ' '
    std::vector<float> scores;        // the higher, the earlier a piece is merged
    std::vector<bool> encodable;      // false: never produced by encode(); empty: all are
    int bos = 1;                      // added by encode(text, true); -1: none
    int eos = 2;                      // -1: none
    bool dummy_prefix = true;         // encode() puts a space before non-empty text
  };
  // `name` (the file) labels errors.
  Llama2cTokenizer(Vocab vocab, const std::string& name);
  // Parses the bytes of a tokenizer.bin.
  Llama2cTokenizer(std::string_view data, const std::string& name);

  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string decode(int prev, int id) const override;
  int vocab_size() const override { return static_cast<int>(v_.pieces.size()); }
  int bos_id() const override { return v_.bos; }
  int eos_id() const override { return v_.eos; }
  const Vocab& vocab() const { return v_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  int lookup(std::string_view piece) const;  // -1 when absent

  std::string name_;
  Vocab v_;
  std::unordered_map<std::string, int, Hash, std::equal_to<>> ids_;  // encodable pieces
  std::array<int, 256> byte_ids_;                                    // the <0xXX> pieces
  bool byte_pieces_ = false;                                         // all 256 exist
};

// The byte a "<0xXX>" piece stands for, or -1 for any other piece.
int byte_piece_value(std::string_view piece);

}  // namespace ss
