// Training data: text to tokens, a held-out split, and the sample modes of
// the sink study (Gu et al. section 5): natural text, random tokens at chosen
// positions, a fixed token at a chosen position.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ss {

enum class DataMode { Natural, Random, Fixed };
DataMode parse_data_mode(const std::string& name);  // one-line ss::Error listing the modes
const char* data_mode_name(DataMode m);

struct DataOptions {
  int bos = -1;         // a BOS id first in every sample; -1: none
  int sink_token = -1;  // a learnable sink token before everything; -1: none
  DataMode mode = DataMode::Natural;
  std::vector<int> random_positions;        // Random: positions that get a uniform random token
  int fixed_position = 0, fixed_token = 0;  // Fixed: this token at this position
  int n_text_tokens = 0;                    // ids a random token is drawn from: 0..n-1
};

// A token stream split into train and validation parts; samples are windows
// of it, drawn from a counter-based seed so that (seed, step, index) fixes
// every sample whatever happened before (resume is exact).
class Corpus {
 public:
  // val_fraction of the tokens (from the end) are held out.
  Corpus(std::vector<int> tokens, double val_fraction, int ctx, const DataOptions& o);
  int ctx() const { return ctx_; }
  size_t train_tokens() const { return n_train_; }
  size_t val_tokens() const { return tokens_.size() - n_train_; }
  // Sample `index` of training step `step`: ctx tokens.
  std::vector<int> train_sample(uint64_t seed, int64_t step, int index) const;
  // Validation sample i of n, evenly spaced over the held-out part.
  std::vector<int> val_sample(int i, int n) const;
  // The text tokens a sample holds after its lead (sink token, BOS).
  int lead() const;

 private:
  std::vector<int> make(size_t start, uint64_t key) const;
  std::vector<int> tokens_;
  size_t n_train_;
  int ctx_;
  DataOptions o_;
};

}  // namespace ss
