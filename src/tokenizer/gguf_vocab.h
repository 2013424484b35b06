// The tokenizer stored in a GGUF file's metadata (tokenizer.ggml.*), run the
// way llama.cpp runs it (llama-vocab.cpp), so that the ids are the same:
//   "llama" (SPM): SentencePiece-style merges by score. Spaces become U+2581,
//     a space goes first where tokenizer.ggml.add_space_prefix says so (the
//     default; Gemma turns it off) at the start and after every special
//     token; adjacent pieces merge while their concatenation is a token, the
//     highest score first (the leftmost on ties); what is left and is not a
//     token becomes its bytes (<0xXX>).
//   "gpt2" (BPE): the pre-tokenizer of tokenizer.ggml.pre (see
//     pre_tokenizer.h; a file without one gets "default", as in llama.cpp)
//     cuts the text into words, each spelt in GPT-2's byte alphabet and merged
//     by tokenizer.ggml.merges rank (the lowest first, the leftmost on ties).
// Before either, special tokens are taken out of the text, the longest
// first: user-defined tokens always, control and unknown ones only with
// parse_special (encode_special). encode(text, add_bos) is
// encode_special(text, add_bos, false). BOS and EOS are added by
// tokenizer.ggml.add_bos_token / add_eos_token, with llama.cpp's defaults
// (BOS for "llama" and the Llama-3 family). Control and unknown tokens decode
// to "". is_eog() is llama.cpp's end-of-generation set (EOS, EOT and tokens
// such as <|im_end|>, <|eot_id|>, <end_of_turn>).
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace ss {

class RegexSplitter;

class GgufTokenizer : public Tokenizer {
 public:
  enum class Kind { Spm, Bpe };
  // One-line ss::Error naming the file when the vocabulary is missing, of an
  // unsupported kind or inconsistent.
  explicit GgufTokenizer(const GgufFile& file);
  ~GgufTokenizer() override;

  std::vector<int> encode(std::string_view text, bool add_bos) const override {
    return encode_special(text, add_bos, false);
  }
  std::vector<int> encode_special(std::string_view text, bool add_special,
                                  bool parse_special) const override;
  std::string decode(int prev, int id) const override;
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  int bos_id() const override { return add_bos_ ? bos_ : -1; }
  int eos_id() const override { return eos_; }
  bool is_eog(int id) const override { return eog_.count(id) > 0; }

  Kind kind() const { return kind_; }
  const std::string& pre() const { return pre_; }  // "" for SPM
  bool add_space_prefix() const { return add_space_prefix_; }
  // The id of the token spelt `text` in the file, or -1.
  int find(std::string_view text) const;

 private:
  struct Token {
    std::string text;  // as in the file
    float score = 0;
    uint32_t attr = 0;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Fragment {
    int token;  // -1: text [begin, end)
    size_t begin, end;
  };
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;
  void spm(std::string_view text, bool space_prefix, std::vector<int>& out) const;
  void bpe(std::string_view text, std::vector<int>& out,
           std::unordered_map<std::string, std::vector<int>>& cache) const;
  void bpe_word(std::string_view word, std::vector<int>& out) const;

  std::string path_;
  Kind kind_;
  std::string pre_;
  std::vector<Token> tokens_;
  std::unordered_map<std::string, int, Hash, std::equal_to<>> ids_;
  std::unordered_map<std::string, int, Hash, std::equal_to<>> ranks_;  // left \xFF right -> rank
  std::vector<int> special_;  // control, user-defined and unknown tokens, longest first
  struct Trie;
  std::unique_ptr<Trie> trie_;  // their texts
  std::unique_ptr<RegexSplitter> splitter_;
  std::unordered_set<int> eog_;
  std::array<int, 256> byte_ids_;  // SPM: <0xXX> (or the byte itself); -1 where missing
  bool ignore_merges_ = false, add_space_prefix_ = false, add_bos_ = false, add_eos_ = false;
  int bos_ = -1, eos_ = -1;
};

std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& file);
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);

}  // namespace ss
