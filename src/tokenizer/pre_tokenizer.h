// llama.cpp's BPE pre-tokenizers, by tokenizer.ggml.pre. Each splits text
// into words with a list of regexes applied in turn: every regex cuts each
// word so far into its matches and the gaps between them.
//
// The regexes run the way llama.cpp runs them (unicode_regex_split), so that
// the words are the same: a regex that uses \p{L}, \p{N}, \p{P}, \p{M} or
// \p{S} sees the text "collapsed" to one byte per code point (ASCII as is,
// White_Space as \v, other code points as one byte for their Unicode
// category, see kCategory* below) and the class as that byte plus its ASCII
// members; other regexes see the code points with non-ASCII White_Space
// turned into \v, and \s, \d, \w are ASCII. Matching is ECMAScript-like
// (PCRE2 with $ at the very end only); an empty match splits the text there.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ss {

// Collapsed bytes of the categories (llama.cpp's choice): number, letter,
// punctuation, mark, symbol, anything else.
constexpr unsigned char kCategoryNumber = 0xD1, kCategoryLetter = 0xD2, kCategoryPunctuation = 0xD3,
                        kCategoryMark = 0xD4, kCategorySymbol = 0xD5, kCategoryOther = 0xD0;

// The collapsed byte of code point cp (cp < 0x110000).
unsigned char collapsed_category(uint32_t cp);
// Unicode White_Space, as llama.cpp's tables have it.
bool is_unicode_space(uint32_t cp);

struct PreTokenizerSpec {
  std::string name;  // tokenizer.ggml.pre
  std::vector<std::string> regexes;
  bool ignore_merges = false;  // a word that is a whole token skips the merges
  bool add_bos = false;        // BOS by default (add_bos_token may override)
};

// The spec for a tokenizer.ggml.pre value, or nullptr for one not supported.
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);
// The supported names, comma-separated, for error messages.
std::string supported_pre_tokenizers();

class RegexSplitter {
 public:
  // `name` labels errors (a regex that does not compile).
  RegexSplitter(const std::vector<std::string>& regexes, const std::string& name);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // The words of text (valid UTF-8) as [begin, end) byte ranges, in order,
  // none empty, covering the text.
  std::vector<std::pair<size_t, size_t>> split(std::string_view text) const;

 private:
  struct Compiled;
  std::string name_;
  std::vector<std::unique_ptr<Compiled>> regexes_;
};

}  // namespace ss
