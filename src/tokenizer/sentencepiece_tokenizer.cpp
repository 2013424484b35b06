#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace ss {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";      // U+2581, SentencePiece's space
constexpr std::string_view kUnknown = " \xE2\x81\x87 ";  // SentencePiece's text for <unk>

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(std::string_view data, const std::string& name)
    : name_(name), sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  auto status = sp_->LoadFromSerializedProto(data);
  check(status.ok(), "tokenizer ", name, " is not a SentencePiece model: ", status.ToString());
  const int n = sp_->GetPieceSize();
  check(n > 0, "tokenizer ", name, " has an empty vocabulary");
  bos_ = sp_->bos_id();
  eos_ = sp_->eos_id();
  text_.resize(n);
  is_byte_.resize(n);
  for (int id = 0; id < n; ++id) {
    const std::string& piece = sp_->IdToPiece(id);
    if (sp_->IsByte(id)) {
      int byte = byte_piece_value(piece);
      check(byte >= 0, "tokenizer ", name, ": bad byte piece \"", piece, "\"");
      text_[id] = std::string(1, static_cast<char>(byte));
      is_byte_[id] = true;
    } else if (sp_->IsUnknown(id)) {
      text_[id] = kUnknown;
    } else if (!sp_->IsControl(id)) {
      std::string& t = text_[id];
      for (size_t i = 0; i < piece.size();) {
        bool space = std::string_view(piece).substr(i).starts_with(kSpace);
        t += space ? ' ' : piece[i];
        i += space ? kSpace.size() : 1;
      }
    }
  }
  std::vector<std::string> probe;
  dummy_prefix_ = sp_->Encode("a", &probe).ok() && !probe.empty() && probe[0].starts_with(kSpace);
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
  check_utf8(text, "text to encode");
  check(!add_bos || bos_ >= 0, "tokenizer ", name_, " has no BOS token");
  std::vector<int> ids;
  auto status = sp_->Encode(text, &ids);
  check(status.ok(), "tokenizer ", name_, " cannot encode text: ", status.ToString());
  if (add_bos) ids.insert(ids.begin(), bos_);
  return ids;
}

std::string SentencePieceTokenizer::decode(int prev, int id) const {
  check(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", name_);
  std::string_view t = text_[id];
  if (prev == bos_ && dummy_prefix_ && !is_byte_[id] && t.starts_with(' ')) t.remove_prefix(1);
  return std::string(t);
}

}  // namespace ss
