// Byte-level BPE (tokenizer.json), GGUF vocabularies and the GGUF parser,
// checked against llama.cpp's test vectors, a naive BPE and each other.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "io/gguf.h"
#include "testutil.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ss::GgufType;
using sstest::asset;
using sstest::decode_all;
using sstest::error_of;
using sstest::gen_code_point;
using sstest::gen_utf8;

const std::string kVocabDir = asset("tokenizers/gguf-vocab/");
const std::string kNeoxJson = asset("tokenizers/gpt-neox/tokenizer.json");
const std::string kNeoxGguf = kVocabDir + "ggml-vocab-gpt-neox.gguf";
const std::string kMptGguf = kVocabDir + "ggml-vocab-mpt.gguf";
const std::string kSpmGguf = kVocabDir + "ggml-vocab-llama-spm.gguf";

using sstest::slurp;
using sstest::spit;
const ss::Tokenizer& neox_json() {
  static auto t = ss::load_tokenizer(kNeoxJson);
  return *t;
}
const ss::Tokenizer& neox_gguf() {
  static auto t = ss::load_tokenizer(kNeoxGguf);
  return *t;
}
const ss::Tokenizer& mpt_gguf() {
  static auto t = ss::load_tokenizer(kMptGguf);
  return *t;
}
const ss::Tokenizer& spm_gguf() {
  static auto t = ss::load_tokenizer(kSpmGguf);
  return *t;
}
const ss::Tokenizer& llama_model() {
  static auto t = ss::load_tokenizer(asset("tokenizers/llama2/tokenizer.model"));
  return *t;
}

// Decode of encode(text) without BOS.
std::string round_trip(const ss::Tokenizer& tok, std::string_view text) {
  return decode_all(tok, tok.encode(text, false), -1);
}

// GPT-2's bytes_to_unicode, written out independently of the tokenizer.
std::string byte_level(std::string_view raw) {
  std::string out;
  for (unsigned char b : raw) {
    uint32_t cp = b;
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
      cp = 256;
      for (int c = 0; c < b; ++c) {
        if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) ++cp;
      }
    }
    out += sstest::utf8(cp);
  }
  return out;
}

// GPT-2's encoder.py bpe(), transcribed literally: merge every occurrence of
// the lowest-ranked pair, left to right, until none is left. The reference for
// BpeTokenizer's heap-based merging of one pre-tokenized piece.
class NaiveBpe {
 public:
  explicit NaiveBpe(const std::string& path) {
    json j = json::parse(slurp(path));
    for (const auto& [token, id] : j["model"]["vocab"].items()) ids_[token] = id.get<int>();
    int rank = 0;
    for (const json& m : j["model"]["merges"]) {
      std::string s = m.get<std::string>();
      size_t space = s.find(' ');
      ranks_.emplace(std::make_pair(s.substr(0, space), s.substr(space + 1)), rank++);
    }
  }

  std::vector<int> encode(std::string_view piece) const {
    std::vector<std::string> word;
    for (char c : piece) word.push_back(byte_level(std::string(1, c)));
    for (;;) {
      int best = INT_MAX;
      std::pair<std::string, std::string> pair;
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        auto it = ranks_.find({word[i], word[i + 1]});
        if (it != ranks_.end() && it->second < best) {
          best = it->second;
          pair = it->first;
        }
      }
      if (best == INT_MAX) break;
      std::vector<std::string> merged;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == pair.first && word[i + 1] == pair.second) {
          merged.push_back(word[i] + word[i + 1]);
          ++i;
        } else {
          merged.push_back(word[i]);
        }
      }
      word = std::move(merged);
    }
    std::vector<int> ids;
    for (const std::string& w : word) ids.push_back(ids_.at(w));
    return ids;
  }

  // Tokens made of ASCII letters only.
  std::vector<std::string> letter_tokens() const {
    std::vector<std::string> out;
    for (const auto& [token, id] : ids_) {
      if (std::all_of(token.begin(), token.end(), [](char c) { return std::isalpha(c); })) {
        out.push_back(token);
      }
    }
    return out;
  }

 private:
  std::map<std::string, int> ids_;
  std::map<std::pair<std::string, std::string>, int> ranks_;
};

const NaiveBpe& naive_neox() {
  static const NaiveBpe n(kNeoxJson);
  return n;
}

// --- llama.cpp vectors ---------------------------------------------------------

TEST(GgufVocab, LlamaSpmVectors) {
  auto vectors = sstest::vocab_vectors(kSpmGguf);
  ASSERT_EQ(vectors.size(), 46u);
  EXPECT_NE(dynamic_cast<const ss::GgufTokenizer*>(&spm_gguf()), nullptr);
  for (size_t n = 0; n < vectors.size(); ++n) {
    const auto& [text, expected] = vectors[n];
    EXPECT_EQ(spm_gguf().encode(text, false), expected) << "vector " << n << ": " << text;
    std::vector<int> ids = spm_gguf().encode(text, true);
    EXPECT_EQ(decode_all(spm_gguf(), std::vector<int>(ids.begin() + 1, ids.end()), 1), text);
  }
}

TEST(GgufVocab, LlamaSpmMatchesSentencePieceOnBooks) {
  EXPECT_EQ(spm_gguf().vocab_size(), 32000);
  EXPECT_EQ(spm_gguf().bos_id(), 1);
  EXPECT_EQ(spm_gguf().eos_id(), 2);
  EXPECT_EQ(spm_gguf().decode(5, 2), "");  // control tokens have no text
  // Every 100th line: every 10th of the books' every-10th-line samples.
  for (const char* book : {"text/kjv_every10.txt", "text/austen_every10.txt"}) {
    std::istringstream lines(slurp(asset(book)));
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n) {
      if (n % 10 != 0) continue;
      std::vector<int> ids = llama_model().encode(line, true);
      ASSERT_EQ(spm_gguf().encode(line, true), ids) << book << ":" << n + 1 << ": " << line;
      ASSERT_EQ(decode_all(spm_gguf(), std::vector<int>(ids.begin() + 1, ids.end()), 1), line);
    }
  }
}

TEST(GgufVocab, MptVectors) {
  // MPT uses the GPT-NeoX tokenizer, so the MPT GGUF and GPT-NeoX's
  // tokenizer.json give the same ids.
  auto vectors = sstest::vocab_vectors(kMptGguf);
  ASSERT_EQ(vectors.size(), 46u);
  for (size_t n = 0; n < vectors.size(); ++n) {
    const auto& [text, expected] = vectors[n];
    EXPECT_EQ(mpt_gguf().encode(text, false), expected) << "vector " << n << ": " << text;
    EXPECT_EQ(neox_json().encode(text, false), expected) << "vector " << n << ": " << text;
    EXPECT_EQ(round_trip(neox_json(), text), text);
    EXPECT_EQ(round_trip(mpt_gguf(), text), text);
  }
}

// --- GPT-NeoX: tokenizer.json and GGUF ------------------------------------------

TEST(BpeTokenizer, NeoxBasics) {
  const ss::Tokenizer& t = neox_json();
  EXPECT_NE(dynamic_cast<const ss::BpeTokenizer*>(&t), nullptr);
  EXPECT_EQ(t.vocab_size(), 50277);            // 50254 + 23 added space runs
  EXPECT_EQ(neox_gguf().vocab_size(), 50432);  // padded
  // GPT-NeoX adds no BOS; <|endoftext|> ends text.
  for (const ss::Tokenizer* tok : {&t, &neox_gguf(), &mpt_gguf()}) {
    EXPECT_EQ(tok->bos_id(), -1);
    EXPECT_EQ(tok->eos_id(), 0);
    EXPECT_EQ(tok->encode("Hello world", true), (std::vector<int>{12092, 1533}));
    EXPECT_EQ(tok->encode("", true), std::vector<int>{});
  }
  // Added tokens are matched verbatim, the longest first; special ones decode to "".
  EXPECT_EQ(t.encode("a<|endoftext|>b", false), (std::vector<int>{66, 0, 67}));
  EXPECT_EQ(t.encode("<|endoftext|><|padding|>", false), (std::vector<int>{0, 1}));
  EXPECT_EQ(t.decode(5, 0), "");
  EXPECT_EQ(t.encode("   x", false), (std::vector<int>{50275, 89}));
  EXPECT_EQ(t.decode(5, 50275), "   ");
  // 30 spaces: the longest (24), then 6.
  EXPECT_EQ(t.encode(std::string(30, ' '), false), (std::vector<int>{50254, 50272}));
  // A character split across tokens: bytes come back as they are.
  std::vector<int> ids = t.encode("\xF0\x9F\xA6\x99", false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(t.decode(0, ids[0]), "\xF0\x9F");
  EXPECT_EQ(decode_all(t, ids, -1), "\xF0\x9F\xA6\x99");
  EXPECT_NE(error_of([&] { t.decode(0, 50277); }).find("50277"), std::string::npos);
}

TEST(GgufVocab, NoPreTokenizerIsLlamaCppsDefault) {
  // The GPT-NeoX GGUF has no tokenizer.ggml.pre: like llama.cpp, it gets the
  // "default" regexes, which take punctuation runs and digits apart first.
  const auto& neox = dynamic_cast<const ss::GgufTokenizer&>(neox_gguf());
  EXPECT_EQ(neox.pre(), "default");
  EXPECT_EQ(dynamic_cast<const ss::GgufTokenizer&>(mpt_gguf()).pre(), "mpt");
  EXPECT_EQ(neox_gguf().encode("Hello world", false), mpt_gguf().encode("Hello world", false));
  // "'s" is one GPT-2 word, but "'" is punctuation first under the default.
  EXPECT_EQ(mpt_gguf().encode("it's", false), neox_json().encode("it's", false));
  EXPECT_EQ(neox_gguf().encode("it's", false),
            (std::vector<int>{neox.find("it"), neox.find("'"), neox.find("s")}));
  // Digits in threes (the last regex).
  EXPECT_EQ(neox_gguf().encode("12345", false),
            (std::vector<int>{neox.find("123"), neox.find("45")}));
}

TEST(BpeTokenizer, NeoxJsonMatchesGgufOnBooks) {
  // Every 20th line of each text (every 2nd of its every-10th-line sample; a
  // few hundred each), and one long chunk.
  for (const char* book :
       {"text/kjv_every10.txt", "text/austen_every10.txt", "text/tinystories_every10.txt"}) {
    std::istringstream lines(slurp(asset(book)));
    int n = 0, checked = 0;
    for (std::string line; std::getline(lines, line) && checked < 400; ++n) {
      if (n % 2 != 0) continue;
      ++checked;
      std::vector<int> ids = neox_json().encode(line, false);
      ASSERT_EQ(mpt_gguf().encode(line, false), ids) << book << ":" << n + 1 << ": " << line;
      ASSERT_EQ(decode_all(neox_json(), ids, -1), line);
    }
    EXPECT_EQ(checked, 400) << book;
  }
  std::string text = slurp(asset("text/austen_150k.txt")).substr(100000, 50000);
  std::vector<int> ids = neox_json().encode(text, false);
  EXPECT_EQ(mpt_gguf().encode(text, false), ids);
  EXPECT_EQ(decode_all(neox_json(), ids, -1), text);
  EXPECT_GT(ids.size(), 10000u);
}

RC_GTEST_PROP(BpeTokenizer, RoundTrips, ()) {
  // Byte-level BPE loses nothing: every valid UTF-8 string comes back (the
  // generator does not spell out special tokens, which decode to "").
  std::string text = *gen_utf8(gen_code_point());
  std::vector<int> ids = neox_json().encode(text, false);
  RC_ASSERT(decode_all(neox_json(), ids, -1) == text);
  RC_ASSERT(mpt_gguf().encode(text, false) == ids);
}

// Text that exercises the pre-tokenizer: contractions, digit and space runs,
// Unicode letters, marks, numbers and spaces.
rc::Gen<std::string> gen_tricky_text() {
  static const std::vector<std::string> parts = {
      "'s",
      "'S",
      "'ll",
      "'ve",
      "'re",
      "'d",
      "'m",
      "'t",
      "'",
      " ",
      "  ",
      "   ",
      "\n",
      "\n\n",
      "\t",
      "\r\n",
      "a",
      "Z",
      "the",
      " the",
      "3",
      "33",
      "333",
      "1234567",
      "½",
      "٣",
      "é",
      "e\xCC\x81",
      "ж",
      "中文",
      "ក\xE1\x9F\x8B",
      "!",
      "...",
      "--",
      "=",
      "😀",
      "👍🏽",
      "\xC2\xA0",
      "\xC2\x85",
      "\xE3\x80\x80",
      "\xE2\x80\xA8",
      "\x0B",
      "\x0C",
      "\x7F",
      std::string(1, '\0'),
      "<",
      "|>",
  };
  return rc::gen::map(rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(parts)),
                      [](const std::vector<std::string>& v) {
                        std::string s;
                        for (const auto& p : v) s += p;
                        return s;
                      });
}

RC_GTEST_PROP(BpeTokenizer, JsonAndGgufAgreeOnTrickyText, ()) {
  std::string text = *gen_tricky_text();
  std::vector<int> ids = neox_json().encode(text, false);
  RC_ASSERT(mpt_gguf().encode(text, false) == ids);
  RC_ASSERT(decode_all(neox_json(), ids, -1) == text);
}

// One GPT-2 pre-token: an optional space, then a run of letters, of digits or
// of other symbols.
rc::Gen<std::string> gen_piece() {
  static const std::vector<std::vector<std::string>> classes = {
      {"a", "b", "e", "n", "s", "t", "z", "A", "Q", "é", "ß", "ж", "中", "ü"},
      {"0", "1", "3", "9", "½", "٣"},
      {"!", ".", ",", "-", "=", "'", "\"", "(", "😀", "€", "$", "~"},
  };
  return rc::gen::exec([] {
    const auto& cls = *rc::gen::elementOf(classes);
    auto chars =
        *rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(cls)));
    std::string s = *rc::gen::arbitrary<bool>() ? " " : "";
    for (const auto& c : chars) s += c;
    return s;
  });
}

RC_GTEST_PROP(BpeTokenizer, MergesLikeGpt2OnPieces, ()) {
  std::string piece = *gen_piece();
  RC_ASSERT(neox_json().encode(piece, false) == naive_neox().encode(piece));
}

RC_GTEST_PROP(BpeTokenizer, MergesLikeGpt2OnTokenSoup, ()) {
  // Words glued from vocabulary tokens, some repeated (overlapping merges of
  // equal rank, where the leftmost must win).
  static const std::vector<std::string> letters = naive_neox().letter_tokens();
  auto parts = *rc::gen::nonEmpty(rc::gen::container<std::vector<std::pair<std::string, int>>>(
      rc::gen::pair(rc::gen::elementOf(letters), rc::gen::inRange(1, 5))));
  std::string word = *rc::gen::arbitrary<bool>() ? " " : "";
  for (const auto& [token, times] : parts) {
    for (int i = 0; i < times; ++i) word += token;
  }
  RC_ASSERT(neox_json().encode(word, false) == naive_neox().encode(word));
}

TEST(BpeTokenizer, LongInputs) {
  // Long runs take the regexes and merges through linear paths.
  for (const std::string& text :
       {std::string(200000, ' '), std::string(200000, 'a'), std::string(100000, '\n'),
        std::string(100000, '!') + std::string(100000, '3')}) {
    std::vector<int> ids = neox_json().encode(text, false);
    EXPECT_EQ(decode_all(neox_json(), ids, -1), text);
    EXPECT_EQ(mpt_gguf().encode(text, false), ids);
  }
}

TEST(BpeTokenizer, InvalidUtf8Input) {
  for (const ss::Tokenizer* t : {&neox_json(), &neox_gguf(), &spm_gguf()}) {
    EXPECT_EQ(error_of([&] { t->encode("ok \xff", true); }),
              "invalid UTF-8 in text to encode at byte 3 (invalid lead byte)");
    EXPECT_EQ(error_of([&] { t->encode("\xe2\x82", false); }),
              "invalid UTF-8 in text to encode at byte 0 (incomplete sequence)");
  }
}

// Words of three tricky texts under nine pre-tokenizers, as Python's `regex`
// module splits them with the same regexes applied in turn (llama.cpp's
// unicode_regex_split: each regex cuts every word so far into its matches and
// the gaps; an empty match splits).
constexpr const char* kPythonRegexSplits =
    R"json({"texts": ["Hello, world! It's 12345 o'clock -- I'LL see you at 3:30pm... (maybe)  ok?\n\n\tDone.\r\n", "The year 1234567890 had   spaces   and\u00a0nbsp, caf\u00e9 na\u00efve \u00c6r\u00f8, \u0436\u0443\u043a \u4e2d\u6587\u5b57 \ud83d\ude00!!", "camelCaseWord SCREAMING_CASE kebab-case x<|y|>z $100+200=300 a^b `code` a|b"],
"splits": {
"default": [
["Hello", ",", " world", "!", " It", "'", "s", " ", "123", "45", " o", "'", "clock", " ", "--", " I", "'", "LL", " see", " you", " at", " ", "3", ":", "30", "pm", "...", " ", "(", "maybe", ")", " ", " ok", "?", "\n\n", "\t", "Done", ".", "\r\n"],
["The", " year", " ", "123", "456", "789", "0", " had", "  ", " spaces", "  ", " and", "\u00a0", "nbsp", ",", " caf\u00e9", " na\u00efve", " \u00c6r\u00f8", ",", " \u0436\u0443\u043a", " \u4e2d\u6587\u5b57", " \ud83d\ude00", "!!"],
["camelCaseWord", " SCREAMING", "_", "CASE", " kebab", "-", "case", " x", "<|", "y", "|>", "z", " ", "$", "100", "+", "200", "=", "300", " a", "^", "b", " `", "code", "`", " a", "|", "b"]
],
"gpt-2": [
["Hello", ",", " world", "!", " It", "'s", " 12345", " o", "'", "clock", " --", " I", "'", "LL", " see", " you", " at", " 3", ":", "30", "pm", "...", " (", "maybe", ")", " ", " ok", "?", "\n\n", "\t", "Done", ".", "\r\n"],
["The", " year", " 1234567890", " had", "  ", " spaces", "  ", " and", "\u00a0", "nbsp", ",", " caf\u00e9", " na\u00efve", " \u00c6r\u00f8", ",", " \u0436\u0443\u043a", " \u4e2d\u6587\u5b57", " \ud83d\ude00!!"],
["camelCaseWord", " SCREAMING", "_", "CASE", " kebab", "-", "case", " x", "<|", "y", "|>", "z", " $", "100", "+", "200", "=", "300", " a", "^", "b", " `", "code", "`", " a", "|", "b"]
],
"llama-bpe": [
["Hello", ",", " world", "!", " It", "'s", " ", "123", "45", " o", "'clock", " --", " I", "'LL", " see", " you", " at", " ", "3", ":", "30", "pm", "...", " (", "maybe", ")", " ", " ok", "?\n\n", "\tDone", ".\r\n"],
["The", " year", " ", "123", "456", "789", "0", " had", "  ", " spaces", "  ", " and", "\u00a0nbsp", ",", " caf\u00e9", " na\u00efve", " \u00c6r\u00f8", ",", " \u0436\u0443\u043a", " \u4e2d\u6587\u5b57", " \ud83d\ude00!!"],
["camelCaseWord", " SCREAMING", "_CASE", " kebab", "-case", " x", "<|", "y", "|>", "z", " $", "100", "+", "200", "=", "300", " a", "^b", " `", "code", "`", " a", "|b"]
],
"qwen2": [
["Hello", ",", " world", "!", " It", "'s", " ", "1", "2", "3", "4", "5", " o", "'clock", " --", " I", "'LL", " see", " you", " at", " ", "3", ":", "3", "0", "pm", "...", " (", "maybe", ")", " ", " ok", "?\n\n", "\tDone", ".\r\n"],
["The", " year", " ", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", " had", "  ", " spaces", "  ", " and", "\u00a0nbsp", ",", " caf\u00e9", " na\u00efve", " \u00c6r\u00f8", ",", " \u0436\u0443\u043a", " \u4e2d\u6587\u5b57", " \ud83d\ude00!!"],
["camelCaseWord", " SCREAMING", "_CASE", " kebab", "-case", " x", "<|", "y", "|>", "z", " $", "1", "0", "0", "+", "2", "0", "0", "=", "3", "0", "0", " a", "^b", " `", "code", "`", " a", "|b"]
],
"smollm": [
["Hello", ",", " world", "!", " It", "'s", " ", "1", "2", "3", "4", "5", " o", "'", "clock", " --", " I", "'", "LL", " see", " you", " at", " ", "3", ":", "3", "0", "pm", "...", " (", "maybe", ")", " ", " ok", "?", "\n\n", "\t", "Done", ".", "\r\n"],
["The", " year", " ", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", " had", "  ", " spaces", "  ", " and", "\u00a0", "nbsp", ",", " caf\u00e9", " na\u00efve", " \u00c6r\u00f8", ",", " \u0436\u0443\u043a", " \u4e2d\u6587\u5b57", " \ud83d\ude00!!"],
["camelCaseWord", " SCREAMING", "_", "CASE", " kebab", "-", "case", " x", "<|", "y", "|>", "z", " $", "1", "0", "0", "+", "2", "0", "0", "=", "3", "0", "0", " a", "^", "b", " `", "code", "`", " a", "|", "b"]
],
"falcon": [
["Hello", ",", " world", "!", " It", "'", "s", " ", "123", "45", " o", "'", "clock", " ", "--", " I", "'", "LL", " see", " you", " at", " 3", ":", "30", "pm", "...", " ", "(", "maybe", ")", " ", " ok", "?", "\n\n", "\t", "Done", ".", "\r\n"],
["The", " year", " ", "123", "456", "789", "0", " had", "  ", " spaces", "  ", " and", "\u00a0", "nbsp", ",", " caf\u00e9", " na\u00efve", " \u00c6r\u00f8", ",", " \u0436\u0443\u043a", " \u4e2d\u6587\u5b57", " \ud83d\ude00", "!!"],
["camelCaseWord", " SCREAMING", "_", "CASE", " kebab", "-", "case", " x", "<|", "y", "|>", "z", " ", "$", "100", "+", "200", "=", "300", " a", "^", "b", " ", "`", "code", "`", " a", "|", "b"]
],
"gpt-4o": [
["Hello", ",", " world", "!", " It's", " ", "123", "45", " o", "'clock", " --", " I'LL", " see", " you", " at", " ", "3", ":", "30", "pm", "...", " (", "maybe", ")", " ", " ok", "?\n\n", "\tDone", ".\r\n"],
["The", " year", " ", "123", "456", "789", "0", " had", "  ", " spaces", "  ", " and", "\u00a0nbsp", ",", " caf\u00e9", " na\u00efve", " \u00c6r\u00f8", ",", " \u0436\u0443\u043a", " \u4e2d\u6587\u5b57", " \ud83d\ude00!!"],
["camel", "Case", "Word", " SCREAMING", "_CASE", " kebab", "-case", " x", "<|", "y", "|>", "z", " $", "100", "+", "200", "=", "300", " a", "^b", " `", "code", "`", " a", "|b"]
],
"superbpe": [
["Hello, world! It's ", "12", "345", " o'clock -- I'LL see you at ", "3", ":", "30", "pm... (maybe)  ok?\n\n\tDone.\r\n"],
["The year ", "1", "234", "567", "890", " had   spaces   and\u00a0nbsp, caf\u00e9 na\u00efve \u00c6r\u00f8, \u0436\u0443\u043a \u4e2d\u6587\u5b57 \ud83d\ude00!!"],
["camelCaseWord SCREAMING_CASE kebab-case x<|y|>z $", "100", "+", "200", "=", "300", " a^b `code` a|b"]
],
"deepseek-coder": [
["Hello", ",", " world", "!", " It", "'", "s", " ", "1", "2", "3", "4", "5", " o", "'", "clock", " --", " I", "'", "LL", " see", " you", " at", " ", "3", ":", "3", "0", "pm", "...", " (", "maybe", ")", " ", " ok", "?", "\n", "\n", "\tDone", ".", "\r", "\n"],
["The", " year", " ", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", " had", "  ", " spaces", "  ", " and", "\u00a0nbsp", ",", " caf\u00e9", " na\u00efve", " \u00c6r\u00f8", ",", " \u0436\u0443\u043a", " ", "\u4e2d\u6587\u5b57", " \ud83d\ude00", "!!"],
["camelCaseWord", " SCREAMING", "_", "CASE", " kebab", "-", "case", " x", "<|", "y", "|>", "z", " $", "1", "0", "0", "+", "2", "0", "0", "=", "3", "0", "0", " a", "^", "b", " `", "code", "`", " a", "|", "b"]
]
}})json";

TEST(PreTokenizer, SplitsLikeAUnicodeRegex) {
  const json j = json::parse(kPythonRegexSplits);
  int checked = 0;
  for (const auto& [name, lists] : j.at("splits").items()) {
    const ss::PreTokenizerSpec* spec = ss::find_pre_tokenizer(name);
    ASSERT_NE(spec, nullptr) << name;
    const ss::RegexSplitter splitter(spec->regexes, name);
    for (size_t t = 0; t < lists.size(); ++t) {
      const std::string text = j.at("texts").at(t).get<std::string>();
      std::vector<std::string> words;
      for (const auto& [b, e] : splitter.split(text)) words.push_back(text.substr(b, e - b));
      EXPECT_EQ(words, lists.at(t).get<std::vector<std::string>>()) << name << ", text " << t;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 27);
  EXPECT_EQ(ss::find_pre_tokenizer("no-such-pre"), nullptr);
}

// --- Synthetic tokenizer.json ----------------------------------------------------

// A byte-level tokenizer.json: the 256 bytes (id = byte value), then `extra`
// tokens (ids 256...), with `merges` ("a b", raw text), the pre-tokenizer,
// added tokens and post-processor given.
json tiny_tokenizer(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                    const json& pre_tokenizer) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level(std::string(1, char(b)))] = b;
  for (size_t i = 0; i < extra.size(); ++i) vocab[byte_level(extra[i])] = 256 + i;
  json m = json::array();
  for (const std::string& s : merges) {
    size_t space = s.find(' ', 1);
    m.push_back(byte_level(s.substr(0, space)) + " " + byte_level(s.substr(space + 1)));
  }
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

json byte_level_pre(bool use_regex, bool add_prefix_space = false) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", add_prefix_space},
          {"trim_offsets", true},
          {"use_regex", use_regex}};
}

json split_pre(std::string_view pattern) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern", {{"Regex", pattern}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            byte_level_pre(false)}}};
}

// Writes j as DIR/tokenizer.json (and config as tokenizer_config.json) and loads it.
std::unique_ptr<ss::Tokenizer> load_json(const json& j, const json& config = nullptr) {
  std::string d = sstest::temp_dir();
  spit(d + "/tokenizer.json", j.dump());
  if (!config.is_null()) spit(d + "/tokenizer_config.json", config.dump());
  return ss::load_tokenizer(d + "/tokenizer.json");
}

TEST(BpeTokenizer, Llama3AndQwen2Patterns) {
  const std::vector<std::string> extra = {"12", "34", "123", ".\n"};
  const std::vector<std::string> merges = {"1 2", "3 4", "12 3", ". \n"};
  auto gpt2 = load_json(tiny_tokenizer(extra, merges, byte_level_pre(true)));
  auto llama3 = load_json(tiny_tokenizer(extra, merges, split_pre(ss::kLlama3Pattern)));
  auto qwen2 = load_json(tiny_tokenizer(extra, merges, split_pre(ss::kQwen2Pattern)));
  EXPECT_EQ(gpt2->encode("1234", false), (std::vector<int>{256, 257}));    // 12 34
  EXPECT_EQ(llama3->encode("1234", false), (std::vector<int>{258, '4'}));  // 123 4
  EXPECT_EQ(qwen2->encode("1234", false), (std::vector<int>{'1', '2', '3', '4'}));
  // Llama-3 keeps newlines after symbols.
  EXPECT_EQ(gpt2->encode("x.\n\nab", false), (std::vector<int>{'x', '.', '\n', '\n', 'a', 'b'}));
  EXPECT_EQ(llama3->encode("x.\n\nab", false), (std::vector<int>{'x', 259, '\n', 'a', 'b'}));
}

TEST(BpeTokenizer, MergeListForms) {
  json strings = tiny_tokenizer({"ab", "abc"}, {"a b", "ab c"}, byte_level_pre(true));
  json lists = strings;
  lists["model"]["merges"] = json::array({json::array({"a", "b"}), json::array({"ab", "c"})});
  for (const json& j : {strings, lists}) {
    auto t = load_json(j);
    EXPECT_EQ(t->encode("abcab", false), (std::vector<int>{257, 256}));
  }
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeTokens) {
  json j = tiny_tokenizer({"xyz"}, {}, byte_level_pre(true));
  EXPECT_EQ(load_json(j)->encode("xyz", false), (std::vector<int>{'x', 'y', 'z'}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(load_json(j)->encode("xyz xy", false), (std::vector<int>{256, ' ', 'x', 'y'}));
}

TEST(BpeTokenizer, AddPrefixSpace) {
  auto t = load_json(tiny_tokenizer({" h", " hi"}, {"  h", " h i"}, byte_level_pre(true, true)));
  EXPECT_EQ(t->encode("hi", false), (std::vector<int>{257}));
  EXPECT_EQ(t->encode(" hi", false), (std::vector<int>{257}));
  EXPECT_EQ(t->encode("hi hi", false), (std::vector<int>{257, 257}));
}

TEST(BpeTokenizer, AddedTokensLeftmostLongest) {
  json j = tiny_tokenizer({}, {}, byte_level_pre(true));
  j["added_tokens"] = {{{"id", 256}, {"content", "ab"}, {"special", false}},
                       {{"id", 257}, {"content", "abc"}, {"special", true}},
                       {{"id", 258}, {"content", "bcd"}, {"special", false}},
                       {{"id", 259}, {"content", "\xC3\xA9t\xC3\xA9"}, {"special", false}}};
  auto t = load_json(j);
  EXPECT_EQ(t->vocab_size(), 260);
  EXPECT_EQ(t->encode("abcd", false), (std::vector<int>{257, 'd'}));
  EXPECT_EQ(t->encode("xabx bcd", false), (std::vector<int>{'x', 256, 'x', ' ', 258}));
  EXPECT_EQ(t->encode("été!", false), (std::vector<int>{259, '!'}));
  EXPECT_EQ(t->decode(0, 257), "");
  EXPECT_EQ(t->decode(0, 258), "bcd");
  EXPECT_EQ(t->bos_id(), -1);
  EXPECT_EQ(t->eos_id(), -1);
}

TEST(BpeTokenizer, BosAndEos) {
  json j = tiny_tokenizer({}, {}, split_pre(ss::kLlama3Pattern));
  j["added_tokens"] = {{{"id", 256}, {"content", "<|begin_of_text|>"}, {"special", true}},
                       {{"id", 257}, {"content", "<|end_of_text|>"}, {"special", true}},
                       {{"id", 258}, {"content", "<|eot_id|>"}, {"special", true}}};
  // Llama-3 adds BOS through its post-processor.
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {byte_level_pre(false),
        {{"type", "TemplateProcessing"},
         {"single",
          {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
           {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
         {"special_tokens",
          {{"<|begin_of_text|>",
            {{"id", "<|begin_of_text|>"}, {"ids", {256}}, {"tokens", {"<|begin_of_text|>"}}}}}}}}}};
  auto t = load_json(j);
  EXPECT_EQ(t->bos_id(), 256);
  EXPECT_EQ(t->eos_id(), 257);
  EXPECT_EQ(t->encode("hi", true), (std::vector<int>{256, 'h', 'i'}));
  EXPECT_EQ(t->encode("hi", false), (std::vector<int>{'h', 'i'}));

  // tokenizer_config.json has the last word, in either of its spellings.
  t = load_json(j, {{"add_bos_token", false}, {"eos_token", "<|eot_id|>"}});
  EXPECT_EQ(t->bos_id(), -1);
  EXPECT_EQ(t->eos_id(), 258);
  EXPECT_EQ(t->encode("hi", true), (std::vector<int>{'h', 'i'}));
  j["post_processor"] = nullptr;
  t = load_json(j, {{"add_bos_token", true},
                    {"bos_token", {{"__type", "AddedToken"}, {"content", "<|eot_id|>"}}},
                    {"eos_token", nullptr}});
  EXPECT_EQ(t->bos_id(), 258);
  EXPECT_EQ(t->eos_id(), 257);
  // BOS and EOS may be plain vocabulary tokens.
  t = load_json(j, {{"add_bos_token", true}, {"bos_token", "x"}, {"eos_token", "\n"}});
  EXPECT_EQ(t->bos_id(), 'x');
  EXPECT_EQ(t->eos_id(), '\n');
}

TEST(BpeTokenizer, JsonErrors) {
  const std::string d = sstest::temp_dir();
  const std::string path = d + "/tokenizer.json";
  const json good = tiny_tokenizer({"ab"}, {"a b"}, byte_level_pre(true));
  const auto message = [&](const std::string& text) {
    spit(path, text);
    return error_of([&] { ss::load_tokenizer(path); });
  };
  const auto with = [&](const char* key, const json& v) {
    json j = good;
    j[key] = v;
    return j.dump();
  };
  const auto with_model = [&](const char* key, const json& v) {
    json j = good;
    if (v.is_null()) {
      j["model"].erase(key);
    } else {
      j["model"][key] = v;
    }
    return j.dump();
  };

  EXPECT_TRUE(message("{\"model\": ").starts_with(path + ": invalid JSON: "));
  EXPECT_EQ(message("[]"), path + ": no tokenizer model (not a tokenizer.json)");
  EXPECT_EQ(
      message(with_model("type", "WordPiece")),
      path + ": unsupported tokenizer model type WordPiece (only byte-level BPE is supported)");
  EXPECT_EQ(message(with("model", {{"type", "Unigram"}, {"vocab", json::array()}})),
            path + ": unsupported tokenizer model type Unigram (only byte-level BPE is supported)");
  EXPECT_EQ(message(with_model("vocab", nullptr)),
            path + ": model.vocab is missing or not an object");
  EXPECT_EQ(message(with_model("vocab", json::array())),
            path + ": model.vocab is missing or not an object");
  EXPECT_EQ(message(with_model("vocab", {{"a", -1}})),
            path + ": vocabulary id -1 is not in [0, 1)");
  EXPECT_EQ(message(with_model("vocab", {{"a", 7}})), path + ": vocabulary id 7 is not in [0, 1)");
  EXPECT_EQ(message(with_model("merges", json::array({"a z"}))),
            path + ": merge 0 uses or makes a token that is not in the vocabulary");
  EXPECT_EQ(message(with_model("merges", json::array({"ab"}))),
            path + ": merge 0 is not two tokens separated by a space");
  EXPECT_EQ(message(with_model("merges", json::array({json::array({"a"})}))),
            path + ": merge 0 is neither \"a b\" nor [a, b]");
  EXPECT_EQ(message(with_model("continuing_subword_prefix", "##")),
            path + ": BPE with a continuing_subword_prefix is not supported");
  // SentencePiece-style BPE (Llama-2's tokenizer.json) has no ByteLevel step.
  EXPECT_EQ(message(with("pre_tokenizer", nullptr)),
            path + ": not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer)");
  EXPECT_EQ(message(with("pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "_"}})),
            path + ": unsupported pre-tokenizer Metaspace");
  EXPECT_EQ(
      message(with("pre_tokenizer",
                   {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Isolated"}})),
      path + ": pre-tokenizer Split: only a Regex pattern is supported");
  EXPECT_EQ(
      message(with("pre_tokenizer",
                   {{"type", "Split"}, {"pattern", {{"Regex", "x"}}}, {"behavior", "Removed"}})),
      path + ": pre-tokenizer Split: only behavior Isolated without invert is supported");
  EXPECT_TRUE(message(with("pre_tokenizer", split_pre("(")))
                  .starts_with(path + ": cannot compile pre-tokenizer regex (at offset 1: "));
  EXPECT_EQ(message(with("normalizer", {{"type", "Lowercase"}})),
            path + ": unsupported normalizer Lowercase");
  EXPECT_EQ(message(with("added_tokens", {{{"id", 999}, {"content", "x"}}})),
            path + ": added token id 999 is outside the vocabulary of 258 entries");
  EXPECT_EQ(message(with("added_tokens", {{{"content", "x"}}})), path + ": key 'id' not found");
  EXPECT_EQ(message(with("pre_tokenizer", {{"type", "ByteLevel"}, {"use_regex", "yes"}})),
            path + ": type must be boolean, but is string");

  spit(d + "/tokenizer_config.json", "{\"eos_token\": \"<nope>\"}");
  EXPECT_EQ(message(good.dump()),
            d + "/tokenizer_config.json: eos_token \"<nope>\" is not a token");
  spit(d + "/tokenizer_config.json", "{\"add_bos_token\": 1}");
  EXPECT_EQ(message(good.dump()),
            d + "/tokenizer_config.json: type must be boolean, but is number");
  spit(d + "/tokenizer_config.json", "{");
  EXPECT_TRUE(message(good.dump()).starts_with(d + "/tokenizer_config.json: invalid JSON: "));
}

// --- GGUF parser -----------------------------------------------------------------

template <typename T>
std::string le(T v) {
  std::string s(sizeof v, '\0');
  std::memcpy(s.data(), &v, sizeof v);
  return s;
}
std::string gstr(std::string_view s) { return le<uint64_t>(s.size()) + std::string(s); }
std::string gtype(GgufType t) { return le<uint32_t>(static_cast<uint32_t>(t)); }

// Builds GGUF files field by field.
struct GgufBuilder {
  uint32_t version = 3;
  uint64_t alignment = 32;
  uint64_t n_kv = 0, n_tensors = 0;
  std::string kvs, infos, data;

  GgufBuilder& kv(std::string_view key, GgufType type, const std::string& value) {
    kvs += gstr(key) + gtype(type) + value;
    ++n_kv;
    return *this;
  }
  GgufBuilder& string(std::string_view key, std::string_view v) {
    return kv(key, GgufType::String, gstr(v));
  }
  GgufBuilder& strings(std::string_view key, const std::vector<std::string>& v) {
    std::string s = gtype(GgufType::String) + le<uint64_t>(v.size());
    for (const auto& x : v) s += gstr(x);
    return kv(key, GgufType::Array, s);
  }
  template <typename T>
  GgufBuilder& array(std::string_view key, GgufType type, const std::vector<T>& v) {
    std::string s = gtype(type) + le<uint64_t>(v.size());
    for (T x : v) s += le(x);
    return kv(key, GgufType::Array, s);
  }
  // A tensor with the given bytes, placed at the next aligned offset.
  GgufBuilder& tensor(std::string_view name, const std::vector<int64_t>& dims, uint32_t type,
                      const std::string& bytes) {
    data.resize((data.size() + alignment - 1) / alignment * alignment, '\0');
    infos += gstr(name) + le<uint32_t>(dims.size());
    for (int64_t d : dims) infos += le(d);
    infos += le(type) + le<uint64_t>(data.size());
    data += bytes;
    ++n_tensors;
    return *this;
  }
  std::string bytes() const {
    std::string s = "GGUF" + le(version) + le(n_tensors) + le(n_kv) + kvs + infos;
    if (n_tensors > 0) s.resize((s.size() + alignment - 1) / alignment * alignment, '\0');
    return s + data;
  }
  std::string write() const {
    std::string path = sstest::temp_dir() + "/model.gguf";
    spit(path, bytes());
    return path;
  }
};

std::string floats(const std::vector<float>& v) {
  std::string s;
  for (float x : v) s += le(x);
  return s;
}

// A file with every value type, nested and empty arrays, and three tensors.
GgufBuilder sample_gguf() {
  GgufBuilder b;
  b.kv("u8", GgufType::U8, le<uint8_t>(200))
      .kv("i8", GgufType::I8, le<int8_t>(-5))
      .kv("u16", GgufType::U16, le<uint16_t>(60000))
      .kv("i16", GgufType::I16, le<int16_t>(-30000))
      .kv("u32", GgufType::U32, le<uint32_t>(4000000000u))
      .kv("i32", GgufType::I32, le<int32_t>(-7))
      .kv("f32", GgufType::F32, le(1.5f))
      .kv("bool", GgufType::Bool, le<uint8_t>(1))
      .string("str", "h\xC3\xA9llo")
      .kv("u64", GgufType::U64, le<uint64_t>(uint64_t(1) << 40))
      .kv("i64", GgufType::I64, le<int64_t>(-(int64_t(1) << 40)))
      .kv("f64", GgufType::F64, le(2.25))
      .array<int32_t>("ints", GgufType::I32, {1, -2, 3})
      .array<uint8_t>("bytes", GgufType::U8, {})
      .array<double>("doubles", GgufType::F64, {0.5, -1})
      .strings("words", {"a", "", "bc"})
      .kv("nested", GgufType::Array,
          gtype(GgufType::Array) + le<uint64_t>(2) + gtype(GgufType::U16) + le<uint64_t>(1) +
              le<uint16_t>(9) + gtype(GgufType::String) + le<uint64_t>(1) + gstr("x"));
  b.tensor("a", {3, 2}, 0, floats({1, 2, 3, 4, 5, 6}))
      .tensor("odd", {5}, 99, std::string(3, '\x22'))
      .tensor("q", {64}, 8, std::string(68, '\x11'));
  return b;
}

TEST(Gguf, ReadsEveryValueTypeAndTensors) {
  GgufBuilder b = sample_gguf();
  const std::string path = b.write();
  ss::GgufFile f = ss::GgufFile::open(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.metadata().size(), 17u);
  EXPECT_EQ(f.metadata()[0].key, "u8");
  EXPECT_EQ(f.get_int("u8"), 200);
  EXPECT_EQ(f.get_int("i8"), -5);
  EXPECT_EQ(f.get_int("u16"), 60000);
  EXPECT_EQ(f.get_int("i16"), -30000);
  EXPECT_EQ(f.get_int("u32"), 4000000000);
  EXPECT_EQ(f.get_int("i32"), -7);
  EXPECT_EQ(f.get_float("f32"), 1.5);
  EXPECT_TRUE(f.get_bool("bool"));
  EXPECT_EQ(f.get_string("str"), "h\xC3\xA9llo");
  EXPECT_EQ(f.get_int("u64"), int64_t(1) << 40);
  EXPECT_EQ(f.get_int("i64"), -(int64_t(1) << 40));
  EXPECT_EQ(f.get_float("f64"), 2.25);
  EXPECT_EQ(f.get_int_array("ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.get_int_array("bytes"), std::vector<int64_t>{});
  EXPECT_EQ(f.get_float_array("doubles"), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(f.get_string_array("words"), (std::vector<std::string_view>{"a", "", "bc"}));
  const ss::GgufKv* nested = f.find("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->type, GgufType::Array);
  EXPECT_EQ(nested->elem_type, GgufType::Array);
  EXPECT_EQ(nested->count, 2u);
  EXPECT_EQ(f.find("absent"), nullptr);
  EXPECT_FALSE(f.has("absent"));

  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  const ss::GgufTensorInfo* a = f.find_tensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dims, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(a->numel(), 6);
  EXPECT_EQ(a->type, 0u);
  EXPECT_EQ(a->bytes, 24u);
  float values[6];
  std::memcpy(values, f.data() + f.data_offset() + a->offset, sizeof values);
  EXPECT_EQ(values[5], 6.0f);
  EXPECT_EQ(f.tensors()[1].name, "odd");
  EXPECT_EQ(f.tensors()[1].offset, 32u);
  EXPECT_EQ(f.tensors()[1].bytes, std::nullopt);  // a type without a known size
  const ss::GgufTensorInfo& q = f.tensors()[2];
  EXPECT_EQ(q.name, "q");
  EXPECT_EQ(q.offset, 64u);
  EXPECT_EQ(q.bytes, 68u);  // two Q8_0 blocks
  EXPECT_EQ(f.data()[f.data_offset() + q.offset], 0x11);
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
  EXPECT_EQ(f.mapping()->size(), b.bytes().size());
}

TEST(Gguf, AlignmentAndVersion2) {
  GgufBuilder b;
  b.version = 2;
  b.alignment = 64;
  b.kv("general.alignment", GgufType::U32, le<uint32_t>(64));
  b.tensor("x", {1}, 0, floats({1})).tensor("y", {2}, 1, "abcd");
  ss::GgufFile f = ss::GgufFile::open(b.write());
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.tensors()[1].offset, 64u);
  EXPECT_EQ(f.tensors()[1].bytes, 4u);
}

TEST(Gguf, ReadsVocabFiles) {
  ss::GgufFile f = ss::GgufFile::open(kMptGguf);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.get_string("general.architecture"), "mpt");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 50432u);
  EXPECT_EQ(f.get_int("mpt.context_length"), 2048);
  EXPECT_FLOAT_EQ(f.get_float("mpt.attention.max_alibi_bias"), 8.0);
}

TEST(Gguf, TypedAccessErrors) {
  GgufBuilder b = sample_gguf();
  b.kv("big", GgufType::U64, le<uint64_t>(~uint64_t(0))).kv("two", GgufType::Bool, le<uint8_t>(2));
  const std::string path = b.write();
  ss::GgufFile f = ss::GgufFile::open(path);
  EXPECT_EQ(error_of([&] { f.get_int("absent"); }), path + ": metadata absent is missing");
  EXPECT_EQ(error_of([&] { f.get_string("u8"); }), path + ": metadata u8 is u8, not string");
  EXPECT_EQ(error_of([&] { f.get_int("f32"); }), path + ": metadata f32 is f32, not integer");
  EXPECT_EQ(error_of([&] { f.get_float("i32"); }), path + ": metadata i32 is i32, not float");
  EXPECT_EQ(error_of([&] { f.get_bool("ints"); }),
            path + ": metadata ints is an array of i32, not bool");
  EXPECT_EQ(error_of([&] { f.get_string_array("ints"); }),
            path + ": metadata ints is an array of i32, not an array of string");
  EXPECT_EQ(error_of([&] { f.get_int_array("str"); }),
            path + ": metadata str is string, not an array of integer");
  EXPECT_EQ(error_of([&] { f.get_int_array("nested"); }),
            path + ": metadata nested is an array of array, not an array of integer");
  EXPECT_EQ(error_of([&] { f.get_int("big"); }),
            path + ": metadata big value 18446744073709551615 is out of range");
  EXPECT_EQ(error_of([&] { f.get_bool("two"); }), path + ": metadata two is a bool with value 2");
}

TEST(Gguf, HeaderErrors) {
  const std::string d = sstest::temp_dir();
  const std::string path = d + "/bad.gguf";
  const auto message = [&](const std::string& bytes) {
    spit(path, bytes);
    return error_of([&] { ss::GgufFile::open(path); });
  };
  const std::string counts = le<uint64_t>(0) + le<uint64_t>(0);
  EXPECT_EQ(message("GGML" + le<uint32_t>(3) + counts),
            path + ": not a GGUF file (it does not start with \"GGUF\")");
  EXPECT_EQ(message(""), path + ": not a GGUF file (it does not start with \"GGUF\")");
  EXPECT_EQ(message("GGUF" + le<uint32_t>(99) + counts),
            path + ": unsupported GGUF version 99 (2 and 3 are supported)");
  EXPECT_EQ(message("GGUF" + le<uint32_t>(1) + counts),
            path + ": unsupported GGUF version 1 (2 and 3 are supported)");
  EXPECT_EQ(message("GGUF" + le<uint32_t>(0x03000000) + counts),
            path + ": big-endian GGUF files are not supported");
  EXPECT_EQ(
      message("GGUF" + le<uint32_t>(3) + le<uint64_t>(0)),
      path + ": GGUF file is truncated (the metadata count at byte 16 needs 8 bytes, 0 left)");
  EXPECT_EQ(message("GGUF" + le<uint32_t>(3) + le<uint64_t>(uint64_t(1) << 60) + le<uint64_t>(0)),
            path +
                ": GGUF header claims 1152921504606846976 tensors, more than the file's 24 "
                "bytes can hold");
  EXPECT_EQ(message("GGUF" + le<uint32_t>(3) + le<uint64_t>(0) + le<uint64_t>(~uint64_t(0))),
            path +
                ": GGUF header claims 18446744073709551615 metadata entries, more than the "
                "file's 24 bytes can hold");
  spit(path, GgufBuilder().bytes());
  EXPECT_NO_THROW(ss::GgufFile::open(path));  // no metadata, no tensors
}

TEST(Gguf, MetadataErrors) {
  const std::string d = sstest::temp_dir();
  const std::string path = d + "/bad.gguf";
  const auto message = [&](const GgufBuilder& b) {
    spit(path, b.bytes());
    return error_of([&] { ss::GgufFile::open(path); });
  };
  // A string or key whose length runs past the end.
  EXPECT_EQ(
      message(GgufBuilder().kv("k", GgufType::String, le<uint64_t>(uint64_t(1) << 40) + "ab")),
      path +
          ": GGUF file is truncated (a string at byte 45 needs 1099511627776 bytes, 2 "
          "left)");
  GgufBuilder key;
  key.kvs = le<uint64_t>(~uint64_t(0)) + std::string(20, 'k');
  key.n_kv = 1;
  EXPECT_EQ(message(key),
            path +
                ": GGUF file is truncated (a metadata key at byte 32 needs 18446744073709551615 "
                "bytes, 20 left)");
  EXPECT_EQ(message(GgufBuilder().kv("k", GgufType::Array,
                                     gtype(GgufType::U32) + le<uint64_t>(uint64_t(1) << 62))),
            path +
                ": GGUF file is truncated (k: 4611686018427387904 u32 values at byte 49, 0 "
                "bytes left)");
  EXPECT_EQ(message(GgufBuilder().kv("k", GgufType::Array,
                                     gtype(GgufType::String) + le<uint64_t>(3) + gstr("x"))),
            path + ": GGUF file is truncated (k: 3 strings at byte 49, 9 bytes left)");
  EXPECT_EQ(message(GgufBuilder().kv("k", static_cast<GgufType>(13), "")),
            path + ": k has unknown GGUF value type 13 at byte 33");
  // Control characters from the file are escaped: the message stays one line.
  EXPECT_EQ(message(GgufBuilder().kv("k\n\t", static_cast<GgufType>(13), "")),
            path + ": k\\x0a\\x09 has unknown GGUF value type 13 at byte 35");
  std::string deep = gtype(GgufType::U8) + le<uint64_t>(0);
  for (int i = 0; i < 8; ++i) deep = gtype(GgufType::Array) + le<uint64_t>(1) + deep;
  EXPECT_EQ(message(GgufBuilder().kv("k", GgufType::Array, deep)),
            path + ": k: arrays nested more than 8 deep");
  EXPECT_EQ(message(GgufBuilder().kv("k", GgufType::U8, "x").kv("k", GgufType::U8, "y")),
            path + ": duplicate metadata key k");
  for (uint32_t a : {0u, 3u, 48u}) {
    EXPECT_EQ(message(GgufBuilder().kv("general.alignment", GgufType::U32, le(a))),
              path + ": general.alignment " + std::to_string(a) + " is not a power of two");
  }
  EXPECT_EQ(message(GgufBuilder().string("general.alignment", "32")),
            path + ": general.alignment is string, not an integer");
}

TEST(Gguf, TensorErrors) {
  const std::string d = sstest::temp_dir();
  const std::string path = d + "/bad.gguf";
  const auto message = [&](const GgufBuilder& b) {
    spit(path, b.bytes());
    return error_of([&] { ss::GgufFile::open(path); });
  };
  EXPECT_EQ(message(GgufBuilder().tensor("t", {1, 1, 1, 1, 1}, 0, floats({1}))),
            path + ": tensor t has 5 dimensions (at most 4)");
  EXPECT_EQ(message(GgufBuilder().tensor("t", {-1}, 0, "")),
            path + ": tensor t has a negative dimension -1");
  EXPECT_EQ(message(GgufBuilder().tensor("t", {int64_t(1) << 40, int64_t(1) << 40}, 0, "")),
            path + ": tensor t has too many elements");
  EXPECT_EQ(message(GgufBuilder().tensor("t", {int64_t(1) << 62}, 0, "")),
            path + ": tensor t is too large");
  EXPECT_EQ(message(GgufBuilder().tensor("t", {33}, 8, std::string(34, 'x'))),
            path +
                ": tensor t has rows of 33 elements, not a multiple of its ggml type 8's block "
                "of 32");
  EXPECT_EQ(
      message(GgufBuilder().tensor("t", {1}, 0, floats({1})).tensor("t", {1}, 0, floats({1}))),
      path + ": duplicate tensor name t");
  EXPECT_EQ(message(GgufBuilder().tensor("t", {2}, 0, floats({1}))),
            path +
                ": tensor t (8 bytes at offset 0) runs past the end of the data section (4 "
                "bytes)");
  spit(path, GgufBuilder().tensor("t", {1}, 99, "").bytes().substr(0, 61));
  EXPECT_EQ(error_of([&] { ss::GgufFile::open(path); }),
            path +
                ": GGUF file is truncated (tensor data would start at byte 64, past its end at "
                "61)");
  GgufBuilder misaligned;
  misaligned.tensor("t", {1}, 0, floats({1}));
  misaligned.infos.replace(misaligned.infos.size() - 8, 8, le<uint64_t>(4));
  misaligned.data += floats({1});
  EXPECT_EQ(message(misaligned),
            path + ": tensor t has offset 4, not a multiple of the alignment 32");
  GgufBuilder beyond;
  beyond.tensor("t", {1}, 99, "abc");
  beyond.infos.replace(beyond.infos.size() - 8, 8, le<uint64_t>(64));
  EXPECT_EQ(message(beyond),
            path +
                ": tensor t (0 bytes at offset 64) runs past the end of the data section (3 "
                "bytes)");
}

TEST(Gguf, TruncatedAnywhereFails) {
  const std::string full = sample_gguf().bytes();
  const std::string path = sstest::temp_dir() + "/cut.gguf";
  for (size_t cut = 0; cut < full.size(); ++cut) {
    spit(path, std::string_view(full).substr(0, cut));
    EXPECT_TRUE(error_of([&] { ss::GgufFile::open(path); }).starts_with(path + ": ")) << cut;
  }
}

RC_GTEST_PROP(Gguf, CorruptFilesFailCleanly, ()) {
  // Random bytes overwritten anywhere: the file opens or is a one-line error.
  static const std::string full = sample_gguf().bytes();
  static const std::string path = sstest::temp_dir() + "/corrupt.gguf";
  std::string bytes = full;
  const auto edits = *rc::gen::nonEmpty(rc::gen::container<std::vector<std::pair<size_t, uint8_t>>>(
      rc::gen::pair(rc::gen::inRange<size_t>(0, full.size()), rc::gen::arbitrary<uint8_t>())));
  for (const auto& [at, value] : edits) bytes[at] = static_cast<char>(value);
  spit(path, bytes);
  try {
    ss::GgufFile f = ss::GgufFile::open(path);
    for (const ss::GgufKv& kv : f.metadata()) RC_ASSERT(kv.offset <= bytes.size());
  } catch (const ss::Error& e) {
    RC_ASSERT(std::string(e.what()).starts_with(path + ": "));
    RC_ASSERT(std::string(e.what()).find('\n') == std::string::npos);
  }
}

// --- GGUF vocabularies -------------------------------------------------------------

// A "llama" vocabulary: <unk>, <s>, </s>, the 256 byte pieces, then pieces.
GgufBuilder spm_vocab(const std::vector<std::pair<std::string, float>>& pieces) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores(259, 0.0f);
  std::vector<int32_t> types = {2, 3, 3};
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
    types.push_back(6);
  }
  for (const auto& [piece, score] : pieces) {
    tokens.push_back(piece);
    scores.push_back(score);
    types.push_back(1);
  }
  GgufBuilder b;
  b.string("tokenizer.ggml.model", "llama")
      .strings("tokenizer.ggml.tokens", tokens)
      .array("tokenizer.ggml.scores", GgufType::F32, scores)
      .array("tokenizer.ggml.token_type", GgufType::I32, types);
  return b;
}

TEST(GgufVocab, SpmOptions) {
  // Pieces spell spaces U+2581: 259 "▁", 260 "a", 261 "▁a", 262 "s", 263 "<",
  // 264 ">", 265 "<s". As in llama.cpp, merges may make any token, the control
  // token <s> too; as special text it needs encode_special.
  const std::vector<std::pair<std::string, float>> pieces = {{"\xE2\x96\x81", -1},
                                                             {"a", -2},
                                                             {"\xE2\x96\x81"
                                                              "a",
                                                              -3},
                                                             {"s", -4},
                                                             {"<", -5},
                                                             {">", -6},
                                                             {"<s", -7}};
  auto t = ss::load_tokenizer(spm_vocab(pieces).write());
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->encode("a a", true), (std::vector<int>{1, 261, 261}));
  EXPECT_EQ(t->encode("<s>", false), (std::vector<int>{259, 1}));
  EXPECT_EQ(t->encode("<s", false), (std::vector<int>{259, 265}));
  EXPECT_EQ(t->encode_special("a<s>a", false, true), (std::vector<int>{261, 1, 261}));
  EXPECT_EQ(t->encode("\n", false), (std::vector<int>{259, 13}));  // byte fallback
  EXPECT_EQ(t->decode(1, 261), "a");
  EXPECT_EQ(t->decode(260, 261), " a");
  EXPECT_EQ(t->decode(260, 1), "");

  GgufBuilder b = spm_vocab(pieces);
  b.kv("tokenizer.ggml.add_bos_token", GgufType::Bool, le<uint8_t>(0))
      .kv("tokenizer.ggml.add_space_prefix", GgufType::Bool, le<uint8_t>(0))
      .kv("tokenizer.ggml.eos_token_id", GgufType::U32, le<uint32_t>(1));
  t = ss::load_tokenizer(b.write());
  EXPECT_EQ(t->bos_id(), -1);
  EXPECT_EQ(t->eos_id(), 1);
  EXPECT_EQ(t->encode("a a", true), (std::vector<int>{260, 261}));
  EXPECT_EQ(t->decode(1, 261), " a");
}

// A "gpt2" vocabulary: the 256 byte-level characters, then tokens, then
// control and user-defined tokens.
GgufBuilder gpt2_vocab(const std::string& pre, uint32_t eos = 260) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(byte_level(std::string(1, char(b))));
    types.push_back(1);
  }
  tokens.insert(tokens.end(), {"12", "34", "123", "<|bos|>", "<|eos|>", "[PAD]", "abc"});
  types.insert(types.end(), {1, 1, 1, 3, 3, 5, 4});
  GgufBuilder b;
  b.string("tokenizer.ggml.model", "gpt2")
      .strings("tokenizer.ggml.tokens", tokens)
      .array("tokenizer.ggml.token_type", GgufType::I32, types)
      .strings("tokenizer.ggml.merges", {"1 2", "3 4", "12 3"})
      .kv("tokenizer.ggml.bos_token_id", GgufType::U32, le<uint32_t>(259))
      .kv("tokenizer.ggml.eos_token_id", GgufType::U32, le(eos));
  if (!pre.empty()) b.string("tokenizer.ggml.pre", pre);
  return b;
}

TEST(GgufVocab, Gpt2PreTokenizers) {
  auto gpt2 = ss::load_tokenizer(gpt2_vocab("").write());
  EXPECT_EQ(gpt2->bos_id(), -1);
  EXPECT_EQ(gpt2->eos_id(), 260);
  // No tokenizer.ggml.pre: llama.cpp's default, digits in threes.
  EXPECT_EQ(gpt2->encode("1234", true), (std::vector<int>{258, '4'}));
  // User-defined tokens always come out of the text, control ones only as
  // special text; unused ones never.
  EXPECT_EQ(gpt2->encode_special("x<|eos|>abc[PAD]", false, true),
            (std::vector<int>{'x', 260, 262, '[', 'P', 'A', 'D', ']'}));
  EXPECT_EQ(
      gpt2->encode("x<|eos|>abc[PAD]", false),
      (std::vector<int>{'x', '<', '|', 'e', 'o', 's', '|', '>', 262, '[', 'P', 'A', 'D', ']'}));
  EXPECT_EQ(gpt2->decode(0, 260), "");
  EXPECT_EQ(gpt2->decode(0, 262), "abc");
  EXPECT_EQ(gpt2->decode(0, 261), "");
  // Llama-3: digits in threes, BOS by default.
  auto llama3 = ss::load_tokenizer(gpt2_vocab("llama-bpe").write());
  EXPECT_EQ(llama3->bos_id(), 259);
  EXPECT_EQ(llama3->encode("1234", true), (std::vector<int>{259, 258, '4'}));
  auto qwen2 = ss::load_tokenizer(gpt2_vocab("qwen2").write());
  EXPECT_EQ(qwen2->bos_id(), -1);
  EXPECT_EQ(qwen2->encode("1234", true), (std::vector<int>{'1', '2', '3', '4'}));
  GgufBuilder b = gpt2_vocab("mpt");
  b.kv("tokenizer.ggml.add_bos_token", GgufType::Bool, le<uint8_t>(1));
  EXPECT_EQ(ss::load_tokenizer(b.write())->encode("1234", true), (std::vector<int>{259, 256, 257}));
}

TEST(GgufVocab, Errors) {
  const auto message = [](const GgufBuilder& b) {
    const std::string path = b.write();
    return std::make_pair(path, error_of([&] { ss::load_tokenizer(path); }));
  };
  auto [path, msg] = message(GgufBuilder());
  EXPECT_EQ(msg, path + " has no tokenizer (tokenizer.ggml.model is missing)");
  GgufBuilder b = gpt2_vocab("");
  b.kvs.replace(b.kvs.find("gpt2"), 4, "bert");
  std::tie(path, msg) = message(b);
  EXPECT_EQ(msg,
            path + ": unsupported tokenizer.ggml.model \"bert\" (llama and gpt2 are supported)");
  std::tie(path, msg) = message(gpt2_vocab("no-such-pre"));
  EXPECT_TRUE(msg.starts_with(path + ": unsupported pre-tokenizer tokenizer.ggml.pre "
                                     "\"no-such-pre\" (supported: default, llama3, "))
      << msg;
  EXPECT_NE(msg.find(", smollm, "), std::string::npos) << msg;
  b = GgufBuilder();
  b.string("tokenizer.ggml.model", "llama")
      .strings("tokenizer.ggml.tokens", {"a", "b"})
      .array<float>("tokenizer.ggml.scores", GgufType::F32, {1});
  std::tie(path, msg) = message(b);
  EXPECT_EQ(msg, path + ": 2 tokens but 1 scores");
  b = GgufBuilder();
  b.string("tokenizer.ggml.model", "llama")
      .strings("tokenizer.ggml.tokens", {"a", "b"})
      .array<int32_t>("tokenizer.ggml.token_type", GgufType::I32, {1});
  std::tie(path, msg) = message(b);
  EXPECT_EQ(msg, path + ": 2 tokens but 1 token types");
  b = GgufBuilder();
  b.string("tokenizer.ggml.model", "llama").strings("tokenizer.ggml.tokens", {});
  std::tie(path, msg) = message(b);
  EXPECT_EQ(msg, path + ": tokenizer.ggml.tokens has 0 tokens");
  std::tie(path, msg) = message(gpt2_vocab("", 9999));
  EXPECT_EQ(msg,
            path + ": tokenizer.ggml.eos_token_id 9999 is outside the vocabulary of 263 tokens");
  b = GgufBuilder();
  b.string("tokenizer.ggml.model", "gpt2").strings("tokenizer.ggml.tokens", {"a"});
  std::tie(path, msg) = message(b);
  EXPECT_EQ(msg, path + ": metadata tokenizer.ggml.merges is missing");
  b.strings("tokenizer.ggml.merges", {"ab"});
  std::tie(path, msg) = message(b);
  EXPECT_EQ(msg, path + ": tokenizer.ggml.merges 0 is not two tokens separated by a space");
}

// --- Loading and discovery ---------------------------------------------------------

TEST(LoadTokenizer, DetectsJsonAndGgufByContent) {
  std::string d = sstest::temp_dir();
  fs::copy_file(kNeoxJson, d + "/neox.dat");
  fs::copy_file(kMptGguf, d + "/vocab.bin");
  auto json_tok = ss::load_tokenizer(d + "/neox.dat");
  EXPECT_NE(dynamic_cast<ss::BpeTokenizer*>(json_tok.get()), nullptr);
  auto gguf_tok = ss::load_tokenizer(d + "/vocab.bin");
  EXPECT_EQ(gguf_tok->vocab_size(), 50432);
  EXPECT_EQ(gguf_tok->encode("Hello world", false), (std::vector<int>{12092, 1533}));
}

TEST(FindTokenizer, GgufAndTokenizerJson) {
  // A GGUF checkpoint carries its own vocabulary.
  EXPECT_EQ(ss::find_tokenizer(kNeoxGguf)->vocab_size(), 50432);
  // In a directory: tokenizer.model, then tokenizer.json, then tokenizer.bin.
  std::string d = sstest::temp_dir();
  fs::copy_file(asset("tokenizers/llama2/tokenizer.bin"), d + "/tokenizer.bin");
  EXPECT_NE(dynamic_cast<ss::Llama2cTokenizer*>(ss::find_tokenizer(d).get()), nullptr);
  fs::copy_file(kNeoxJson, d + "/tokenizer.json");
  auto t = ss::find_tokenizer(d + "/model.safetensors");
  EXPECT_NE(dynamic_cast<ss::BpeTokenizer*>(t.get()), nullptr);
  EXPECT_EQ(t->eos_id(), 0);
  fs::copy_file(asset("tokenizers/llama2/tokenizer.model"), d + "/tokenizer.model");
  EXPECT_NE(dynamic_cast<ss::SentencePieceTokenizer*>(ss::find_tokenizer(d).get()), nullptr);
}

TEST(FindTokenizer, ReadsTokenizerConfigBeside) {
  std::string d = sstest::temp_dir();
  fs::copy_file(kNeoxJson, d + "/tokenizer.json");
  fs::copy_file(asset("tokenizers/gpt-neox/tokenizer_config.json"), d + "/tokenizer_config.json");
  auto t = ss::find_tokenizer(d);
  EXPECT_EQ(t->bos_id(), -1);  // the config names <|endoftext|> but does not add it
  EXPECT_EQ(t->eos_id(), 0);
  spit(d + "/tokenizer_config.json",
       R"({"add_bos_token": true, "bos_token": "<|endoftext|>", "eos_token": "<|padding|>"})");
  t = ss::find_tokenizer(d);
  EXPECT_EQ(t->bos_id(), 0);
  EXPECT_EQ(t->eos_id(), 1);
  EXPECT_EQ(t->encode("Hello", true), (std::vector<int>{0, 12092}));
}

}  // namespace
