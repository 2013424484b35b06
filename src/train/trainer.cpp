#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "io/safetensors.h"

namespace ss {

namespace fs = std::filesystem;
using nlohmann::json;

void OptimOptions::validate() const {
  check(lr > 0 && std::isfinite(lr), "--lr must be positive, got ", lr);
  check(min_lr_ratio >= 0 && min_lr_ratio <= 1, "--min-lr-ratio must be in [0, 1]");
  check(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
        "--beta1 and --beta2 must be in [0, 1)");
  check(eps > 0, "--adam-eps must be positive");
  check(weight_decay >= 0, "--weight-decay must not be negative");
  check(clip >= 0, "--clip must not be negative");
  check(warmup >= 0, "--warmup must not be negative");
  check(batch >= 1 && accum >= 1, "--batch and --accum must be at least 1");
  check(steps >= 1, "--steps must be at least 1");
}

double OptimOptions::lr_at(int64_t step) const {
  if (step < warmup) return lr * double(step + 1) / warmup;
  if (!cosine || steps <= warmup) return lr;
  const double t = double(step - warmup) / double(std::max<int64_t>(1, steps - warmup));
  const double floor = lr * min_lr_ratio;
  return floor + (lr - floor) * 0.5 * (1 + std::cos(M_PI * std::min(1.0, t)));
}

void check_trainable(const ModelConfig& c) {
  c.validate();
  check(!c.parallel_residual && c.clip_qkv == 0 && c.rotary_dim == 0 && !c.alibi_scaled &&
            c.rope_layout == RopeLayout::RotateHalf,
        "train: parallel residuals, clip_qkv, partial rotary and scaled ALiBi are not trainable");
  check(c.prefix_lm == 0 || c.sliding_window == 0,
        "train: choose one mask: causal, prefix-LM or sliding window");
  check(c.sink_logits == false || c.attn_op == AttnOp::Softmax || c.attn_op == AttnOp::Softmax1,
        "train: sink logits join a softmax denominator; use --attn-op softmax or softmax1");
}

Trainer::Trainer(const ModelConfig& c, const OptimOptions& o, Backend& be)
    : Trainer(c, o, be, true) {}

Trainer::Trainer(const ModelConfig& c, const OptimOptions& o, Backend& be, bool init)
    : o_(o), be_(be) {
  o.validate();
  check_trainable(c);
  build(c);
  if (!init) return;
  // GPT-2's initialisation: N(0, 0.02), residual outputs scaled by 1/sqrt(2 L).
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (size_t i = 0; i < specs_.size(); ++i) {
    float std = 0.02f, mean = 0;
    switch (specs_[i].role) {
      case ParamRole::Output:
        std = 0.02f / std::sqrt(2.0f * c.n_layers);
        break;
      case ParamRole::NormGain:
        std = 0, mean = 1;
        break;
      case ParamRole::Bias:
      case ParamRole::NormBias:
      case ParamRole::SinkLogit:
        std = 0;
        break;
      default:
        break;
    }
    float* p = params_.data() + offsets_[i];
    for (int64_t j = 0; j < specs_[i].numel(); ++j) p[j] = mean + std * g(rng);
  }
}

void Trainer::build(const ModelConfig& c) {
  specs_ = model_params(c, c.norm == NormKind::LayerNorm);
  size_t n = 0;
  for (const ParamSpec& s : specs_) offsets_.push_back(n), n += size_t(s.numel());
  params_.assign(n, 0.0f);
  grads_.assign(n, 0.0f);
  m_.assign(n, 0.0f);
  v_.assign(n, 0.0f);
  Checkpoint ck;
  ck.config = c;
  ck.format = "training";
  ck.tensors.tensors = param_tensors();
  model_ = std::make_shared<const Model>(std::move(ck));
  const int T = c.max_seq_len, rows = o_.batch * T;
  ws_ = std::make_unique<Workspace>(c, rows);
  tape_ = std::make_unique<Tape>(c, rows);
  ws_->tape = tape_.get();
  caches_.clear();
  for (int b = 0; b < o_.batch; ++b)
    caches_.emplace_back(c.n_layers, c.n_kv_heads, c.head_dim, 0, T, false);
  logits_.resize(size_t(rows) * c.vocab_size);
}

std::vector<std::pair<std::string, Tensor>> Trainer::param_tensors() const {
  std::vector<std::pair<std::string, Tensor>> t;
  for (size_t i = 0; i < specs_.size(); ++i)
    t.emplace_back(specs_[i].name,
                   Tensor{DType::F32, specs_[i].shape, params_.data() + offsets_[i]});
  return t;
}

int Trainer::first_target(int lead) const { return std::max({1, lead, config().prefix_lm}); }

double Trainer::loss(const std::vector<std::vector<int>>& samples, int first, bool grads,
                     double scale) {
  const ModelConfig& c = config();
  const int V = c.vocab_size, T = c.max_seq_len;
  const GradBuffer gb{params_.data(), grads_.data(), params_.size()};
  double total = 0;
  int64_t count = 0;
  // Micro-batches of up to o_.batch samples, stacked into one forward and
  // one backward call: B*T rows per GEMM.
  for (size_t b0 = 0; b0 < samples.size(); b0 += caches_.size()) {
    const int B = int(std::min(caches_.size(), samples.size() - b0));
    std::vector<Sequence> seqs;
    for (int b = 0; b < B; ++b) {
      const std::vector<int>& s = samples[b0 + b];
      check(int(s.size()) == T, "train: a sample of ", s.size(), " tokens for a context of ", T);
      caches_[b].clear();
      seqs.push_back({&caches_[b], s.data(), T});
    }
    model_->forward(be_, *ws_, seqs, logits_.data(), true);
    const int rows = B * T;
    nll_.resize(rows);
    targets_.resize(rows);
    for (int r = 0; r < rows; ++r) {  // the next token, where the loss counts it
      const int i = r % T;
      targets_[r] = i + 1 < first || i == T - 1 ? -1 : samples[b0 + r / T][i + 1];
    }
    be_.cross_entropy(logits_.data(), rows, V, targets_.data(), float(scale), grads, nll_.data());
    for (double x : nll_) total += x;  // in order: deterministic
    count += int64_t(B) * std::max(0, T - first);
    if (grads) model_->backward(be_, *ws_, seqs, logits_.data(), gb);
  }
  return count ? total / double(count) : 0.0;
}

StepStats Trainer::train_step(const Corpus& data) {
  const auto t0 = std::chrono::steady_clock::now();
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  const int n = o_.batch * o_.accum;
  const int first = first_target(data.lead());
  const double scale = 1.0 / (double(n) * std::max(1, config().max_seq_len - first));
  double loss_sum = 0;
  for (int a = 0; a < o_.accum; ++a) {
    std::vector<std::vector<int>> micro;
    for (int b = 0; b < o_.batch; ++b)
      micro.push_back(data.train_sample(o_.seed, step_, a * o_.batch + b));
    loss_sum += loss(micro, first, true, scale) * o_.batch;
  }
  const double gnorm = std::sqrt(be_.sum_squares(grads_.data(), int64_t(grads_.size())));
  const float clip = o_.clip > 0 && gnorm > o_.clip ? float(o_.clip / gnorm) : 1.0f;
  check(std::isfinite(gnorm), "train: the gradient is not finite at step ", step_,
        " (lower --lr or raise --warmup)");

  // AdamW; weight decay on matrices and embeddings only.
  const double lr = o_.lr_at(step_);
  const int64_t t = step_ + 1;
  const double c1 = 1 - std::pow(o_.beta1, double(t)), c2 = 1 - std::pow(o_.beta2, double(t));
  for (size_t i = 0; i < specs_.size(); ++i) {
    const ParamRole r = specs_[i].role;
    const bool decay =
        r == ParamRole::Embedding || r == ParamRole::Weight || r == ParamRole::Output;
    const float wd = decay ? float(lr * o_.weight_decay) : 0.0f;
    const size_t at = offsets_[i];
    be_.adamw(params_.data() + at, grads_.data() + at, m_.data() + at, v_.data() + at,
              specs_[i].numel(), {clip, lr, o_.beta1, o_.beta2, o_.eps, c1, c2, wd});
  }
  ++step_;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {step_, loss_sum / n, lr, gnorm, double(n) * config().max_seq_len / s};
}

double Trainer::val_loss(const Corpus& data, int n) {
  std::vector<std::vector<int>> samples;
  for (int i = 0; i < n; ++i) samples.push_back(data.val_sample(i, n));
  return loss(samples, first_target(data.lead()), false);
}

std::string Trainer::save(const std::string& dir,
                          const std::vector<std::pair<std::string, std::string>>& extra) const {
  const std::string name = "step-" + std::to_string(step_);
  const fs::path root(dir), final_dir = root / name, tmp = root / ("." + name + ".tmp");
  std::error_code ec;
  fs::create_directories(root, ec);
  check(!ec, "cannot create ", dir, ": ", ec.message());
  if (!fs::exists(final_dir)) {
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    check(!ec, "cannot create ", tmp.string(), ": ", ec.message());
    const std::vector<std::pair<std::string, Tensor>> weights = param_tensors();
    std::vector<std::pair<std::string, Tensor>> state;
    const int64_t n = int64_t(params_.size());
    state.emplace_back("adam.m", Tensor{DType::F32, {n}, m_.data()});
    state.emplace_back("adam.v", Tensor{DType::F32, {n}, v_.data()});
    save_safetensors((tmp / "model.safetensors").string(), weights, {{"format", "pt"}});
    save_safetensors((tmp / "optimizer.safetensors").string(), state);
    write_file_atomic((tmp / "config.json").string(), sinkstream_config_json(config()));
    const json st = {{"step", step_}, {"seed", o_.seed}};
    write_file_atomic((tmp / "trainer.json").string(), st.dump(2) + "\n");
    for (const auto& [file, content] : extra) write_file_atomic((tmp / file).string(), content);
    fs::rename(tmp, final_dir, ec);
    check(!ec, "cannot rename ", tmp.string(), " to ", final_dir.string(), ": ", ec.message());
  }
  // dir/latest -> step-N, swapped in by a rename.
  const fs::path link = root / "latest", link_tmp = root / ".latest.tmp";
  fs::remove(link_tmp, ec);
  fs::create_directory_symlink(name, link_tmp, ec);
  check(!ec, "cannot link ", link_tmp.string(), ": ", ec.message());
  fs::rename(link_tmp, link, ec);
  check(!ec, "cannot update ", link.string(), ": ", ec.message());
  sync_dir(dir);
  return final_dir.string();
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& dir, const OptimOptions& o,
                                         Backend& be) {
  const Checkpoint ck = load_checkpoint(dir);
  std::unique_ptr<Trainer> t(new Trainer(ck.config, o, be, false));
  for (size_t i = 0; i < t->specs_.size(); ++i) {
    const Tensor& w = ck.tensors.get(t->specs_[i].name, t->specs_[i].shape);
    check(w.dtype == DType::F32, dir, ": ", t->specs_[i].name, " is not f32");
    std::copy_n(static_cast<const float*>(w.data), w.numel(), t->params_.data() + t->offsets_[i]);
  }
  TensorStore state;
  load_safetensors(dir + "/optimizer.safetensors", state);
  const int64_t n = int64_t(t->params_.size());
  for (auto [name, buf] : {std::pair{"adam.m", &t->m_}, {"adam.v", &t->v_}}) {
    const Tensor& s = state.get(name, {n});
    std::copy_n(static_cast<const float*>(s.data), n, buf->data());
  }
  std::ifstream f(dir + "/trainer.json");
  check(bool(f), dir, ": no trainer.json (not a training checkpoint)");
  try {
    const json st = json::parse(f);
    t->step_ = st.at("step").get<int64_t>();
  } catch (const json::exception& e) {
    fail(dir, "/trainer.json: ", json_message(e));
  }
  check(t->step_ >= 0, dir, "/trainer.json: negative step");
  return t;
}

}  // namespace ss
