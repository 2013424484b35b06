#include "tokenizer/byte_level.h"

#include <array>
#include <cstdint>

namespace ss {

namespace {

// GPT-2's byte-to-unicode alphabet: the printable Latin-1 bytes ('!'..'~',
// U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves, the other 68 bytes,
// in order, for U+0100 onwards.
constexpr uint32_t kAlphabetEnd = 256 + 68;

struct Alphabet {
  std::array<uint32_t, 256> code_point;  // byte -> code point
  std::array<int, kAlphabetEnd> byte;    // code point -> byte, -1 if none
};

const Alphabet& alphabet() {
  static const Alphabet a = [] {
    Alphabet t;
    t.byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t.code_point[b] = printable ? b : next++;
      t.byte[t.code_point[b]] = b;
    }
    return t;
  }();
  return a;
}

}  // namespace

std::string from_byte_level(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    size_t len = 1;
    if ((c & 0xE0) == 0xC0 && i + 1 < s.size() && (s[i + 1] & 0xC0) == 0x80) {
      cp = (c & 0x1Fu) << 6 | (s[i + 1] & 0x3Fu);
      len = 2;
    }
    const int b = cp < kAlphabetEnd ? alphabet().byte[cp] : -1;
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string to_byte_level(std::string_view raw) {
  std::string out;
  for (unsigned char b : raw) {
    const uint32_t cp = alphabet().code_point[b];
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | cp >> 6);
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

}  // namespace ss
