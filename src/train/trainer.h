// Pre-training small LMs from scratch with the knobs of the sink study: the
// one Model (forward with a tape, then Model::backward), AdamW over one flat
// parameter buffer, atomic checkpoints that resume bit-identically.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "analysis/sink_metric.h"
#include "model/model.h"
#include "model/params.h"
#include "ops/backend.h"
#include "train/data.h"

namespace ss {

struct OptimOptions {
  double lr = 1e-3, min_lr_ratio = 0.1;  // cosine decays to min_lr_ratio * lr
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  double clip = 1.0;   // global gradient-norm clip; 0: off
  int warmup = 0;      // linear warmup steps
  bool cosine = true;  // else constant after warmup
  int batch = 8, accum = 1;
  int64_t steps = 1000;
  uint64_t seed = 1;
  void validate() const;
  double lr_at(int64_t step) const;
};

// One step's figures.
struct StepStats {
  int64_t step;
  double loss, lr, grad_norm, tokens_per_s;
};

class Trainer {
 public:
  // A fresh model of config c (f32, GPT-2-style init from o.seed).
  Trainer(const ModelConfig& c, const OptimOptions& o, Backend& be);
  // Resumes from a checkpoint directory written by save(): weights,
  // optimizer state and step.
  static std::unique_ptr<Trainer> resume(const std::string& dir, const OptimOptions& o,
                                         Backend& be);

  const ModelConfig& config() const { return model_->config(); }
  std::shared_ptr<const Model> model() const { return model_; }
  int64_t step() const { return step_; }
  const OptimOptions& options() const { return o_; }

  // The first sample index whose token is a target: past the lead tokens
  // (sink token, BOS), which carry no text, and past a prefix-LM prefix,
  // whose positions see ahead.
  int first_target(int lead) const;
  // Mean next-token loss of samples over targets s[first..]. With grads,
  // accumulates d(sum of losses)/d params * scale into grads().
  double loss(const std::vector<std::vector<int>>& samples, int first, bool grads,
              double scale = 1);
  // One optimizer step over batch * accum samples from the corpus.
  StepStats train_step(const Corpus& data);
  // Validation loss over n held-out samples.
  double val_loss(const Corpus& data, int n);

  // Writes dir/step-N atomically (model.safetensors, config.json, the
  // tokenizer, optimizer.safetensors, trainer.json) and points dir/latest at
  // it. extra_files: name -> content, written alongside (the tokenizer).
  std::string save(const std::string& dir,
                   const std::vector<std::pair<std::string, std::string>>& extra_files) const;

  // Parameters and gradients, flat (for tests).
  std::vector<float>& params() { return params_; }
  std::vector<float>& grads() { return grads_; }

 private:
  Trainer(const ModelConfig& c, const OptimOptions& o, Backend& be, bool init);
  void build(const ModelConfig& c);
  // Each parameter as an f32 tensor over the flat buffer, by name.
  std::vector<std::pair<std::string, Tensor>> param_tensors() const;
  OptimOptions o_;
  Backend& be_;
  std::vector<ParamSpec> specs_;
  std::vector<size_t> offsets_;
  std::vector<float> params_, grads_, m_, v_;
  std::shared_ptr<const Model> model_;
  int64_t step_ = 0;
  std::unique_ptr<Workspace> ws_;
  std::unique_ptr<Tape> tape_;
  std::vector<KvCache> caches_;  // one per sample of a micro-batch
  std::vector<float> logits_;
  std::vector<double> nll_;   // per row of a micro-batch
  std::vector<int> targets_;  // and its target (-1: none)
};

// A one-line check that a config is one the trainer can build (the
// inference-only family switches are off).
void check_trainable(const ModelConfig& c);

}  // namespace ss
