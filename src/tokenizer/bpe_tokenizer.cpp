#include "tokenizer/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"
#include "tokenizer/byte_level.h"

namespace ss {

namespace {

using nlohmann::json;

uint64_t pair_key(int left, int right) { return uint64_t(uint32_t(left)) << 32 | uint32_t(right); }

}  // namespace

// A compiled pre-tokenizer regex (JIT-compiled where PCRE2 supports it).
class BpeTokenizer::Regex {
 public:
  Regex(std::string_view pattern, const std::string& name) {
    int err = 0;
    PCRE2_SIZE at = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                         PCRE2_UTF | PCRE2_UCP, &err, &at, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail(name, ": cannot compile pre-tokenizer regex (at offset ", at, ": ",
           reinterpret_cast<const char*>(msg), ")");
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // matching falls back to the interpreter
  }
  ~Regex() { pcre2_code_free(code); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  pcre2_code* code;
};

// Per-call scratch space.
struct BpeTokenizer::Work {
  struct Symbol {
    int id, prev, next;
  };
  struct Candidate {
    int rank, left, right, left_id, right_id, id;
  };

  explicit Work(const std::vector<std::unique_ptr<Regex>>& regexes) {
    for (const auto& r : regexes)
      match.push_back(pcre2_match_data_create_from_pattern(r->code, nullptr));
  }
  ~Work() {
    for (pcre2_match_data* m : match) pcre2_match_data_free(m);
  }
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;

  std::vector<pcre2_match_data*> match;  // one per regex
  std::string prefixed;                  // text with add_prefix_space's space
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

BpeTokenizer::BpeTokenizer(const Spec& spec, const std::string& name)
    : name_(name),
      add_prefix_space_(spec.add_prefix_space),
      ignore_merges_(spec.ignore_merges),
      bos_(spec.bos),
      eos_(spec.eos) {
  // Ids are dense in practice; bounding them by the number of entries keeps a
  // bad id from sizing the tables.
  const size_t limit = spec.vocab.size() + spec.added.size();
  size_t n = spec.vocab.size();
  for (const Added& a : spec.added) {
    check(a.id >= 0 && size_t(a.id) < limit, name, ": added token id ", a.id,
          " is outside the vocabulary of ", limit, " entries");
    n = std::max(n, size_t(a.id) + 1);
  }
  check(n > 0 && n <= INT_MAX, name, " has an empty vocabulary");
  text_.resize(n);
  for (size_t id = 0; id < spec.vocab.size(); ++id) {
    if (spec.vocab[id].empty()) continue;
    text_[id] = from_byte_level(spec.vocab[id]);
    ids_.emplace(text_[id], static_cast<int>(id));
  }
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    auto it = ids_.find(std::string_view(&c, 1));
    byte_ids_[b] = it == ids_.end() ? -1 : it->second;
  }

  merges_.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const std::string left = from_byte_level(spec.merges[rank].first);
    const std::string right = from_byte_level(spec.merges[rank].second);
    auto l = ids_.find(left), r = ids_.find(right), m = ids_.find(left + right);
    check(l != ids_.end() && r != ids_.end() && m != ids_.end(), name, ": merge ", rank,
          " uses or makes a token that is not in the vocabulary");
    merges_.emplace(pair_key(l->second, r->second), Merge{static_cast<int>(rank), m->second});
  }

  for (const Added& a : spec.added) {
    text_[a.id] = a.special ? "" : a.text;
    // Text that is empty or not UTF-8 can never occur in the (valid) input.
    if (a.text.empty()) continue;
    try {
      check_utf8(a.text, "");
    } catch (const Error&) {
      continue;
    }
    added_by_byte_[static_cast<unsigned char>(a.text[0])].push_back(
        static_cast<int>(added_.size()));
    added_.push_back(a);
  }
  for (auto& list : added_by_byte_) {
    std::stable_sort(list.begin(), list.end(),
                     [&](int x, int y) { return added_[x].text.size() > added_[y].text.size(); });
  }
  for (const std::string& p : spec.patterns) regexes_.push_back(std::make_unique<Regex>(p, name));
  for (int id : {bos_, eos_}) {
    check(id >= -1 && id < vocab_size(), name, ": special token id ", id,
          " is outside the vocabulary of ", vocab_size(), " tokens");
  }
}

BpeTokenizer::~BpeTokenizer() = default;

const BpeTokenizer::Added* BpeTokenizer::added_at(std::string_view text, size_t i) const {
  for (int k : added_by_byte_[static_cast<unsigned char>(text[i])]) {
    if (text.substr(i).starts_with(added_[k].text)) return &added_[k];
  }
  return nullptr;
}

std::vector<int> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  check_utf8(text, "text to encode");
  std::vector<int> ids;
  if (add_bos && bos_ >= 0) ids.push_back(bos_);
  Work w(regexes_);
  size_t plain = 0;  // start of the text not yet encoded
  for (size_t i = 0; i < text.size();) {
    const Added* a = added_at(text, i);
    if (!a) {
      ++i;
      continue;
    }
    encode_plain(text.substr(plain, i - plain), w, ids);
    ids.push_back(a->id);
    i += a->text.size();
    plain = i;
  }
  encode_plain(text.substr(plain), w, ids);
  return ids;
}

void BpeTokenizer::encode_plain(std::string_view text, Work& w, std::vector<int>& ids) const {
  if (text.empty()) return;
  if (add_prefix_space_ && text[0] != ' ') {
    w.prefixed.assign(" ").append(text);
    text = w.prefixed;
  }
  split(0, text, w, ids);
}

// Regex `level` cuts text into its matches and the gaps between them, each
// passed on to the next regex; after the last, each piece is merged.
void BpeTokenizer::split(size_t level, std::string_view text, Work& w,
                         std::vector<int>& ids) const {
  if (level == regexes_.size()) return merge(text, w, ids);
  pcre2_code* code = regexes_[level]->code;
  pcre2_match_data* m = w.match[level];
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0, gap = 0;
  while (start < text.size()) {
    // The text is valid UTF-8 (encode() checked it).
    int rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, m, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, m,
                       nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail(name_, ": pre-tokenizer regex failed: ", reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m);
    const size_t begin = ov[0], end = ov[1];
    if (begin == end) {  // an empty match: step over one character, leaving it to the gap
      start = begin + 1;
      while (start < text.size() && (text[start] & 0xC0) == 0x80) ++start;
      continue;
    }
    if (begin > gap) split(level + 1, text.substr(gap, begin - gap), w, ids);
    split(level + 1, text.substr(begin, end - begin), w, ids);
    gap = start = end;
  }
  if (gap < text.size()) split(level + 1, text.substr(gap), w, ids);
}

// BPE on the bytes of one piece: the adjacent pair whose merge has the lowest
// rank merges first, the leftmost on ties, as in Hugging Face tokenizers. The
// symbols form a linked list; a heap holds the candidate merges, and entries
// whose symbols have changed since they were pushed are skipped.
void BpeTokenizer::merge(std::string_view piece, Work& w, std::vector<int>& ids) const {
  if (ignore_merges_) {
    auto it = ids_.find(piece);
    if (it != ids_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  auto& syms = w.symbols;
  syms.clear();
  const int n = static_cast<int>(piece.size());
  for (int i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(piece[i]);
    if (byte_ids_[b] < 0) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      fail(name_, " has no token for the byte 0x", kHex[b >> 4], kHex[b & 15]);
    }
    syms.push_back({byte_ids_[b], i - 1, i + 1 < n ? i + 1 : -1});
  }
  auto& heap = w.heap;
  heap.clear();
  const auto later = [](const Work::Candidate& a, const Work::Candidate& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  const auto consider = [&](int left) {
    if (left < 0 || syms[left].next < 0) return;
    const int right = syms[left].next;
    auto it = merges_.find(pair_key(syms[left].id, syms[right].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, right, syms[left].id, syms[right].id, it->second.id});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Work::Candidate c = heap.back();
    heap.pop_back();
    auto& l = syms[c.left];
    auto& r = syms[c.right];
    if (l.id != c.left_id || l.next != c.right || r.id != c.right_id) continue;
    l.id = c.id;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = c.left;
    r.id = -1;
    consider(l.prev);
    consider(c.left);
  }
  for (int i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
}

std::string BpeTokenizer::decode(int /*prev*/, int id) const {
  check(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", name_);
  return text_[id];
}

// --- tokenizer.json -------------------------------------------------------------

namespace {

// The member, or nullptr when absent or null (or j is no object).
const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string type_of(const json& j) {
  const json* t = member(j, "type");
  return t && t->is_string() ? t->get<std::string>() : "(none)";
}

// Reads the pre-tokenizer chain into spec; true when it has a ByteLevel step.
bool read_pre_tokenizer(const json& pt, const std::string& path, BpeTokenizer::Spec& spec) {
  const std::string type = type_of(pt);
  if (type == "Sequence") {
    bool byte_level = false;
    for (const json& p : pt.at("pretokenizers")) byte_level |= read_pre_tokenizer(p, path, spec);
    return byte_level;
  }
  if (type == "ByteLevel") {
    spec.add_prefix_space = pt.value("add_prefix_space", true);
    if (pt.value("use_regex", true)) spec.patterns.emplace_back(kGpt2Pattern);
    return true;
  }
  if (type == "Split") {
    const json* pattern = member(pt, "pattern");
    const json* regex = pattern ? member(*pattern, "Regex") : nullptr;
    check(regex && regex->is_string(), path,
          ": pre-tokenizer Split: only a Regex pattern is supported");
    check(pt.value("behavior", "") == "Isolated" && !pt.value("invert", false), path,
          ": pre-tokenizer Split: only behavior Isolated without invert is supported");
    spec.patterns.push_back(regex->get<std::string>());
    return false;
  }
  fail(path, ": unsupported pre-tokenizer ", type);
}

// The id of the first special token that a TemplateProcessing post-processor
// puts before the text, or -1.
int template_bos(const json* pp) {
  if (!pp) return -1;
  const std::string type = type_of(*pp);
  if (type == "Sequence") {
    for (const json& p : pp->at("processors")) {
      if (int id = template_bos(&p); id >= 0) return id;
    }
    return -1;
  }
  const json* single = type == "TemplateProcessing" ? member(*pp, "single") : nullptr;
  if (!single || !single->is_array() || single->empty()) return -1;
  const json* first = member(single->front(), "SpecialToken");
  if (!first) return -1;
  const std::string name = first->at("id").get<std::string>();
  return pp->at("special_tokens").at(name).at("ids").at(0).get<int>();
}

// A special-token entry of tokenizer_config.json: a string, or an object with
// "content"; "" when absent or null.
std::string config_token(const json& config, const char* key) {
  const json* t = member(config, key);
  if (!t) return "";
  return t->is_string() ? t->get<std::string>() : t->at("content").get<std::string>();
}

// The model, added tokens, pre-tokenizer and normalizer of a tokenizer.json.
void read_model(const json& j, const std::string& path, BpeTokenizer::Spec& spec) {
  const json* model = member(j, "model");
  check(model && model->is_object(), path, ": no tokenizer model (not a tokenizer.json)");
  // Older files leave the type out.
  const std::string type =
      member(*model, "type") || !member(*model, "merges") ? type_of(*model) : "BPE";
  check(type == "BPE", path, ": unsupported tokenizer model type ", type,
        " (only byte-level BPE is supported)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json* v = member(*model, key);
    check(!v || v->get<std::string>().empty(), path, ": BPE with a ", key, " is not supported");
  }
  const json* vocab = member(*model, "vocab");
  check(vocab && vocab->is_object(), path, ": model.vocab is missing or not an object");
  const json* added = member(j, "added_tokens");
  const size_t limit = vocab->size() + (added ? added->size() : 0);
  for (const auto& [token, id] : vocab->items()) {
    check(id.is_number_unsigned() && id.get<uint64_t>() < limit, path, ": vocabulary id ",
          id.dump(), " is not in [0, ", limit, ")");
    const size_t i = id.get<size_t>();
    if (i >= spec.vocab.size()) spec.vocab.resize(i + 1);
    spec.vocab[i] = token;
  }
  if (const json* merges = member(*model, "merges")) {
    for (const json& m : *merges) {
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t space = s.find(' ', 1);
        check(space != std::string::npos, path, ": merge ", spec.merges.size(),
              " is not two tokens separated by a space");
        spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else {
        check(m.is_array() && m.size() == 2, path, ": merge ", spec.merges.size(),
              " is neither \"a b\" nor [a, b]");
        spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      }
    }
  }
  spec.ignore_merges = model->value("ignore_merges", false);
  if (added) {
    for (const json& a : *added) {
      spec.added.push_back(
          {a.at("id").get<int>(), a.at("content").get<std::string>(), a.value("special", false)});
    }
  }

  const json* pt = member(j, "pre_tokenizer");
  check(pt && read_pre_tokenizer(*pt, path, spec), path,
        ": not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer)");
  if (const json* norm = member(j, "normalizer")) {
    check(type_of(*norm) == "NFC", path, ": unsupported normalizer ", type_of(*norm));
  }
}

// The id of the token with this text, or -1.
int id_of(const BpeTokenizer::Spec& spec, const std::string& text) {
  if (text.empty()) return -1;
  for (const auto& a : spec.added) {
    if (a.text == text) return a.id;
  }
  auto it = std::find(spec.vocab.begin(), spec.vocab.end(), to_byte_level(text));
  return it == spec.vocab.end() ? -1 : static_cast<int>(it - spec.vocab.begin());
}

// BOS and EOS as tokenizer_config.json names them.
void read_config(const json& config, const std::string& path, BpeTokenizer::Spec& spec) {
  if (const json* add_bos = member(config, "add_bos_token")) {
    spec.bos = -1;
    if (add_bos->get<bool>()) {
      const std::string bos = config_token(config, "bos_token");
      spec.bos = id_of(spec, bos);
      check(spec.bos >= 0, path, ": bos_token \"", bos, "\" is not a token");
    }
  }
  if (const std::string eos = config_token(config, "eos_token"); !eos.empty()) {
    spec.eos = id_of(spec, eos);
    check(spec.eos >= 0, path, ": eos_token \"", eos, "\" is not a token");
  }
}

}  // namespace

std::unique_ptr<BpeTokenizer> load_tokenizer_json(std::string_view text, const std::string& path) {
  const json j = parse_json(text, path);
  BpeTokenizer::Spec spec;
  try {
    read_model(j, path, spec);
    spec.bos = template_bos(member(j, "post_processor"));
  } catch (const json::exception& e) {
    fail(path, ": ", json_message(e));
  }
  for (const char* name : {"<|endoftext|>", "<|end_of_text|>", "</s>"}) {
    if (spec.eos < 0) spec.eos = id_of(spec, name);
  }
  const std::string config =
      (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  if (std::ifstream f(config, std::ios::binary); f.is_open()) {
    try {
      read_config(parse_json(std::string(std::istreambuf_iterator<char>(f), {}), config), config,
                  spec);
    } catch (const json::exception& e) {
      fail(config, ": ", json_message(e));
    }
  }
  return std::make_unique<BpeTokenizer>(spec, path);
}

std::string byte_level_tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[to_byte_level(std::string(1, char(b)))] = b;
  json added = json::array();
  for (auto [id, text] : {std::pair{kByteBos, "<s>"}, {kByteEos, "</s>"}, {kByteSink, "<sink>"}})
    added.push_back({{"id", id}, {"content", text}, {"special", true}});
  const json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {kByteBos}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}};
  return j.dump() + "\n";
}

}  // namespace ss
