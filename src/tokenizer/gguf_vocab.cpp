#include "tokenizer/gguf_vocab.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <optional>
#include <queue>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer.h"

namespace ss {

namespace {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum TokenType : int64_t {
  kTypeNormal = 1,
  kTypeUnknown = 2,
  kTypeControl = 3,
  kTypeUserDefined = 4,
  kTypeUnused = 5,
  kTypeByte = 6,
};

// Token attributes (llama.cpp's llama_token_attr, as bits of our own).
enum Attr : uint32_t {
  kNormal = 1,
  kUnknown = 2,
  kUnused = 4,
  kControl = 8,
  kUserDefined = 16,
  kByte = 32,
  kLstrip = 64,
  kRstrip = 128,
};

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Tokens that end generation (llama.cpp's list; they are made control tokens).
constexpr std::string_view kEogNames[] = {
    "<|eot_id|>", "<|im_end|>",    "<|end|>",         "<|return|>",        "<|call|>", "<|flush|>",
    "<|calls|>",  "<end_of_turn>", "<|endoftext|>",   "<|eom_id|>",        "<EOT>",    "_<EOT>",
    "[EOT]",      "[EOS]",         "<|end_of_text|>", "<end_of_utterance>"};
constexpr std::string_view kEotNames[] = {
    "<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>",      "_<EOT>",  "[EOT]",         "<end_of_utterance>"};

size_t utf8_len(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x80 ? 1 : u < 0xC0 ? 1 : u < 0xE0 ? 2 : u < 0xF0 ? 3 : 4;
}

// The UTF-8 characters of text as a linked list of symbols, and llama.cpp's
// merge loop over it (shared by SentencePiece and BPE): the adjacent pair
// with the highest priority merges first, the leftmost on ties, until no
// pair has one. priority(left, right) is the pair's priority, or nullopt when
// the pair may not merge.
struct Symbol {
  int prev, next;
  size_t at, n;
};

std::vector<Symbol> utf8_symbols(std::string_view text) {
  std::vector<Symbol> syms;
  for (size_t at = 0; at < text.size();) {
    const size_t n = std::min(utf8_len(text[at]), text.size() - at);
    const int i = static_cast<int>(syms.size());
    syms.push_back({i - 1, at + n == text.size() ? -1 : i + 1, at, n});
    at += n;
  }
  return syms;
}

template <class Priority>
void merge_symbols(std::vector<Symbol>& syms, Priority priority) {
  struct Bigram {
    double priority;
    int left, right;
    size_t size;
    bool operator<(const Bigram& o) const {
      return priority < o.priority || (priority == o.priority && left > o.left);
    }
  };
  std::priority_queue<Bigram> queue;
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    if (const std::optional<double> p = priority(left, right))
      queue.push({*p, left, right, syms[left].n + syms[right].n});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
}

bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

// The special tokens' texts, to find which of them occur in a text in one pass.
struct GgufTokenizer::Trie {
  std::unordered_map<uint64_t, int> edges;  // node << 8 | byte -> node
  std::vector<int> token = {-1};            // node -> token id ending there, or -1
  void insert(std::string_view s, int id) {
    int node = 0;
    for (unsigned char c : s) {
      const uint64_t key = uint64_t(node) << 8 | c;
      auto it = edges.find(key);
      if (it == edges.end()) {
        it = edges.emplace(key, int(token.size())).first;
        token.push_back(-1);
      }
      node = it->second;
    }
    token[node] = id;
  }
};

GgufTokenizer::GgufTokenizer(const GgufFile& f) : path_(f.path()) {
  byte_ids_.fill(-1);
  check(f.has("tokenizer.ggml.model"), f.path(),
        " has no tokenizer (tokenizer.ggml.model is missing)");
  const std::string_view model = f.get_string("tokenizer.ggml.model");
  if (model == "llama") {
    kind_ = Kind::Spm;
  } else if (model == "gpt2") {
    kind_ = Kind::Bpe;
  } else {
    fail(f.path(), ": unsupported tokenizer.ggml.model \"", model,
         "\" (llama and gpt2 are supported)");
  }
  const std::vector<std::string_view> texts = f.get_string_array("tokenizer.ggml.tokens");
  const size_t n = texts.size();
  check(n > 0 && n <= INT_MAX, f.path(), ": tokenizer.ggml.tokens has ", n, " tokens");
  std::vector<float> scores(n, 0.0f);
  if (const GgufKv* kv = f.find("tokenizer.ggml.scores")) {
    if (kv->type == GgufType::Array && kv->elem_type == GgufType::I32) {
      const std::vector<int64_t> s = f.get_int_array("tokenizer.ggml.scores");
      scores.assign(s.begin(), s.end());
    } else {
      scores = f.get_float_array("tokenizer.ggml.scores");
    }
    check(scores.size() >= n, f.path(), ": ", n, " tokens but ", scores.size(), " scores");
  }
  std::vector<int64_t> types(n, kTypeNormal);
  if (f.has("tokenizer.ggml.token_type")) {
    types = f.get_int_array("tokenizer.ggml.token_type");
    check(types.size() >= n, f.path(), ": ", n, " tokens but ", types.size(), " token types");
  }
  tokens_.resize(n);
  ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Token& t = tokens_[i];
    t.text = texts[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : std::string(texts[i]);
    t.score = scores[i];
    switch (types[i]) {
      case kTypeNormal:
        t.attr = kNormal;
        break;
      case kTypeUnknown:
        t.attr = kUnknown;
        break;
      case kTypeControl:
        t.attr = kControl;
        break;
      case kTypeUserDefined:
        t.attr = kUserDefined;
        break;
      case kTypeUnused:
        t.attr = kUnused;
        break;
      case kTypeByte:
        t.attr = kByte;
        break;
      default:
        t.attr = 0;  // undefined
    }
    auto [it, fresh] = ids_.emplace(t.text, static_cast<int>(i));
    check(fresh, f.path(), ": duplicate token in vocabulary: '", t.text, "' has ids ", it->second,
          " and ", i);
  }

  if (kind_ == Kind::Spm) {
    bos_ = 1, eos_ = 2;
    add_space_prefix_ = true;
    add_bos_ = true;
  } else {
    const std::vector<std::string_view> merges = f.get_string_array("tokenizer.ggml.merges");
    ranks_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const size_t space = merges[i].find(' ', 1);
      check(space != std::string_view::npos, f.path(), ": tokenizer.ggml.merges ", i,
            " is not two tokens separated by a space");
      std::string key(merges[i].substr(0, space));
      key += '\xFF';
      key += merges[i].substr(space + 1);
      ranks_.emplace(std::move(key), static_cast<int>(i));
    }
    pre_ = f.has("tokenizer.ggml.pre") ? std::string(f.get_string("tokenizer.ggml.pre"))
                                       : std::string("default");
    const PreTokenizerSpec* spec = find_pre_tokenizer(pre_);
    check(spec != nullptr, f.path(), ": unsupported pre-tokenizer tokenizer.ggml.pre \"", pre_,
          "\" (supported: ", supported_pre_tokenizers(), ")");
    splitter_ = std::make_unique<RegexSplitter>(spec->regexes, f.path());
    ignore_merges_ = spec->ignore_merges;
    add_bos_ = spec->add_bos;
    bos_ = n > 11 ? 11 : -1, eos_ = n > 11 ? 11 : -1;  // llama.cpp's defaults
  }
  if (f.has("tokenizer.ggml.add_space_prefix"))
    add_space_prefix_ = f.get_bool("tokenizer.ggml.add_space_prefix");

  const auto token_id = [&](const char* key, int fallback) {
    if (!f.has(key)) return fallback;
    const int64_t id = f.get_int(key);
    check(id >= 0 && uint64_t(id) < n, f.path(), ": ", key, " ", id,
          " is outside the vocabulary of ", n, " tokens");
    return static_cast<int>(id);
  };
  bos_ = token_id("tokenizer.ggml.bos_token_id", bos_);
  eos_ = token_id("tokenizer.ggml.eos_token_id", eos_);
  int eot = token_id("tokenizer.ggml.eot_token_id", -1);
  int eom = token_id("tokenizer.ggml.eom_token_id", -1);
  if (f.has("tokenizer.ggml.add_bos_token")) add_bos_ = f.get_bool("tokenizer.ggml.add_bos_token");
  if (f.has("tokenizer.ggml.add_eos_token")) add_eos_ = f.get_bool("tokenizer.ggml.add_eos_token");
  check(!add_bos_ || bos_ >= 0, f.path(),
        ": tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
  check(!add_eos_ || eos_ >= 0, f.path(),
        ": tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");

  // Control-looking tokens, found by their text as llama.cpp does, become
  // control tokens; the end-of-generation set.
  for (size_t i = 0; i < n; ++i) {
    Token& t = tokens_[i];
    const auto is = [&](std::string_view name) { return t.text == name; };
    if (eot < 0 && std::any_of(std::begin(kEotNames), std::end(kEotNames), is)) {
      eot = static_cast<int>(i);
      t.attr |= kControl;
    }
    if (eom < 0 && t.text == "<|eom_id|>") {
      eom = static_cast<int>(i);
      t.attr |= kControl;
    }
    if (std::any_of(std::begin(kEogNames), std::end(kEogNames), is)) {
      eog_.insert(static_cast<int>(i));
      t.attr |= kControl;
    }
    // gpt-oss: always rendered.
    if (is("<|channel|>") || is("<|message|>") || is("<|start|>") || is("<|constrain|>"))
      t.attr = kUserDefined;
  }
  for (int id : {eos_, eot, eom}) {
    if (id >= 0) eog_.insert(id);
  }
  // gpt-oss and solar-open: <|end|> is not the end when <|return|> and <|call|> exist.
  const bool has_call = find("<|call|>") >= 0 || find("<|calls|>") >= 0;
  if (const int end = find("<|end|>");
      end >= 0 && has_call && (find("<|return|>") >= 0 || find("<|flush|>") >= 0)) {
    eog_.erase(end);
    tokens_[end].attr = kUserDefined;
  }

  // Special tokens, the longest first.
  for (size_t i = 0; i < n; ++i) {
    if (tokens_[i].attr & (kControl | kUserDefined | kUnknown))
      special_.push_back(static_cast<int>(i));
  }
  std::stable_sort(special_.begin(), special_.end(),
                   [&](int a, int b) { return tokens_[a].text.size() > tokens_[b].text.size(); });
  trie_ = std::make_unique<Trie>();
  for (int id : special_) trie_->insert(tokens_[id].text, id);

  // Per-token strip flags that llama.cpp sets by model name.
  const std::string name = f.has("general.name") ? lower(f.get_string("general.name")) : "";
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int id : special_) tokens_[id].attr |= kRstrip;
    if (int id = find("</s>"); id >= 0) tokens_[id].attr |= kRstrip;
    for (const char* t : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (int id = find(t); id >= 0) tokens_[id].attr &= ~uint32_t(kRstrip);
    }
  }
  if (pre_ == "jina-v2-de" || pre_ == "jina-v2-es" || pre_ == "jina-v2-code") {
    if (int id = find("<mask>"); id >= 0) tokens_[id].attr |= kLstrip;
  }

  if (kind_ == Kind::Spm) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      const std::string piece = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
      int id = find(piece);
      if (id < 0) id = find(std::string(1, static_cast<char>(b)));
      byte_ids_[b] = id;
    }
  }
}

GgufTokenizer::~GgufTokenizer() = default;

int GgufTokenizer::find(std::string_view text) const {
  auto it = ids_.find(text);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<GgufTokenizer::Fragment> GgufTokenizer::partition(std::string_view text,
                                                              bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, 0, text.size()});
  // Which special tokens occur at all (each text fragment is a part of the text).
  std::vector<int> present;
  for (size_t i = 0; i < text.size(); ++i) {
    int node = 0;
    for (size_t k = i; k < text.size(); ++k) {
      auto it = trie_->edges.find(uint64_t(node) << 8 | static_cast<unsigned char>(text[k]));
      if (it == trie_->edges.end()) break;
      node = it->second;
      if (trie_->token[node] >= 0) present.push_back(trie_->token[node]);
    }
  }
  if (present.empty()) return frags;
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());
  std::vector<Fragment> next;
  // In llama.cpp's order: each special token in turn splits every text fragment
  // at its occurrences, left to right.
  for (int id : special_) {
    if (!std::binary_search(present.begin(), present.end(), id)) continue;
    const Token& t = tokens_[id];
    if (!parse_special && (t.attr & (kControl | kUnknown))) continue;
    next.clear();
    for (const Fragment& fr : frags) {
      if (fr.token >= 0) {
        next.push_back(fr);
        continue;
      }
      size_t b = fr.begin;
      const size_t e = fr.end;
      for (;;) {
        const size_t m = text.substr(0, e).find(t.text, b);
        if (m == std::string_view::npos) {
          if (b < e) next.push_back({-1, b, e});
          break;
        }
        size_t left_end = m;
        if (t.attr & kLstrip) {
          while (left_end > b && ascii_space(text[left_end - 1])) --left_end;
        }
        if (left_end > b) next.push_back({-1, b, left_end});
        next.push_back({id, 0, 0});
        b = m + t.text.size();
        if (t.attr & kRstrip) {
          while (b < e && ascii_space(text[b])) ++b;
        }
      }
    }
    frags.swap(next);
  }
  return frags;
}

std::vector<int> GgufTokenizer::encode_special(std::string_view text, bool add_special,
                                               bool parse_special) const {
  check_utf8(text, "text to encode");
  std::vector<int> out;
  if (add_special && add_bos_) out.push_back(bos_);
  std::unordered_map<std::string, std::vector<int>> cache;  // BPE words seen in this call
  bool prev_special = true;  // SPM: a space before the text at the start and after specials
  for (const Fragment& fr : partition(text, parse_special)) {
    if (fr.token >= 0) {
      out.push_back(fr.token);
      prev_special = true;
      continue;
    }
    const std::string_view part = text.substr(fr.begin, fr.end - fr.begin);
    if (kind_ == Kind::Spm) {
      spm(part, add_space_prefix_ && prev_special, out);
    } else {
      bpe(part, out, cache);
    }
    prev_special = false;
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

// llama.cpp's llm_tokenizer_spm: characters merge pairwise while the pair is
// a token, the best score first (the leftmost on ties).
void GgufTokenizer::spm(std::string_view raw, bool space_prefix, std::vector<int>& out) const {
  std::string text = space_prefix ? " " : "";
  for (char c : raw) {
    if (c == ' ') {
      text += kSpace;
    } else {
      text += c;
    }
  }
  if (space_prefix) text.replace(0, 1, kSpace);
  std::vector<Symbol> syms = utf8_symbols(text);
  merge_symbols(syms, [&](int left, int right) -> std::optional<double> {
    const int id =
        find(std::string_view(text.data() + syms[left].at, syms[left].n + syms[right].n));
    if (id < 0) return std::nullopt;
    return tokens_[id].score;
  });
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    const std::string_view s(text.data() + syms[i].at, syms[i].n);
    if (const int id = find(s); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : s) {
      if (byte_ids_[c] < 0) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        fail(path_, " has no token for the byte 0x", kHex[c >> 4], kHex[c & 15]);
      }
      out.push_back(byte_ids_[c]);
    }
  }
}

void GgufTokenizer::bpe(std::string_view text, std::vector<int>& out,
                        std::unordered_map<std::string, std::vector<int>>& cache) const {
  std::string word;
  for (const auto& [b, e] : splitter_->split(text)) {
    word = to_byte_level(text.substr(b, e - b));
    auto it = cache.find(word);
    if (it == cache.end()) {
      std::vector<int> ids;
      bpe_word(word, ids);
      it = cache.emplace(word, std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
}

// llama.cpp's llm_tokenizer_bpe_session on one word: adjacent symbols merge
// by rank, the lowest first (the leftmost on ties).
void GgufTokenizer::bpe_word(std::string_view word, std::vector<int>& out) const {
  if (ignore_merges_) {
    if (const int id = find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> syms = utf8_symbols(word);
  std::string key;
  // The lowest rank merges first.
  merge_symbols(syms, [&](int left, int right) -> std::optional<double> {
    key.assign(word.substr(syms[left].at, syms[left].n));
    key += '\xFF';
    key.append(word.substr(syms[right].at, syms[right].n));
    const auto it = ranks_.find(key);
    if (it == ranks_.end()) return std::nullopt;
    return -double(it->second);
  });
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    const std::string_view s = word.substr(syms[i].at, syms[i].n);
    if (const int id = find(s); id >= 0) {
      out.push_back(id);
      continue;
    }
    // Not a token: its single bytes that are tokens (llama.cpp's fallback).
    for (char c : s) {
      if (const int id = find(std::string_view(&c, 1)); id >= 0) out.push_back(id);
    }
  }
}

std::string GgufTokenizer::decode(int prev, int id) const {
  check(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", path_);
  const Token& t = tokens_[id];
  if (t.attr & (kUnknown | kControl)) return "";
  if (t.attr & kUserDefined) return t.text;
  if (t.attr & kNormal) {
    if (kind_ == Kind::Bpe) return from_byte_level(t.text);
    std::string s;
    for (size_t i = 0; i < t.text.size();) {
      const bool space = std::string_view(t.text).substr(i).starts_with(kSpace);
      s += space ? ' ' : t.text[i];
      i += space ? kSpace.size() : 1;
    }
    // The space the tokenizer put before the text.
    if (add_space_prefix_ && bos_ >= 0 && prev == bos_ && s.starts_with(' ')) s.erase(0, 1);
    return s;
  }
  if (t.attr & kByte) {
    const std::string& p = t.text;
    if (p.size() == 6 && p.starts_with("<0x") && hex_digit(p[3]) >= 0 && hex_digit(p[4]) >= 0)
      return std::string(1, static_cast<char>(hex_digit(p[3]) * 16 + hex_digit(p[4])));
    return p;
  }
  return "";
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& f) {
  return std::make_unique<GgufTokenizer>(f);
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  return gguf_tokenizer(GgufFile::open(path));
}

}  // namespace ss
