#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace ss {

namespace fs = std::filesystem;

namespace {

bool has_gguf_magic(const std::string& path) {
  char magic[4] = {};
  std::ifstream f(path, std::ios::binary);
  return f.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::error_code ec;
  check(!fs::is_directory(path, ec), "cannot open tokenizer ", path, ": is a directory");
  std::ifstream f(path, std::ios::binary);
  check(f.is_open(), "cannot open tokenizer ", path, ": ", std::strerror(errno));
  // GGUF files may hold a whole model: map them rather than read them.
  if (has_gguf_magic(path)) return load_gguf_tokenizer(path);
  std::string data(std::istreambuf_iterator<char>(f), {});
  check(!f.bad(), "cannot read tokenizer ", path);
  // JSON: '{', then '"', '}' or whitespace (a tokenizer.bin starts with a
  // small little-endian int32).
  const bool json = data.size() >= 2 && data[0] == '{' &&
                    std::string_view("\"} \t\r\n").find(data[1]) != std::string_view::npos;
  if (json || path.ends_with(".json")) {
    return load_tokenizer_json(data, path);
  }
  // A ModelProto starts with field 1 (a length-delimited piece): 0x0A and a
  // non-zero length.
  bool sentencepiece =
      path.ends_with(".model") || (data.size() >= 2 && data[0] == 0x0A && data[1] != 0);
  if (sentencepiece) return std::make_unique<SentencePieceTokenizer>(data, path);
  return std::make_unique<Llama2cTokenizer>(data, path);
}

std::unique_ptr<Tokenizer> find_tokenizer(const std::string& model_path) {
  std::error_code ec;
  fs::path model(model_path);
  // A GGUF checkpoint carries its vocabulary.
  if (fs::is_regular_file(model, ec) && has_gguf_magic(model_path)) {
    return load_gguf_tokenizer(model_path);
  }
  // A Hugging Face directory holds its tokenizer; a single file has it beside it.
  fs::path dir = fs::is_directory(model, ec) ? model
                 : model.has_parent_path()   ? model.parent_path()
                                             : fs::path(".");
  for (const char* name : {"tokenizer.model", "tokenizer.json", "tokenizer.bin"}) {
    if (fs::is_regular_file(dir / name, ec)) return load_tokenizer((dir / name).string());
  }
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.starts_with("tok") && name.ends_with(".bin") && name != model.filename() &&
        e.is_regular_file(ec)) {
      found.push_back(name);
    }
  }
  check(!found.empty(), "no tokenizer for ", model_path, ": looked for tokenizer.model, ",
        "tokenizer.json, tokenizer.bin and tok*.bin in ", dir.string());
  std::sort(found.begin(), found.end());
  if (found.size() > 1) {
    std::string names;
    for (const auto& n : found) names += " " + n;
    fail("ambiguous tokenizer for ", model_path, ": several tok*.bin in ", dir.string(), ":",
         names);
  }
  return load_tokenizer((dir / found[0]).string());
}

namespace {

[[noreturn]] void bad_utf8(std::string_view what, size_t at, const char* why) {
  fail("invalid UTF-8 in ", what, " at byte ", at, " (", why, ")");
}

}  // namespace

void check_utf8(std::string_view text, std::string_view what) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      bad_utf8(what, i, (c & 0xC0) == 0x80 ? "unexpected continuation byte" : "invalid lead byte");
    }
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        bad_utf8(what, i, "incomplete sequence");
      }
      cp = cp << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    if (cp < min) bad_utf8(what, i, "overlong encoding");
    if (cp >= 0xD800 && cp <= 0xDFFF) bad_utf8(what, i, "surrogate code point");
    if (cp > 0x10FFFF) bad_utf8(what, i, "code point beyond U+10FFFF");
    i += len;
  }
}

}  // namespace ss
