#include "tokenizer/gguf_vocab.h"

#include <climits>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace ss {

namespace {

// llama.cpp's token types.
enum TokenType : int64_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct PreTokenizer {
  std::string_view name, pattern;
  bool llama3;  // whole-token pieces skip the merges, and BOS is added
};
constexpr PreTokenizer kPreTokenizers[] = {
    {"default", kGpt2Pattern, false},    {"gpt-2", kGpt2Pattern, false},
    {"mpt", kGpt2Pattern, false},        {"olmo", kGpt2Pattern, false},
    {"llama3", kLlama3Pattern, true},    {"llama-v3", kLlama3Pattern, true},
    {"llama-bpe", kLlama3Pattern, true}, {"qwen2", kQwen2Pattern, false},
};

bool flag(const GgufFile& f, const char* key, bool fallback) {
  return f.has(key) ? f.get_bool(key) : fallback;
}

// The token id under key; when the key is absent, fallback if that is in the
// vocabulary of n tokens, else -1.
int token_id(const GgufFile& f, const char* key, int fallback, size_t n) {
  if (!f.has(key)) return fallback >= 0 && size_t(fallback) < n ? fallback : -1;
  const int64_t id = f.get_int(key);
  check(id >= 0 && uint64_t(id) < n, f.path(), ": ", key, " ", id, " is outside the vocabulary of ",
        n, " tokens");
  return static_cast<int>(id);
}

std::string spaces_from_u2581(std::string_view piece) {
  constexpr std::string_view kSpace = "\xE2\x96\x81";
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    const bool space = piece.substr(i).starts_with(kSpace);
    out += space ? ' ' : piece[i];
    i += space ? kSpace.size() : 1;
  }
  return out;
}

std::unique_ptr<Tokenizer> llama_vocab(const GgufFile& f,
                                       const std::vector<std::string_view>& tokens,
                                       const std::vector<int64_t>& types) {
  const size_t n = tokens.size();
  Llama2cTokenizer::Vocab v;
  v.scores = f.has("tokenizer.ggml.scores") ? f.get_float_array("tokenizer.ggml.scores")
                                            : std::vector<float>(n, 0.0f);
  check(v.scores.size() == n, f.path(), ": ", n, " tokens but ", v.scores.size(), " scores");
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = types[i];
    const bool text = t == kNormal || t == kUserDefined;
    v.pieces.push_back(text         ? spaces_from_u2581(tokens[i])
                       : t == kByte ? std::string(tokens[i])
                                    : std::string());  // control, unknown, unused: no text
    v.encodable.push_back(text);
  }
  v.bos = flag(f, "tokenizer.ggml.add_bos_token", true)
              ? token_id(f, "tokenizer.ggml.bos_token_id", 1, n)
              : -1;
  v.eos = token_id(f, "tokenizer.ggml.eos_token_id", 2, n);
  v.dummy_prefix = flag(f, "tokenizer.ggml.add_space_prefix", true);
  return std::make_unique<Llama2cTokenizer>(std::move(v), f.path());
}

std::unique_ptr<Tokenizer> gpt2_vocab(const GgufFile& f,
                                      const std::vector<std::string_view>& tokens,
                                      const std::vector<int64_t>& types) {
  const size_t n = tokens.size();
  BpeTokenizer::Spec spec;
  spec.vocab.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = types[i];
    if (t == kControl || t == kUserDefined) {
      // Stored as raw text.
      spec.added.push_back({static_cast<int>(i), std::string(tokens[i]), t == kControl});
    } else if (t != kUnused) {
      spec.vocab[i] = tokens[i];
    }
  }
  const std::vector<std::string_view> merges = f.get_string_array("tokenizer.ggml.merges");
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const size_t space = merges[i].find(' ', 1);
    check(space != std::string_view::npos, f.path(), ": tokenizer.ggml.merges ", i,
          " is not two tokens separated by a space");
    spec.merges.emplace_back(merges[i].substr(0, space), merges[i].substr(space + 1));
  }
  const std::string_view pre =
      f.has("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
  const PreTokenizer* p = nullptr;
  for (const PreTokenizer& candidate : kPreTokenizers) {
    if (candidate.name == pre) p = &candidate;
  }
  check(p != nullptr, f.path(), ": unsupported pre-tokenizer tokenizer.ggml.pre \"", pre, "\"");
  spec.patterns.emplace_back(p->pattern);
  spec.ignore_merges = p->llama3;
  spec.bos = flag(f, "tokenizer.ggml.add_bos_token", p->llama3)
                 ? token_id(f, "tokenizer.ggml.bos_token_id", -1, n)
                 : -1;
  spec.eos = token_id(f, "tokenizer.ggml.eos_token_id", -1, n);
  return std::make_unique<BpeTokenizer>(spec, f.path());
}

}  // namespace

std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& f) {
  check(f.has("tokenizer.ggml.model"), f.path(),
        " has no tokenizer (tokenizer.ggml.model is missing)");
  const std::string_view model = f.get_string("tokenizer.ggml.model");
  const std::vector<std::string_view> tokens = f.get_string_array("tokenizer.ggml.tokens");
  check(!tokens.empty() && tokens.size() <= INT_MAX, f.path(), ": tokenizer.ggml.tokens has ",
        tokens.size(), " tokens");
  std::vector<int64_t> types(tokens.size(), kNormal);
  if (f.has("tokenizer.ggml.token_type")) {
    types = f.get_int_array("tokenizer.ggml.token_type");
    check(types.size() == tokens.size(), f.path(), ": ", tokens.size(), " tokens but ",
          types.size(), " token types");
  }
  if (model == "llama") return llama_vocab(f, tokens, types);
  if (model == "gpt2") return gpt2_vocab(f, tokens, types);
  fail(f.path(), ": unsupported tokenizer.ggml.model \"", model,
       "\" (llama and gpt2 are supported)");
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  return gguf_tokenizer(GgufFile::open(path));
}

}  // namespace ss
