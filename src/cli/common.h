// Options and helpers every subcommand shares.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "cache/policy.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace ss::cli {

struct ModelOptions {
  std::string model;      // not given: $SINKSTREAM_MODEL, else the bundled stories260K
  std::string tokenizer;  // empty: the one beside the model
  int threads = 0;        // 0: all cores

  // threads: whether the command runs kernels and so takes -t.
  void add(CLI::App* app, bool threads = true);
  // Applies -t to OpenMP and OpenBLAS.
  void apply_threads() const;
  // The tokenizer for a model of config c; a one-line error when it has more
  // tokens than the model's embedding.
  std::unique_ptr<Tokenizer> load_tokenizer(const ModelConfig& c) const;
};

struct PolicyOptions {
  std::string policy = "sinks";
  int sinks = 4;
  int window = -1;  // not given: fill the training context
  int ctx = 0;      // dense capacity; not given: what the run needs

  void add(CLI::App* app);
  // needed: the tokens a dense cache must hold when --ctx is not given
  // (<= 0: unknown, which is an error for dense). --sinks, --window or --ctx
  // given to a policy that does not use them is an error. Without --window,
  // S + W + 1 fill the training context, up to max_tokens and the stream's
  // `needed` tokens (with the lead token) when known.
  CachePolicy make(const ModelConfig& c, int64_t needed,
                   int max_tokens = CachePolicy::kMaxTokens) const;

 private:
  CLI::Option *sinks_opt_ = nullptr, *window_opt_ = nullptr, *ctx_opt_ = nullptr;
};

// Reads a whole file; one-line error naming it when it cannot be read.
std::string read_file(const std::string& path);
// Whitespace-separated token ids; one-line error on anything else.
std::vector<int> parse_ids(const std::string& text, const std::string& what, int vocab_size);

// Registration of each subcommand (one file each).
void add_generate(CLI::App& app);
void add_ppl(CLI::App& app);
void add_info(CLI::App& app);
void add_convert(CLI::App& app);
void add_serve(CLI::App& app);
void add_sinks(CLI::App& app);
void add_plot(CLI::App& app);
void add_ablate(CLI::App& app);
void add_train(CLI::App& app);

}  // namespace ss::cli
