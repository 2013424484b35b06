#include "tokenizer/llama2c_tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <queue>
#include <utility>

#include "core/error.h"

namespace ss {

namespace {

// run.c starts its best-score search at -1e10, so lower-scored merges never happen.
constexpr float kNoMerge = -1e10f;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Bytes in the UTF-8 sequence led by c (the text is already validated).
size_t utf8_length(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

}  // namespace

int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  int hi = hex_digit(piece[3]), lo = hex_digit(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

namespace {

Llama2cTokenizer::Vocab parse_tokenizer_bin(std::string_view data, const std::string& name) {
  Llama2cTokenizer::Vocab v;
  size_t pos = 0;
  auto read4 = [&](void* dst) {
    check(data.size() - pos >= 4, "tokenizer ", name, " is truncated in token ", v.pieces.size());
    std::memcpy(dst, data.data() + pos, 4);
    pos += 4;
  };
  int32_t max_len = 0;
  check(data.size() >= 4, "tokenizer ", name, " is too short for a llama2.c tokenizer.bin");
  read4(&max_len);
  check(max_len > 0, "tokenizer ", name, " has a bad max_token_length ", max_len);
  while (pos < data.size()) {
    float score = 0;
    int32_t len = 0;
    read4(&score);
    read4(&len);
    check(len >= 0 && len <= max_len, "tokenizer ", name, ": token ", v.pieces.size(),
          " has length ", len, " (max_token_length ", max_len, ")");
    check(data.size() - pos >= static_cast<size_t>(len), "tokenizer ", name,
          " is truncated in token ", v.pieces.size());
    v.pieces.emplace_back(data.substr(pos, len));
    v.scores.push_back(score);
    pos += len;
  }
  check(v.pieces.size() >= 3, "tokenizer ", name, " has ", v.pieces.size(),
        " tokens; <unk>, BOS and EOS are needed");
  return v;
}

}  // namespace

Llama2cTokenizer::Llama2cTokenizer(std::string_view data, const std::string& name)
    : Llama2cTokenizer(parse_tokenizer_bin(data, name), name) {}

Llama2cTokenizer::Llama2cTokenizer(Vocab vocab, const std::string& name)
    : name_(name), v_(std::move(vocab)) {
  const size_t n = v_.pieces.size();
  check(n > 0, "tokenizer ", name, " has an empty vocabulary");
  check(v_.scores.size() == n, "tokenizer ", name, " has ", n, " pieces but ", v_.scores.size(),
        " scores");
  check(v_.encodable.empty() || v_.encodable.size() == n, "tokenizer ", name, " has ", n,
        " pieces but ", v_.encodable.size(), " encodable flags");
  for (int id : {v_.bos, v_.eos}) {
    check(id >= -1 && id < vocab_size(), "tokenizer ", name, ": special token id ", id,
          " is outside the vocabulary of ", n, " tokens");
  }
  for (size_t i = 0; i < n; ++i) {
    if (v_.encodable.empty() || v_.encodable[i]) ids_.emplace(v_.pieces[i], static_cast<int>(i));
  }
  byte_ids_.fill(-1);
  for (size_t i = n; i-- > 0;) {
    if (int b = byte_piece_value(v_.pieces[i]); b >= 0) byte_ids_[b] = static_cast<int>(i);
  }
  byte_pieces_ = std::find(byte_ids_.begin(), byte_ids_.end(), -1) == byte_ids_.end();
}

int Llama2cTokenizer::lookup(std::string_view piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int> Llama2cTokenizer::encode(std::string_view text, bool add_bos) const {
  check_utf8(text, "text to encode");
  // Symbols form a linked list; merged-away symbols get id -1.
  struct Symbol {
    int id, prev, next;
  };
  std::vector<Symbol> syms;
  auto add_piece = [&](std::string_view cp) {
    int id = lookup(cp);
    if (id >= 0) {
      syms.push_back({id, 0, 0});
      return;
    }
    check(byte_pieces_, "tokenizer ", name_, " has no byte pieces to encode \"", cp, "\"");
    for (unsigned char b : cp) syms.push_back({byte_ids_[b], 0, 0});
  };
  if (!text.empty() && v_.dummy_prefix) add_piece(" ");
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_length(static_cast<unsigned char>(text[i]));
    add_piece(text.substr(i, n));
    i += n;
  }
  const int n = static_cast<int>(syms.size());
  for (int i = 0; i < n; ++i) syms[i] = {syms[i].id, i - 1, i + 1 < n ? i + 1 : -1};

  // run.c repeatedly merges the best-scoring adjacent pair, the leftmost on
  // ties. A heap ordered by (score, -left) gives the same merges; entries whose
  // symbols changed since they were pushed are skipped. BOS stays out (run.c
  // includes it, but no other piece starts with its "\n<s>\n").
  struct Merge {
    float score;
    int left, right, left_id, right_id, id;
    bool operator<(const Merge& o) const {
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  std::priority_queue<Merge> heap;
  std::string buf;
  auto consider = [&](int left) {
    if (left < 0 || syms[left].next < 0) return;
    const Symbol& l = syms[left];
    const Symbol& r = syms[l.next];
    buf.assign(v_.pieces[l.id]).append(v_.pieces[r.id]);
    int id = lookup(buf);
    if (id >= 0 && v_.scores[id] > kNoMerge) {
      heap.push({v_.scores[id], left, l.next, l.id, r.id, id});
    }
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    Merge m = heap.top();
    heap.pop();
    Symbol& l = syms[m.left];
    Symbol& r = syms[m.right];
    if (l.id != m.left_id || l.next != m.right || r.id != m.right_id) continue;
    l.id = m.id;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = m.left;
    r.id = -1;
    consider(l.prev);
    consider(m.left);
  }

  std::vector<int> ids;
  if (add_bos && v_.bos >= 0) ids.push_back(v_.bos);
  for (int i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
  return ids;
}

std::string Llama2cTokenizer::decode(int prev, int id) const {
  check(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", name_);
  std::string_view piece = v_.pieces[id];
  if (v_.dummy_prefix && prev == v_.bos && v_.bos >= 0 && piece.starts_with(' ')) {
    piece.remove_prefix(1);
  }
  int byte = byte_piece_value(piece);
  return byte >= 0 ? std::string(1, static_cast<char>(byte)) : std::string(piece);
}

}  // namespace ss
