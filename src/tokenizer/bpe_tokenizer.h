// Byte-level BPE (GPT-2, GPT-NeoX, Llama-3, Qwen2). encode() first takes the
// added tokens out of the text (matched verbatim, the longest at the leftmost
// position), splits the rest with the pre-tokenizer regexes (PCRE2, Unicode
// properties) and merges the bytes of each piece by rank. Token text is
// spelt in GPT-2's byte-to-unicode alphabet; decode() gives the raw bytes,
// which may end inside a UTF-8 character (the next token completes it).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ss {

// Pre-tokenizer regexes. GPT-2's is also GPT-NeoX's (ByteLevel with use_regex).
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class BpeTokenizer : public Tokenizer {
 public:
  struct Added {
    int id;
    std::string text;  // raw text, matched verbatim
    bool special;      // a control token: decodes to ""
  };
  struct Spec {
    std::vector<std::string> vocab;  // byte-level spelling by id; "" for ids it lacks
    std::vector<std::pair<std::string, std::string>> merges;  // byte-level, by rank
    std::vector<Added> added;
    std::vector<std::string> patterns;  // pre-tokenizer regexes, applied in turn
    bool add_prefix_space = false;      // a space before text that does not start with one
    bool ignore_merges = false;         // a piece that is a whole token is taken as it is
    int bos = -1;                       // added by encode(text, true); -1: none
    int eos = -1;
  };
  // `name` (the file) labels errors.
  BpeTokenizer(const Spec& spec, const std::string& name);
  ~BpeTokenizer() override;

  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string decode(int prev, int id) const override;
  int vocab_size() const override { return static_cast<int>(text_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }

 private:
  class Regex;
  struct Work;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Merge {
    int rank, id;
  };

  const Added* added_at(std::string_view text, size_t i) const;
  void encode_plain(std::string_view text, Work& w, std::vector<int>& ids) const;
  void split(size_t level, std::string_view text, Work& w, std::vector<int>& ids) const;
  void merge(std::string_view piece, Work& w, std::vector<int>& ids) const;

  std::string name_;
  std::vector<std::string> text_;                                    // the bytes each id decodes to
  std::unordered_map<std::string, int, Hash, std::equal_to<>> ids_;  // raw bytes -> vocab id
  std::array<int, 256> byte_ids_;                                    // -1 where missing
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
  std::vector<Added> added_;
  std::array<std::vector<int>, 256> added_by_byte_;  // indices into added_, longest first
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool add_prefix_space_, ignore_merges_;
  int bos_, eos_;
};

// A Hugging Face tokenizer.json with a byte-level BPE model, given its text;
// `path` names it in errors and locates tokenizer_config.json beside it.
// Other model types (WordPiece, Unigram, SentencePiece-style BPE) are a
// one-line ss::Error naming the file and the type.
//
// BOS: encode(text, true) adds one only where the tokenizer itself does:
// tokenizer_config.json's add_bos_token (with its bos_token), else the first
// special token of a TemplateProcessing post-processor (Llama-3). GPT-NeoX,
// GPT-2 and Qwen2 add none, so their bos_id() is -1. EOS: tokenizer_config's
// eos_token, else an added <|endoftext|>, <|end_of_text|> or </s>.
// The normalizer must be absent or NFC; NFC is not applied (text already in
// NFC, the usual case, tokenizes the same). Added tokens' lstrip, rstrip and
// single_word flags are not honoured.
std::unique_ptr<BpeTokenizer> load_tokenizer_json(std::string_view json, const std::string& path);

// A byte-level tokenizer.json: ids 0..255 are the bytes, then the special
// tokens <s> (BOS, prepended), </s> (EOS) and <sink> (the learnable sink
// token): kByteVocab ids in all. What `train --tokenizer byte` writes.
constexpr int kByteBos = 256, kByteEos = 257, kByteSink = 258, kByteVocab = 259;
std::string byte_level_tokenizer_json();

}  // namespace ss
