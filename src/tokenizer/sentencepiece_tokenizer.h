// SentencePiece tokenizer.model files, through libsentencepiece.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace ss {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Parses a serialized ModelProto; `name` (the file) labels errors.
  SentencePieceTokenizer(std::string_view data, const std::string& name);
  ~SentencePieceTokenizer() override;

  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string decode(int prev, int id) const override;
  int vocab_size() const override { return static_cast<int>(text_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }

 private:
  std::string name_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::vector<std::string> text_;  // decoded bytes of each piece
  std::vector<bool> is_byte_;
  int bos_ = -1, eos_ = -1;    // -1 when the model has none
  bool dummy_prefix_ = false;  // encode() prepends a space
};

}  // namespace ss
