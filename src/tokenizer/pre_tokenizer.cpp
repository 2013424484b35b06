#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <atomic>

#include "core/error.h"

namespace ss {

namespace {

// The regexes of llama.cpp's pre-tokenizer types (llama-vocab.cpp), as it
// writes them (case-insensitive groups spelt out).
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt4o = R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+)"
                               R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?)"
                               R"(|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*)"
                               R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?)"
                               R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kTekken = R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+)"
                                R"(|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*)"
                                R"(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kBloom = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+";
constexpr const char* kCjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";

struct Family {
  std::vector<const char*> names;
  std::vector<std::string> regexes;
  bool ignore_merges = false, add_bos = false;
};

const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       {kLlama3},
       true,
       true},
      {{"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, {kLlama3}},
      {{"deepseek-coder"}, {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"}},
      {{"deepseek-v3"},
       {R"(\p{N}{1,3})", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^)"
        "\r\n"
        R"(\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[)"
        "\r\n"
        R"(]*|\s*[)"
        "\r\n"
        R"(]+|\s+(?!\S)|\s+)"}},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
        "mellum2"},
       {R"(\p{N})", kGpt2}},
      {{"gpt-2", "mpt", "olmo", "jais", "trillion", "granite-docling", "phi-2", "jina-es",
        "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
        "exaone4"},
       {kGpt2}},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open",
        "megrez", "grok-2"},
       {kQwen2}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {kBloom}},
      {{"viking"}, {kBloom, R"(\p{N})"}},
      {{"tekken"}, {kTekken}, true, true},
      {{"chameleon"},
       {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
        R"(\p{N})", R"([\p{P}!-/:-@\[-`{-~])", kGpt2},
       false,
       true},
      {{"gpt-4o", "llama4", "kanana2", "minimax-m2"}, {kGpt4o}},
      {{"superbpe"}, {R"(\p{N}+)", R"((?=(\d{3})+(?!\d)))"}},
      {{"bailingmoe", "bailingmoe2", "llada-moe"},
       {R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
        R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"}},
      {{"seed-coder"},
       {R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+)"
        R"(|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
  };
  return f;
}

const std::vector<PreTokenizerSpec>& specs() {
  static const std::vector<PreTokenizerSpec> s = [] {
    std::vector<PreTokenizerSpec> out;
    for (const Family& f : families()) {
      for (const char* n : f.names) out.push_back({n, f.regexes, f.ignore_merges, f.add_bos});
    }
    return out;
  }();
  return s;
}

// The ASCII members of each category, as llama.cpp lists them.
constexpr std::string_view kAsciiNumber = "0-9", kAsciiLetter = "A-Za-z",
                           kAsciiPunctuation = R"(!-#%-*,-/:-;?-@\[-\]_\{\})",
                           kAsciiSymbol = R"(\$\+<->^`\|)";

bool uses_categories(std::string_view re) {
  for (std::string_view c : {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}"}) {
    if (re.find(c) != std::string_view::npos) return true;
  }
  return false;
}

// llama.cpp's rewrite of a regex for the collapsed text: \p{X} becomes the
// category byte and its ASCII members (in brackets outside a class).
std::string collapse_regex(std::string_view re) {
  std::string out;
  bool inside = false;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && re[i] == ']' && re[i - 1] != '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (re[i] == '\\' && i + 4 < re.size() && re[i + 1] == 'p' && re[i + 2] == '{' &&
        re[i + 4] == '}') {
      unsigned char byte = 0;
      std::string_view ascii;
      switch (re[i + 3]) {
        case 'N':
          byte = kCategoryNumber, ascii = kAsciiNumber;
          break;
        case 'L':
          byte = kCategoryLetter, ascii = kAsciiLetter;
          break;
        case 'P':
          byte = kCategoryPunctuation, ascii = kAsciiPunctuation;
          break;
        case 'M':
          byte = kCategoryMark;
          break;
        case 'S':
          byte = kCategorySymbol, ascii = kAsciiSymbol;
          break;
      }
      if (byte != 0) {
        if (!inside) out += '[';
        out += static_cast<char>(byte);
        out += ascii;
        if (!inside) out += ']';
        i += 4;
        continue;
      }
    }
    out += re[i];
  }
  return out;
}

[[noreturn]] void pcre_fail(const std::string& what, int code) {
  PCRE2_UCHAR msg[256];
  pcre2_get_error_message(code, msg, sizeof msg);
  fail(what, reinterpret_cast<const char*>(msg));
}

std::string to_utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | cp >> 6);
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | cp >> 12);
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | cp >> 18);
    s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

bool is_unicode_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

unsigned char collapsed_category(uint32_t cp) {
  if (cp < 0x80) return static_cast<unsigned char>(cp);
  if (is_unicode_space(cp)) return 0x0B;
  // General categories from PCRE2's Unicode tables, looked up once per code point.
  static std::array<std::atomic<unsigned char>, 0x110000> cache{};
  unsigned char c = cache[cp].load(std::memory_order_relaxed);
  if (c != 0) return c;
  struct Lookup {
    pcre2_code* code;
    Lookup() {
      int err = 0;
      PCRE2_SIZE at = 0;
      const char* re = R"(^(?:(\p{N})|(\p{L})|(\p{P})|(\p{M})|(\p{S})))";
      code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re), PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP, &err, &at, nullptr);
      if (!code) pcre_fail("cannot compile the Unicode category regex: ", err);
    }
  };
  static const Lookup lookup;
  const std::string s = to_utf8(cp);
  pcre2_match_data* m = pcre2_match_data_create_from_pattern(lookup.code, nullptr);
  const int rc = pcre2_match(lookup.code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0,
                             PCRE2_NO_UTF_CHECK, m, nullptr);
  c = kCategoryOther;
  if (rc > 1) {
    static constexpr unsigned char kByGroup[] = {
        0, kCategoryNumber, kCategoryLetter, kCategoryPunctuation, kCategoryMark, kCategorySymbol};
    c = kByGroup[rc - 1];
  }
  pcre2_match_data_free(m);
  cache[cp].store(c, std::memory_order_relaxed);
  return c;
}

const PreTokenizerSpec* find_pre_tokenizer(std::string_view name) {
  for (const PreTokenizerSpec& s : specs()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string supported_pre_tokenizers() {
  std::string out;
  for (const PreTokenizerSpec& s : specs()) out += (out.empty() ? "" : ", ") + s.name;
  return out;
}

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  bool collapsed = false;
  ~Compiled() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(const std::vector<std::string>& regexes, const std::string& name)
    : name_(name) {
  for (const std::string& re : regexes) {
    auto c = std::make_unique<Compiled>();
    c->collapsed = uses_categories(re);
    const std::string pattern = c->collapsed ? collapse_regex(re) : re;
    int err = 0;
    PCRE2_SIZE at = 0;
    const uint32_t options = PCRE2_DOLLAR_ENDONLY | (c->collapsed ? 0 : PCRE2_UTF);
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                            &err, &at, nullptr);
    if (!c->code) pcre_fail(name + ": cannot compile pre-tokenizer regex " + re + ": ", err);
    pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // matching falls back to the interpreter
    regexes_.push_back(std::move(c));
  }
}

RegexSplitter::~RegexSplitter() = default;

std::vector<std::pair<size_t, size_t>> RegexSplitter::split(std::string_view text) const {
  // Code points and their byte offsets (the text is valid UTF-8).
  std::vector<uint32_t> cps;
  std::vector<size_t> offs;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < len; ++k)
      cp = cp << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    cps.push_back(cp);
    offs.push_back(i);
    i += len;
  }
  offs.push_back(text.size());
  const size_t n = cps.size();

  // The two forms of the text the regexes see, made when first needed.
  std::string collapsed, wide;
  std::vector<size_t> wide_off, wide_cp;  // code point -> byte in wide, and back
  std::vector<size_t> pieces;             // lengths in code points
  if (n > 0) pieces.push_back(n);
  for (const auto& re : regexes_) {
    const std::string* subject_text;
    if (re->collapsed) {
      if (collapsed.empty()) {
        collapsed.resize(n);
        for (size_t i = 0; i < n; ++i) collapsed[i] = static_cast<char>(collapsed_category(cps[i]));
      }
      subject_text = &collapsed;
    } else {
      if (wide_off.empty()) {
        wide_cp.assign(1, 0);
        for (size_t i = 0; i < n; ++i) {
          wide_off.push_back(wide.size());
          wide += cps[i] >= 0x80 && is_unicode_space(cps[i]) ? std::string("\v") : to_utf8(cps[i]);
          wide_cp.resize(wide.size() + 1, i + 1);
        }
        wide_off.push_back(wide.size());
        wide_cp.back() = n;
      }
      subject_text = &wide;
    }
    const auto byte_of = [&](size_t cp) { return re->collapsed ? cp : wide_off[cp]; };
    const auto cp_of = [&](size_t byte) { return re->collapsed ? byte : wide_cp[byte]; };

    pcre2_match_data* m = pcre2_match_data_create_from_pattern(re->code, nullptr);
    std::vector<size_t> out;
    size_t start = 0;  // first code point of the piece
    for (size_t len : pieces) {
      const size_t b0 = byte_of(start), b1 = byte_of(start + len);
      const auto subject = reinterpret_cast<PCRE2_SPTR>(subject_text->data() + b0);
      const size_t size = b1 - b0;
      size_t pos = 0, last = 0;
      bool after_empty = false;
      const auto emit = [&](size_t from, size_t to) {
        out.push_back(cp_of(b0 + to) - cp_of(b0 + from));
      };
      while (pos <= size) {
        uint32_t opts = re->collapsed ? 0 : PCRE2_NO_UTF_CHECK;
        // After an empty match, a non-empty one at the same place, else move on.
        if (after_empty) opts |= PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
        int rc = pcre2_match(re->code, subject, size, pos, opts, m, nullptr);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
          rc = pcre2_match(re->code, subject, size, pos, opts | PCRE2_NO_JIT, m, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) {
          if (!after_empty || pos == size) break;
          after_empty = false;
          ++pos;
          while (pos < size && (subject[pos] & 0xC0) == 0x80 && !re->collapsed) ++pos;
          continue;
        }
        if (rc < 0) pcre_fail(name_ + ": pre-tokenizer regex failed: ", rc);
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m);
        const size_t begin = ov[0], end = ov[1];
        if (begin > last) emit(last, begin);
        if (end > begin) emit(begin, end);
        last = end;
        after_empty = begin == end;
        pos = end;
      }
      if (last < size) emit(last, size);
      start += len;
    }
    pcre2_match_data_free(m);
    pieces = std::move(out);
  }

  std::vector<std::pair<size_t, size_t>> words;
  words.reserve(pieces.size());
  size_t at = 0;
  for (size_t len : pieces) {
    if (len > 0) words.emplace_back(offs[at], offs[at + len]);
    at += len;
  }
  return words;
}

}  // namespace ss
