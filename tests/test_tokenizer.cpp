// Tokenizers: llama2.c tokenizer.bin, SentencePiece tokenizer.model, discovery
// and UTF-8 validation, checked against reference outputs in the shared assets.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sentencepiece_processor.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "testutil.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using sstest::asset;
using sstest::decode_all;
using sstest::error_of;
using sstest::gen_code_point;
using sstest::gen_utf8;
using sstest::utf8;

const std::string kTok512 = sstest::repo("models/stories260K/tok512.bin");
const std::string kLlamaBin = asset("tokenizers/llama2/tokenizer.bin");
const std::string kLlamaModel = asset("tokenizers/llama2/tokenizer.model");

using sstest::slurp;
using sstest::spit;
const ss::Tokenizer& tok512() {
  static auto t = ss::load_tokenizer(kTok512);
  return *t;
}
const ss::Tokenizer& llama_bin() {
  static auto t = ss::load_tokenizer(kLlamaBin);
  return *t;
}
const ss::Tokenizer& llama_model() {
  static auto t = ss::load_tokenizer(kLlamaModel);
  return *t;
}

// libsentencepiece itself, as a reference.
const sentencepiece::SentencePieceProcessor& library_sp() {
  static const auto sp = [] {
    auto p = std::make_unique<sentencepiece::SentencePieceProcessor>();
    EXPECT_TRUE(p->Load(kLlamaModel).ok());
    return p;
  }();
  return *sp;
}

// Decode of encode(text) with BOS: the text again if the round trip holds.
std::string round_trip(const ss::Tokenizer& tok, std::string_view text) {
  std::vector<int> ids = tok.encode(text, true);
  EXPECT_EQ(ids.at(0), tok.bos_id());
  return decode_all(tok, std::vector<int>(ids.begin() + 1, ids.end()), tok.bos_id());
}

std::vector<int> parse_ids(const std::string& text) {
  std::vector<int> ids;
  std::istringstream s(text);
  for (int id; s >> id;) ids.push_back(id);
  return ids;
}

// llama2.c run.c's encode, transcribed literally (quadratic) as the reference
// for Llama2cTokenizer's heap-based merging.
class NaiveLlama2c {
 public:
  explicit NaiveLlama2c(const std::string& path) {
    std::string d = slurp(path);
    size_t pos = 4;
    while (pos < d.size()) {
      float score;
      int32_t len;
      std::memcpy(&score, d.data() + pos, 4);
      std::memcpy(&len, d.data() + pos + 4, 4);
      ids_.emplace(d.substr(pos + 8, len), static_cast<int>(pieces_.size()));
      pieces_.push_back(d.substr(pos + 8, len));
      scores_.push_back(score);
      pos += 8 + len;
    }
  }

  std::vector<int> encode(const std::string& text) const {
    std::vector<int> t = {1};
    if (!text.empty()) t.push_back(lookup(" "));
    std::string buf;
    for (size_t i = 0; i < text.size(); ++i) {
      buf += text[i];
      if (i + 1 < text.size() && (text[i + 1] & 0xC0) == 0x80 && buf.size() < 4) continue;
      int id = lookup(buf);
      if (id >= 0) {
        t.push_back(id);
      } else {
        for (unsigned char b : buf) t.push_back(b + 3);
      }
      buf.clear();
    }
    for (;;) {
      float best_score = -1e10f;
      int best_id = -1, best_idx = -1;
      for (size_t i = 0; i + 1 < t.size(); ++i) {
        int id = lookup(pieces_[t[i]] + pieces_[t[i + 1]]);
        if (id != -1 && scores_[id] > best_score) {
          best_score = scores_[id];
          best_id = id;
          best_idx = static_cast<int>(i);
        }
      }
      if (best_idx == -1) break;
      t[best_idx] = best_id;
      t.erase(t.begin() + best_idx + 1);
    }
    return t;
  }

  const std::vector<std::string>& pieces() const { return pieces_; }

 private:
  int lookup(const std::string& s) const {
    auto it = ids_.find(s);
    return it == ids_.end() ? -1 : it->second;
  }
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::map<std::string, int> ids_;
};

// --- llama2.c tokenizer.bin ---------------------------------------------------

TEST(Llama2cTokenizer, LoadsTok512) {
  const ss::Tokenizer& t = tok512();
  EXPECT_EQ(t.vocab_size(), 512);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(llama_bin().vocab_size(), 32000);
}

TEST(Llama2cTokenizer, GreedyReferenceDecodes) {
  // run.c's 200 greedy tokens after BOS; it prints a newline after the last.
  std::vector<int> ids = parse_ids(slurp(asset("stories260K/greedy_200_ids.txt")));
  std::string expected = slurp(asset("stories260K/greedy_200_expected.txt"));
  ASSERT_EQ(ids.size(), 200u);
  ASSERT_TRUE(expected.ends_with('\n'));
  expected.pop_back();
  EXPECT_EQ(decode_all(tok512(), ids, 1), expected);
  EXPECT_TRUE(expected.starts_with("Once upon a time"));
}

TEST(Llama2cTokenizer, GreedyReferenceReencodes) {
  // The model's own greedy tokens are also the canonical tokenization of its text.
  std::vector<int> ids = parse_ids(slurp(asset("stories260K/greedy_200_ids.txt")));
  std::string text = decode_all(tok512(), ids, 1);
  ids.insert(ids.begin(), 1);
  EXPECT_EQ(tok512().encode(text, true), ids);
  EXPECT_EQ(tok512().encode("Once upon a time", false),
            std::vector<int>(ids.begin() + 1, ids.begin() + 5));
}

TEST(Llama2cTokenizer, KnownPieces) {
  const ss::Tokenizer& t = tok512();
  EXPECT_EQ(t.encode("", true), std::vector<int>{1});
  EXPECT_EQ(t.encode("", false), std::vector<int>{});
  // The dummy prefix " " (410), then "\n", which has no piece of its own:
  // byte fallback to <0x0A> = 10 + 3.
  EXPECT_EQ(t.encode("\n", false), (std::vector<int>{410, 13}));
  EXPECT_EQ(t.decode(5, 13), "\n");
  // The space of the first piece after BOS is dropped, and only there.
  int once = t.encode("Once", false).at(0);
  EXPECT_EQ(t.decode(1, once), "Once");
  EXPECT_EQ(t.decode(13, once), " Once");
  EXPECT_NE(error_of([&] { t.decode(1, 512); }).find("512"), std::string::npos);
}

TEST(Llama2cTokenizer, MatchesRunCOnStories) {
  NaiveLlama2c naive(kTok512);
  std::istringstream lines(slurp(asset("text/tinystories.txt")));
  int n = 0;
  for (std::string line; std::getline(lines, line) && n < 300; ++n) {
    ASSERT_EQ(tok512().encode(line, true), naive.encode(line)) << line;
    ASSERT_EQ(round_trip(tok512(), line), line);
  }
}

TEST(Llama2cTokenizer, MatchesRunCOnRepeatedPieces) {
  // Overlapping merges of equal score, where run.c takes the leftmost.
  NaiveLlama2c naive(kTok512);
  for (const std::string& piece : naive.pieces()) {
    std::string text;
    for (int n = 1; n <= 5; ++n) {
      text += piece;
      ASSERT_EQ(tok512().encode(text, true), naive.encode(text)) << text;
    }
  }
}

RC_GTEST_PROP(Llama2cTokenizer, MatchesRunCOnPieceSoup, ()) {
  // Text glued from vocabulary pieces (including "<unk>", "<0x41>" and the
  // like), repeated pieces (equal-score merges that overlap, where the
  // leftmost must win) and random characters.
  static const NaiveLlama2c naive(kTok512);
  auto piece = rc::gen::elementOf(naive.pieces());
  auto repeated = rc::gen::map(rc::gen::pair(piece, rc::gen::inRange(2, 6)), [](const auto& p) {
    std::string s;
    for (int i = 0; i < p.second; ++i) s += p.first;
    return s;
  });
  auto part = rc::gen::weightedOneOf<std::string>(
      {{3, piece}, {2, repeated}, {1, gen_utf8(gen_code_point())}});
  std::vector<std::string> parts = *rc::gen::container<std::vector<std::string>>(part);
  std::string text;
  for (const auto& p : parts) text += p;
  RC_ASSERT(tok512().encode(text, true) == naive.encode(text));
}

RC_GTEST_PROP(Llama2cTokenizer, RoundTrips, ()) {
  std::string text = *gen_utf8(gen_code_point());
  RC_ASSERT(round_trip(tok512(), text) == text);
  RC_ASSERT(round_trip(llama_bin(), text) == text);
}

TEST(Llama2cTokenizer, TruncatedAnywhereFails) {
  // Every cut inside the header or a record is an error; a cut between
  // records is a valid, smaller vocabulary.
  std::string data = slurp(kTok512);
  std::vector<size_t> ends;
  for (size_t pos = 4; pos < data.size();) {
    int32_t len;
    std::memcpy(&len, data.data() + pos + 4, 4);
    pos += 8 + len;
    ends.push_back(pos);
  }
  ASSERT_EQ(ends.size(), 512u);
  size_t next_end = 0;
  for (size_t cut = 0; cut < data.size(); ++cut) {
    std::string_view part(data.data(), cut);
    if (next_end < ends.size() && cut == ends[next_end]) {
      ++next_end;
      if (next_end >= 3) {
        EXPECT_EQ(ss::Llama2cTokenizer(part, "cut").vocab_size(), static_cast<int>(next_end));
        continue;
      }
    }
    EXPECT_NE(error_of([&] { ss::Llama2cTokenizer(part, "cut.bin"); }).find("cut.bin"),
              std::string::npos)
        << cut;
  }
}

// --- SentencePiece tokenizer.model --------------------------------------------

TEST(SentencePieceTokenizer, Loads) {
  const ss::Tokenizer& t = llama_model();
  EXPECT_EQ(t.vocab_size(), 32000);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.decode(5, t.eos_id()), "");  // control tokens have no text
  EXPECT_EQ(t.encode("Hello world", true), (std::vector<int>{1, 15043, 3186}));
}

TEST(SentencePieceTokenizer, LlamaCppVectors) {
  // llama.cpp's test-tokenizer-0 vectors for Llama-2's vocabulary, without
  // BOS, with SentencePiece's dummy-prefix space ("" gives nothing, " " gives
  // "▁▁"). All 46 hold for both implementations.
  auto vectors = sstest::vocab_vectors(asset("tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf"));
  EXPECT_EQ(vectors.size(), 46u);
  for (size_t n = 0; n < vectors.size(); ++n) {
    const auto& [text, expected] = vectors[n];
    EXPECT_EQ(llama_model().encode(text, false), expected) << "vector " << n << ": " << text;
    EXPECT_EQ(llama_bin().encode(text, false), expected) << "vector " << n << ": " << text;
    EXPECT_EQ(round_trip(llama_model(), text), text);
  }
}

TEST(SentencePieceTokenizer, MatchesTokenizerBinOnBooks) {
  // Every 50th line of two books (every 5th of their every-10th-line samples,
  // about 2200 lines): the same ids from both files of the Llama-2 tokenizer,
  // and the same text from decoding.
  for (const char* book : {"text/kjv_every10.txt", "text/austen_every10.txt"}) {
    std::istringstream lines(slurp(asset(book)));
    int n = 0, checked = 0;
    for (std::string line; std::getline(lines, line); ++n) {
      if (n % 5 != 0) continue;
      ++checked;
      std::vector<int> ids = llama_model().encode(line, true);
      ASSERT_EQ(llama_bin().encode(line, true), ids) << book << ":" << n + 1 << ": " << line;
      std::vector<int> rest(ids.begin() + 1, ids.end());
      ASSERT_EQ(decode_all(llama_model(), rest, 1), line);
      ASSERT_EQ(decode_all(llama_bin(), rest, 1), line);
      ASSERT_EQ(library_sp().DecodeIds(rest), line);
    }
    EXPECT_GT(checked, 600) << book;
  }
}

TEST(SentencePieceTokenizer, DiffersFromTokenizerBinOnlyOnSpaceSymbol) {
  // SentencePiece reads U+2581 in the input as its space symbol; tokenizer.bin
  // spells spaces as ' ', so there U+2581 is an unknown character (bytes).
  EXPECT_EQ(llama_model().encode("x\u2581y", true), (std::vector<int>{1, 921, 343}));
  EXPECT_EQ(llama_bin().encode("x\u2581y", true), (std::vector<int>{1, 921, 229, 153, 132, 29891}));
}

TEST(SentencePieceTokenizer, MatchesTokenizerBinOnLongText) {
  std::string text = slurp(asset("text/austen_150k.txt")).substr(0, 50000);
  std::vector<int> ids = llama_model().encode(text, true);
  EXPECT_EQ(llama_bin().encode(text, true), ids);
  EXPECT_GT(ids.size(), 10000u);
}

RC_GTEST_PROP(SentencePieceTokenizer, RoundTrips, ()) {
  // Llama-2's model does no normalisation (identity rule, extra whitespace
  // kept), so only U+2581, which it reads as its own space symbol, is left
  // out.
  auto cp = rc::gen::suchThat(gen_code_point(), [](uint32_t c) { return c != 0x2581; });
  std::string text = *gen_utf8(cp);
  RC_ASSERT(round_trip(llama_model(), text) == text);
}

RC_GTEST_PROP(SentencePieceTokenizer, StreamingDecodeMatchesLibrary, ()) {
  // Text pieces only: the library turns invalid UTF-8 from byte pieces into
  // U+FFFD, where streaming has to pass the bytes on.
  std::vector<int> ids = *rc::gen::container<std::vector<int>>(rc::gen::inRange(259, 32000));
  RC_ASSERT(decode_all(llama_model(), ids, 1) == library_sp().DecodeIds(ids));
}

// --- Loading, discovery and errors --------------------------------------------

TEST(LoadTokenizer, DetectsFormatByContent) {
  std::string d = sstest::temp_dir();
  fs::copy_file(kLlamaModel, d + "/sp.bin");
  fs::copy_file(kTok512, d + "/tok.dat");
  auto sp = ss::load_tokenizer(d + "/sp.bin");
  EXPECT_NE(dynamic_cast<ss::SentencePieceTokenizer*>(sp.get()), nullptr);
  auto bin = ss::load_tokenizer(d + "/tok.dat");
  EXPECT_NE(dynamic_cast<ss::Llama2cTokenizer*>(bin.get()), nullptr);
  EXPECT_EQ(bin->vocab_size(), 512);
}

TEST(LoadTokenizer, MissingFile) {
  std::string path = sstest::temp_dir() + "/nope.bin";
  std::string msg = error_of([&] { ss::load_tokenizer(path); });
  EXPECT_EQ(msg, "cannot open tokenizer " + path + ": No such file or directory");
  std::string dir = sstest::temp_dir();
  EXPECT_EQ(error_of([&] { ss::load_tokenizer(dir); }),
            "cannot open tokenizer " + dir + ": is a directory");
}

TEST(LoadTokenizer, TruncatedTokenizerBin) {
  std::string path = sstest::temp_dir() + "/tokenizer.bin";
  std::string data = slurp(kLlamaBin);
  spit(path, std::string_view(data).substr(0, data.size() - 3));
  std::string msg = error_of([&] { ss::load_tokenizer(path); });
  EXPECT_EQ(msg, "tokenizer " + path + " is truncated in token 31999");
  spit(path, "");
  EXPECT_NE(error_of([&] { ss::load_tokenizer(path); }).find(path), std::string::npos);
}

TEST(LoadTokenizer, GarbageTokenizerModel) {
  std::string d = sstest::temp_dir();
  // Plain text, random bytes, and a protobuf-looking start.
  std::string random;
  for (int i = 0; i < 4096; ++i) random += static_cast<char>(i * 2654435761u >> 24);
  for (std::string data : {std::string("not a model\n"), random, std::string("\x0a\x05hello", 7)}) {
    std::string path = d + "/tokenizer.model";
    spit(path, data);
    std::string msg = error_of([&] { ss::load_tokenizer(path); });
    EXPECT_TRUE(msg.starts_with("tokenizer " + path + " is not a SentencePiece model")) << msg;
  }
}

TEST(LoadTokenizer, InvalidUtf8Input) {
  for (const ss::Tokenizer* t : {&tok512(), &llama_model()}) {
    EXPECT_EQ(error_of([&] { t->encode("ok \xff", true); }),
              "invalid UTF-8 in text to encode at byte 3 (invalid lead byte)");
  }
}

TEST(FindTokenizer, BesideLlama2cCheckpoint) {
  EXPECT_EQ(ss::find_tokenizer(sstest::kStoriesBin)->vocab_size(), 512);

  std::string d = sstest::temp_dir();
  spit(d + "/model.bin", "x");
  std::string msg = error_of([&] { ss::find_tokenizer(d + "/model.bin"); });
  EXPECT_EQ(
      msg,
      "no tokenizer for " + d +
          "/model.bin: looked for tokenizer.model, tokenizer.json, tokenizer.bin and tok*.bin in " +
          d);
  fs::copy_file(kTok512, d + "/tok512.bin");
  fs::copy_file(kTok512, d + "/tok4096.bin");
  msg = error_of([&] { ss::find_tokenizer(d + "/model.bin"); });
  EXPECT_EQ(msg, "ambiguous tokenizer for " + d + "/model.bin: several tok*.bin in " + d +
                     ": tok4096.bin tok512.bin");
  fs::copy_file(kLlamaBin, d + "/tokenizer.bin");
  EXPECT_EQ(ss::find_tokenizer(d + "/model.bin")->vocab_size(), 32000);
}

TEST(FindTokenizer, InModelDirectory) {
  std::string d = sstest::temp_dir();
  EXPECT_EQ(error_of([&] { ss::find_tokenizer(d); }),
            "no tokenizer for " + d +
                ": looked for tokenizer.model, tokenizer.json, tokenizer.bin and tok*.bin in " + d);
  fs::copy_file(kTok512, d + "/tok512.bin");
  EXPECT_EQ(ss::find_tokenizer(d)->vocab_size(), 512);
  fs::copy_file(kLlamaModel, d + "/tokenizer.model");
  auto t = ss::find_tokenizer(d);
  EXPECT_NE(dynamic_cast<ss::SentencePieceTokenizer*>(t.get()), nullptr);
}

// --- UTF-8 validation -----------------------------------------------------------

TEST(CheckUtf8, RejectsMalformedSequences) {
  struct Case {
    std::string text, error;
  };
  const Case cases[] = {
      {"ab\x80", "at byte 2 (unexpected continuation byte)"},
      {"\xfe", "at byte 0 (invalid lead byte)"},
      {"\xf8\x88\x80\x80\x80", "at byte 0 (invalid lead byte)"},
      {"a\xc0\x80", "at byte 1 (overlong encoding)"},
      {"\xc1\xbf", "at byte 0 (overlong encoding)"},
      {"\xe0\x9f\xbf", "at byte 0 (overlong encoding)"},
      {"\xf0\x8f\xbf\xbf", "at byte 0 (overlong encoding)"},
      {"x\xed\xa0\x80", "at byte 1 (surrogate code point)"},
      {"\xed\xbf\xbf", "at byte 0 (surrogate code point)"},
      {"\xf4\x90\x80\x80", "at byte 0 (code point beyond U+10FFFF)"},
      {"\xf7\xbf\xbf\xbf", "at byte 0 (code point beyond U+10FFFF)"},
      {"abc\xe2\x82", "at byte 3 (incomplete sequence)"},
      {"\xe2\x82z", "at byte 0 (incomplete sequence)"},
      {"\xf0\x9f\x98", "at byte 0 (incomplete sequence)"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(error_of([&] { ss::check_utf8(c.text, "prompt.txt"); }),
              "invalid UTF-8 in prompt.txt " + c.error);
  }
  ss::check_utf8("", "x");
  ss::check_utf8(std::string("a\0b", 3), "x");
  ss::check_utf8(
      "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
      "boundaries");
}

RC_GTEST_PROP(CheckUtf8, AcceptsValidRejectsCutSequence, ()) {
  std::string text = *gen_utf8(gen_code_point());
  std::string last = utf8(*rc::gen::suchThat(rc::gen::inRange<uint32_t>(0x80, 0x110000),
                                             [](uint32_t c) { return c < 0xD800 || c > 0xDFFF; }));
  ss::check_utf8(text + last, "x");
  // Cutting the last multi-byte sequence short makes it incomplete.
  size_t keep = *rc::gen::inRange<size_t>(1, last.size());
  RC_ASSERT(error_of([&] { ss::check_utf8(text + last.substr(0, keep), "x"); }) ==
            "invalid UTF-8 in x at byte " + std::to_string(text.size()) + " (incomplete sequence)");
}

}  // namespace
