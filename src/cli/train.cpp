// sinkstream train: pre-train a small LM from scratch with the sink study's
// knobs; logs JSONL (loss, lr, grad norm, tokens/s; validation loss and
// Sink_k every --eval-every steps) and writes loadable checkpoints.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analysis/capture.h"
#include "cli/common.h"
#include "cli/options.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "core/progress.h"
#include "io/hf_config.h"
#include "tokenizer/bpe_tokenizer.h"
#include "train/trainer.h"

namespace ss::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct TrainOptions {
  // Model.
  int dim = 64, layers = 2, heads = 4, kv_heads = 0, hidden = 0, ctx = 64;
  std::string attn_op = "softmax", position = "rope", norm = "rmsnorm", ffn = "swiglu",
              mask = "causal";
  bool logn_bias = false, attn_gate = false, kv_bias = false, sink_logits = false,
       sink_token = false, post_norm = false;
  int prefix = 0, window = -1;  // window: past tokens for --mask sliding
  double rope_theta = 10000;
  // Data.
  std::vector<std::string> texts;
  std::string tokenizer = "byte";
  bool no_bos = false;
  double val_fraction = 0.05;
  std::string data_mode = "natural";
  std::vector<int> random_positions;
  int fixed_token = 0, fixed_position = 0;
  // Optimisation.
  OptimOptions opt;
  std::string schedule = "cosine";
  // Output.
  std::string out, config_file;
  int64_t save_every = 0;
  int log_every = 10, eval_every = 100, eval_samples = 16, sink_k = 4;
  double sink_eps = 0.3;
  bool resume = false, progress = true;
  int threads = 0;
};

// The model config the flags describe, for a vocabulary of vocab ids.
ModelConfig model_config(const TrainOptions& o, int vocab, int bos, int eos, int sink) {
  ModelConfig c;
  c.family = "sinkstream";
  check(o.dim > 0 && o.heads > 0 && o.dim % o.heads == 0, "--dim (", o.dim,
        ") must be a positive multiple of --heads (", o.heads, ")");
  c.dim = o.dim;
  c.n_layers = o.layers;
  c.n_heads = o.heads;
  c.n_kv_heads = o.kv_heads > 0 ? o.kv_heads : o.heads;
  c.head_dim = o.dim / o.heads;
  c.vocab_size = vocab;
  c.max_seq_len = o.ctx;
  c.attn_op = AttnOp(name_index(o.attn_op, kAttnOpNames, "--attn-op"));
  c.attn_logn_bias = o.logn_bias;
  c.attn_gate = o.attn_gate;
  c.kv_bias = o.kv_bias;
  c.sink_logits = o.sink_logits;
  c.sink_token_id = sink;
  c.post_norm = o.post_norm;
  c.rope_theta = o.rope_theta;
  c.bos_id = bos;
  c.eos_id = eos;
  c.position = PositionKind(name_index(o.position, kPositionNames, "--position"));
  c.norm = NormKind(name_index(o.norm, kNormNames, "--norm"));
  // swiglu: a SiLU-gated FFN; any other activation name: an ungated one.
  c.gated_ffn = o.ffn == "swiglu";
  c.act = c.gated_ffn ? Activation::SiLU
                      : Activation(name_index(o.ffn, kActivationNames, "--ffn", "swiglu"));
  // SwiGLU gets 8/3 d (rounded to 8) so that all three FFNs cost about 8 d^2.
  c.hidden_dim = o.hidden > 0 ? o.hidden : c.gated_ffn ? (8 * o.dim / 3 + 7) / 8 * 8 : 4 * o.dim;
  if (o.mask == "prefix") {
    check(o.prefix > 0 && o.prefix < o.ctx, "--mask prefix needs --prefix in 1..ctx-1");
    c.prefix_lm = o.prefix;
  } else if (o.mask == "sliding") {
    // W past tokens + the current one, as the cache policies count it; the
    // config stores the span (Hugging Face's sliding_window).
    check(o.window >= 0 && o.window < o.ctx - 1, "--mask sliding needs --window in 0..ctx-2 ",
          "(each token attends W past tokens and itself)");
    c.sliding_window = o.window + 1;
  } else {
    check(o.mask == "causal", "unknown --mask '", o.mask, "' (supported: causal, prefix, sliding)");
  }
  check_trainable(c);
  return c;
}

// Applies the keys of a JSON config file (flag names without dashes) to
// every option the command line left unset.
void apply_config_file(CLI::App* cmd, const std::string& path) {
  const json j = parse_json(read_file(path), path);
  check(j.is_object(), path, ": not a JSON object");
  for (const auto& item : j.items()) {  // no structured binding: the lambda below uses key
    const std::string& key = item.key();
    const json& value = item.value();
    CLI::Option* opt = cmd->get_option_no_throw("--" + key);
    check(opt != nullptr && key != "config", path, ": unknown option '", key, "'");
    if (opt->count() > 0) continue;  // the command line wins
    auto text = [&](const json& v) {
      check(v.is_primitive() && !v.is_null(), path, ": option '", key, "' must be a scalar");
      return v.is_string() ? v.get<std::string>() : v.dump();
    };
    try {
      if (value.is_array())
        for (const json& v : value) opt->add_result(text(v));
      else
        opt->add_result(text(value));
      opt->run_callback();
    } catch (const CLI::Error& e) {
      fail(path, ": option '", key, "': ", e.what());
    }
  }
}

// The tokenizer, its file for the checkpoint (name, content) and token ids.
struct Vocab {
  std::unique_ptr<Tokenizer> tok;
  std::pair<std::string, std::string> file;
  int size, bos, eos;
};

Vocab load_vocab(const std::string& spec) {
  Vocab v;
  if (spec == "byte") {
    v.file = {"tokenizer.json", byte_level_tokenizer_json()};
    v.tok = load_tokenizer_json(v.file.second, "byte-level tokenizer");
  } else {
    v.tok = load_tokenizer(spec);
    const std::string ext = fs::path(spec).extension().string();
    const std::string name = ext == ".model"  ? "tokenizer.model"
                             : ext == ".json" ? "tokenizer.json"
                             : ext == ".bin"  ? "tokenizer.bin"
                                              : "";
    check(!name.empty(), "--tokenizer ", spec,
          ": give byte, or a tokenizer.model, tokenizer.json or llama2.c .bin file");
    v.file = {name, read_file(spec)};
  }
  v.size = v.tok->vocab_size();
  v.bos = v.tok->bos_id();
  v.eos = v.tok->eos_id();
  return v;
}

// Keeps the log lines of steps up to `step` (a resumed run rewrites the rest).
void truncate_log(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      if (json::parse(line).at("step").get<int64_t>() <= step) kept += line + "\n";
    } catch (const json::exception&) {
      break;  // a torn last line
    }
  }
  write_file_atomic(path, kept);
}

void run(TrainOptions& o, CLI::App* cmd) {
  if (!o.config_file.empty()) apply_config_file(cmd, o.config_file);  // writes into o
  check(!o.texts.empty(), "give training text with --text FILE (or in --config)");
  check(!o.out.empty(), "give an output directory with --out DIR (or in --config)");
  // An option the chosen mask or data mode does not use is a mistake, not something to ignore.
  auto only_with = [cmd](const char* opt, bool used, const char* what) {
    check(!given(cmd->get_option(opt)) || used, opt, " applies only to ", what);
  };
  only_with("--prefix", o.mask == "prefix", "--mask prefix");
  only_with("--window", o.mask == "sliding", "--mask sliding");
  only_with("--fixed-token", o.data_mode == "fixed", "--data-mode fixed");
  only_with("--fixed-position", o.data_mode == "fixed", "--data-mode fixed");
  only_with("--random-positions", o.data_mode == "random", "--data-mode random");
  check(o.sink_eps > 0 && o.sink_eps < 1, "--sink-eps must be in (0, 1), got ", o.sink_eps);
  check(o.sink_k >= 1 && o.sink_k < o.ctx, "--sink-k must be in 1..ctx-1");
  check(o.schedule == "cosine" || o.schedule == "constant", "unknown --schedule '", o.schedule,
        "' (supported: cosine, constant)");
  o.opt.cosine = o.schedule == "cosine";
  o.opt.validate();
  ModelOptions threads;
  threads.threads = o.threads;
  threads.apply_threads();

  Vocab vocab = load_vocab(o.tokenizer);
  const int sink = !o.sink_token ? -1 : o.tokenizer == "byte" ? kByteSink : vocab.size;
  const int n_vocab = o.tokenizer == "byte" ? kByteVocab : vocab.size + (sink >= 0);
  std::vector<int> tokens;
  for (const std::string& f : o.texts) {
    const std::string text = read_file(f);
    check_utf8(text, f);
    const std::vector<int> ids = vocab.tok->encode(text, false);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
  }
  DataOptions d;
  d.bos = o.no_bos ? -1 : vocab.bos;
  d.sink_token = sink;
  d.mode = parse_data_mode(o.data_mode);
  d.random_positions = o.random_positions;
  d.fixed_position = o.fixed_position;
  d.fixed_token = o.fixed_token;
  d.n_text_tokens = o.tokenizer == "byte" ? 256 : vocab.size;
  check(d.mode != DataMode::Fixed || (o.fixed_token >= 0 && o.fixed_token < n_vocab),
        "--fixed-token ", o.fixed_token, " is outside the vocabulary (", n_vocab, ")");
  const Corpus corpus(std::move(tokens), o.val_fraction, o.ctx, d);

  auto be = make_cpu_backend();
  const std::string latest = o.out + "/latest";
  std::unique_ptr<Trainer> tr;
  const std::string log_path = o.out + "/log.jsonl";
  if (o.resume && fs::exists(latest)) {
    tr = Trainer::resume(latest, o.opt, *be);
    const ModelConfig want = model_config(o, n_vocab, vocab.bos, vocab.eos, sink);
    check(sinkstream_config_json(want) == sinkstream_config_json(tr->config()),
          "--resume: ", latest, " holds a different model than the flags describe");
    truncate_log(log_path, tr->step());
    std::fprintf(stderr, "resuming from %s at step %lld\n", latest.c_str(),
                 static_cast<long long>(tr->step()));
  } else {
    tr =
        std::make_unique<Trainer>(model_config(o, n_vocab, vocab.bos, vocab.eos, sink), o.opt, *be);
    fs::create_directories(o.out);
    write_file_atomic(log_path, "");
  }
  const ModelConfig& c = tr->config();
  std::fprintf(stderr,
               "model: %lld parameters, %d layers, dim %d, vocab %d; %zu train / %zu val "
               "tokens\n",
               static_cast<long long>(tr->params().size()), c.n_layers, c.dim, c.vocab_size,
               corpus.train_tokens(), corpus.val_tokens());

  std::ofstream log(log_path, std::ios::app);
  auto eval = [&](int64_t step) {
    json line = {{"step", step}};
    const bool has_val = corpus.val_tokens() >= size_t(o.ctx);
    if (has_val) line["val_loss"] = tr->val_loss(corpus, o.eval_samples);
    // Sink_k over samples through the analysis path (Stream + capture).
    SinkMetric sm(c.n_layers, c.n_heads, {o.sink_eps, o.sink_k, o.sink_k, false});
    const CachePolicy dense = CachePolicy::make("dense", 0, o.ctx);
    for (int i = 0; i < o.eval_samples; ++i) {
      std::vector<int> s =
          has_val ? corpus.val_sample(i, o.eval_samples) : corpus.train_sample(0, -1, i);
      if (sink >= 0) s.erase(s.begin());  // a Stream puts it back
      sm.add(capture_attention(tr->model(), *be, dense, s, o.ctx));
    }
    json sinks = json::array();
    for (int k = 1; k <= o.sink_k; ++k) sinks.push_back(sm.sink(k));
    line["sink"] = sinks;
    line["sink_eps"] = o.sink_eps;
    // The mean weight on the first token, and that of uniform attention.
    line["alpha1"] = sm.alpha_mean(1);
    line["alpha1_uniform"] = sm.alpha_uniform(1);
    log << line.dump() << "\n" << std::flush;
    return line;
  };

  Progress bar(o.opt.steps, "steps", o.progress);
  double last_loss = NAN;
  json last_eval;
  while (tr->step() < o.opt.steps) {
    const StepStats st = tr->train_step(corpus);
    last_loss = st.loss;
    if (st.step % o.log_every == 0 || st.step == o.opt.steps)
      log << json{{"step", st.step},
                  {"loss", st.loss},
                  {"lr", st.lr},
                  {"grad_norm", st.grad_norm},
                  {"tokens_per_s", st.tokens_per_s}}
                 .dump()
          << "\n"
          << std::flush;
    if (o.eval_every > 0 && (st.step % o.eval_every == 0 || st.step == o.opt.steps))
      last_eval = eval(st.step);
    if (o.save_every > 0 && st.step % o.save_every == 0 && st.step < o.opt.steps)
      tr->save(o.out, {vocab.file});
    bar.update(st.step);
  }
  bar.finish();
  const std::string dir = tr->save(o.out, {vocab.file});
  std::printf("%-12s %lld\n%-12s %.4f\n", "steps", static_cast<long long>(tr->step()), "train loss",
              last_loss);
  if (last_eval.contains("val_loss"))
    std::printf("%-12s %.4f\n", "val loss", last_eval["val_loss"].get<double>());
  if (last_eval.contains("sink"))
    std::printf("%-12s %.1f%%\n", "Sink_1", last_eval["sink"][0].get<double>());
  std::printf("%-12s %s\n%-12s %s\n", "checkpoint", dir.c_str(), "log", log_path.c_str());
}

}  // namespace

void add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Pre-train a small LM from scratch with the knobs of the attention-sink study");
  cmd->option_defaults()->always_capture_default();
  cmd->add_option("--config", o->config_file,
                  "JSON file of options (keys are the flag names without dashes); flags win");
  // Model.
  cmd->add_option("--dim", o->dim, "Hidden size")->group("Model")->check(at_least(1));
  cmd->add_option("--layers", o->layers, "Layers")->group("Model")->check(at_least(1));
  cmd->add_option("--heads", o->heads, "Attention heads")->group("Model")->check(at_least(1));
  cmd->add_option("--kv-heads", o->kv_heads, "KV heads (0: as many as heads)")
      ->group("Model")
      ->check(at_least(0));
  cmd->add_option("--hidden", o->hidden, "FFN size (0: 8/3 dim for swiglu, else 4 dim)")
      ->group("Model")
      ->check(at_least(0));
  cmd->add_option("--ctx", o->ctx, "Training context (tokens per sample)")
      ->group("Model")
      ->check(at_least(2));
  cmd->add_option("--attn-op", o->attn_op,
                  "softmax, softmax1, sigmoid, sigmoid_norm, elu1 or elu1_norm")
      ->group("Model");
  cmd->add_flag("--logn-bias", o->logn_bias, "Sigmoid ops: subtract log(keys seen)")
      ->group("Model");
  cmd->add_flag("--attn-gate", o->attn_gate, "Sigmoid output gate on attention")->group("Model");
  cmd->add_flag("--kv-bias", o->kv_bias, "A learnable key/value slot")->group("Model");
  cmd->add_flag("--sink-logits", o->sink_logits, "Per-head learned sink logits (gpt-oss)")
      ->group("Model");
  cmd->add_flag("--sink-token", o->sink_token, "Prepend a learnable sink token to every sample")
      ->group("Model");
  cmd->add_option("--position", o->position, "rope, alibi, learned or none")->group("Model");
  cmd->add_option("--rope-theta", o->rope_theta, "RoPE base")->group("Model")->check(positive());
  cmd->add_option("--norm", o->norm, "rmsnorm or layernorm")->group("Model");
  cmd->add_flag("--post-norm", o->post_norm, "Post-norm instead of pre-norm")->group("Model");
  cmd->add_option("--ffn", o->ffn, "swiglu (SiLU-gated), or ungated relu, gelu, gelu_tanh or silu")
      ->group("Model");
  cmd->add_option("--mask", o->mask, "causal, prefix or sliding")->group("Model");
  cmd->add_option("--prefix", o->prefix, "Prefix length for --mask prefix")
      ->group("Model")
      ->check(at_least(1));
  cmd->add_option("--window", o->window,
                  "--mask sliding: W past tokens each token attends besides itself (as the cache "
                  "policies' --window; config.json stores the span W + 1)")
      ->group("Model")
      ->check(at_least(0));
  // Data.
  cmd->add_option("--text", o->texts, "Training text file(s)")->group("Data");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "byte, or a tokenizer.model / tokenizer.json / llama2.c .bin file")
      ->group("Data");
  cmd->add_flag("--no-bos", o->no_bos, "No BOS at the start of each sample")->group("Data");
  cmd->add_option("--val-fraction", o->val_fraction, "Held-out share of the tokens")->group("Data");
  cmd->add_option("--data-mode", o->data_mode, "natural, random or fixed")->group("Data");
  cmd->add_option("--random-positions", o->random_positions,
                  "Positions that get a uniform random token (--data-mode random)")
      ->group("Data");
  cmd->add_option("--fixed-token", o->fixed_token, "Token id for --data-mode fixed")
      ->group("Data")
      ->check(at_least(0));
  cmd->add_option("--fixed-position", o->fixed_position, "Position for --data-mode fixed")
      ->group("Data")
      ->check(at_least(0));
  // Optimisation.
  OptimOptions& p = o->opt;
  cmd->add_option("--lr", p.lr, "Peak learning rate")->group("Optimisation");
  cmd->add_option("--min-lr-ratio", p.min_lr_ratio, "Cosine floor, as a share of --lr")
      ->group("Optimisation");
  cmd->add_option("--schedule", o->schedule, "cosine or constant (after warmup)")
      ->group("Optimisation");
  cmd->add_option("--warmup", p.warmup, "Linear warmup steps")
      ->group("Optimisation")
      ->check(at_least(0));
  cmd->add_option("--beta1", p.beta1, "AdamW beta1")->group("Optimisation");
  cmd->add_option("--beta2", p.beta2, "AdamW beta2")->group("Optimisation");
  cmd->add_option("--adam-eps", p.eps, "AdamW epsilon")->group("Optimisation");
  cmd->add_option("--weight-decay", p.weight_decay, "Decoupled weight decay (matrices)")
      ->group("Optimisation");
  cmd->add_option("--clip", p.clip, "Global gradient-norm clip (0: off)")->group("Optimisation");
  cmd->add_option("--batch", p.batch, "Samples per micro-batch")
      ->group("Optimisation")
      ->check(at_least(1));
  cmd->add_option("--accum", p.accum, "Micro-batches per step")
      ->group("Optimisation")
      ->check(at_least(1));
  cmd->add_option("--steps", p.steps, "Optimizer steps")->group("Optimisation")->check(at_least(1));
  cmd->add_option("--seed", p.seed, "Seed of the initialisation and the data order")
      ->group("Optimisation")
      ->check(at_least(0));
  // Output.
  cmd->add_option("-o,--out", o->out, "Output directory (checkpoints, log.jsonl)")->group("Output");
  cmd->add_flag("--resume", o->resume, "Continue from OUT/latest when it exists")->group("Output");
  cmd->add_option("--save-every", o->save_every, "Checkpoint every N steps (0: at the end)")
      ->group("Output")
      ->check(at_least(0));
  cmd->add_option("--log-every", o->log_every, "Log the training loss every N steps")
      ->group("Output")
      ->check(at_least(1));
  cmd->add_option("--eval-every", o->eval_every,
                  "Validation loss and Sink_k every N steps (0: never)")
      ->group("Output")
      ->check(at_least(0));
  cmd->add_option("--eval-samples", o->eval_samples, "Samples for validation and Sink_k")
      ->group("Output")
      ->check(at_least(1));
  cmd->add_option("--sink-eps", o->sink_eps, "Sink threshold epsilon")->group("Output");
  cmd->add_option("--sink-k", o->sink_k, "Log Sink_1..Sink_k")->group("Output")->check(at_least(1));
  add_threads(cmd, o->threads, "Threads (0: all cores)")->group("Output");
  cmd->add_flag("!--no-progress", o->progress, "No progress bar")->group("Output");
  cmd->callback([o, cmd] { run(*o, cmd); });
}

}  // namespace ss::cli
