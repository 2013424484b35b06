#include "tokenizer/llama2c_tokenizer.h"

#include <cstdint>
#include <cstring>
#include <queue>

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

Llama2cTokenizer::Llama2cTokenizer(std::string_view data, const std::string& name) : name_(name) {
  size_t pos = 0;
  auto read4 = [&](void* dst) {
    check(data.size() - pos >= 4, "tokenizer ", name, " is truncated in token ", pieces_.size());
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
    check(len >= 0 && len <= max_len, "tokenizer ", name, ": token ", pieces_.size(),
          " has length ", len, " (max_token_length ", max_len, ")");
    check(data.size() - pos >= static_cast<size_t>(len), "tokenizer ", name,
          " is truncated in token ", pieces_.size());
    pieces_.emplace_back(data.substr(pos, len));
    scores_.push_back(score);
    pos += len;
  }
  check(pieces_.size() >= 3, "tokenizer ", name, " has ", pieces_.size(),
        " tokens; <unk>, BOS and EOS are needed");
  for (size_t i = 0; i < pieces_.size(); ++i) ids_.emplace(pieces_[i], static_cast<int>(i));
  byte_pieces_ = pieces_.size() >= 259;
  for (int b = 0; b < 256 && byte_pieces_; ++b) {
    byte_pieces_ = byte_piece_value(pieces_[b + 3]) == b;
  }
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
    for (unsigned char b : cp) syms.push_back({b + 3, 0, 0});
  };
  if (!text.empty()) add_piece(" ");  // the dummy prefix
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
    buf.assign(pieces_[l.id]).append(pieces_[r.id]);
    int id = lookup(buf);
    if (id >= 0 && scores_[id] > kNoMerge) heap.push({scores_[id], left, l.next, l.id, r.id, id});
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
  if (add_bos) ids.push_back(bos_id());
  for (int i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
  return ids;
}

std::string Llama2cTokenizer::decode(int prev, int id) const {
  check(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ", name_);
  std::string_view piece = pieces_[id];
  if (prev == bos_id() && piece.starts_with(' ')) piece.remove_prefix(1);
  int byte = byte_piece_value(piece);
  return byte >= 0 ? std::string(1, static_cast<char>(byte)) : std::string(piece);
}

}  // namespace ss
