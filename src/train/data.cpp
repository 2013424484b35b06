#include "train/data.h"

#include <random>

#include "core/error.h"

namespace ss {

namespace {
constexpr std::pair<DataMode, const char*> kModes[] = {
    {DataMode::Natural, "natural"}, {DataMode::Random, "random"}, {DataMode::Fixed, "fixed"}};

// SplitMix64: a counter-based seed for each sample.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

DataMode parse_data_mode(const std::string& name) {
  for (auto [m, n] : kModes)
    if (name == n) return m;
  fail("unknown data mode '", name, "' (supported: natural, random, fixed)");
}

const char* data_mode_name(DataMode m) {
  for (auto [mode, n] : kModes)
    if (mode == m) return n;
  return "?";
}

Corpus::Corpus(std::vector<int> tokens, double val_fraction, int ctx, const DataOptions& o)
    : tokens_(std::move(tokens)), ctx_(ctx), o_(o) {
  check(val_fraction >= 0 && val_fraction < 1, "--val-fraction must be in [0, 1), got ",
        val_fraction);
  check(ctx > lead() + 1, "--ctx ", ctx, " leaves no room for text after the sample's lead");
  const size_t need = size_t(ctx - lead());
  n_train_ = tokens_.size() - size_t(double(tokens_.size()) * val_fraction);
  check(n_train_ >= need, "the training text has ", n_train_, " tokens; a sample needs ", need);
  check(val_fraction == 0 || tokens_.size() - n_train_ >= need, "the held-out split has ",
        tokens_.size() - n_train_, " tokens; a sample needs ", need,
        " (more text or a larger --val-fraction)");
  for (int p : o.random_positions)
    check(p >= 0 && p < ctx, "random position ", p, " is outside the sample (0..", ctx - 1, ")");
  check(o.mode != DataMode::Fixed || (o.fixed_position >= 0 && o.fixed_position < ctx),
        "fixed position ", o.fixed_position, " is outside the sample (0..", ctx - 1, ")");
  check(o.mode != DataMode::Random || !o.random_positions.empty(),
        "data mode random needs --random-positions");
  check(o.mode != DataMode::Random || o.n_text_tokens > 0, "data mode random: no token range");
}

int Corpus::lead() const { return (o_.sink_token >= 0) + (o_.bos >= 0); }

std::vector<int> Corpus::make(size_t start, uint64_t key) const {
  std::vector<int> s;
  s.reserve(ctx_);
  if (o_.sink_token >= 0) s.push_back(o_.sink_token);
  if (o_.bos >= 0) s.push_back(o_.bos);
  s.insert(s.end(), tokens_.begin() + int64_t(start),
           tokens_.begin() + int64_t(start) + (ctx_ - lead()));
  std::mt19937_64 rng(mix(key ^ 0x5eed));
  if (o_.mode == DataMode::Random) {
    std::uniform_int_distribution<int> tok(0, o_.n_text_tokens - 1);
    for (int p : o_.random_positions) s[p] = tok(rng);
  } else if (o_.mode == DataMode::Fixed) {
    s[o_.fixed_position] = o_.fixed_token;
  }
  return s;
}

std::vector<int> Corpus::train_sample(uint64_t seed, int64_t step, int index) const {
  const uint64_t key = mix(mix(seed) ^ mix(uint64_t(step) * 1000003u + uint64_t(index)));
  const size_t span = n_train_ - size_t(ctx_ - lead()) + 1;
  return make(size_t(key % span), key);
}

std::vector<int> Corpus::val_sample(int i, int n) const {
  const size_t span = val_tokens() - size_t(ctx_ - lead()) + 1;
  return make(n_train_ + span * size_t(i) / size_t(std::max(n, 1)), mix(uint64_t(i) + 77));
}

}  // namespace ss
