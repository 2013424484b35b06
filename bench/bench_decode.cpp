// sinkstream_bench: end-to-end figures, each with the ratio that matters,
// measured in the same run (timings on shared VMs are noisy; ratios less so).
//   bandwidth  STREAM triad, all threads, on 4 KiB and on 2 MiB (THP) pages
//   decode     tokens/s and weight-read GB/s of Stream::feed(1 token), against the triad
//   recompute  per-token latency of sinks against recompute at several cache sizes
//   ppl        streaming-perplexity throughput on real text, chunked as the CLI does
//   train      training tokens/s and FLOP/s against the sgemm peak, on 1 and all threads
// Every figure is the best of a few repetitions.
#include <cblas.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "bench_quant.h"
#include "bench_util.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "model/params.h"
#include "model/random_init.h"
#include "model/stream.h"
#include "ops/gemm.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer.h"

using namespace ss;
using ssbench::now_s;

namespace {

constexpr double kInf = std::numeric_limits<double>::max();

struct Options {
  bool quick = false;
  int threads = 0;
  std::vector<std::string> sections;
  std::string model = SINKSTREAM_DEFAULT_MODEL;
  std::string text = TEST_DATA "/text/tinystories.txt";
  bool wants(const std::string& s) const {
    return sections.empty() || std::find(sections.begin(), sections.end(), s) != sections.end();
  }
};

ModelConfig llama_shape(int dim, int hidden, int layers, int heads, int ctx) {
  ModelConfig c;
  c.dim = dim;
  c.hidden_dim = hidden;
  c.n_layers = layers;
  c.n_heads = c.n_kv_heads = heads;
  c.head_dim = dim / heads;
  c.vocab_size = 32000;
  c.max_seq_len = ctx;
  return c;
}
const ModelConfig k15M = llama_shape(288, 768, 6, 6, 256);
const ModelConfig k110M = llama_shape(768, 2048, 12, 12, 1024);

// Pythia-160M: LayerNorm, parallel residual, partial rotary, GELU MLP, untied.
ModelConfig pythia_160m() {
  ModelConfig c = llama_shape(768, 3072, 12, 12, 2048);
  c.family = "gpt_neox";
  c.vocab_size = 50304;
  c.norm = NormKind::LayerNorm;
  c.act = Activation::GELU;
  c.gated_ffn = false;
  c.parallel_residual = true;
  c.rotary_dim = 16;
  c.tied_embeddings = false;
  return c;
}

std::vector<int> random_tokens(int n, int vocab) {
  std::mt19937 rng(1);
  std::vector<int> t(n);
  for (int& x : t) x = int(rng() % vocab);
  return t;
}

// Bytes of weights one decode step reads: every tensor once (a tied embedding
// is read whole as the LM head); an untied embedding only for one row.
int64_t weight_bytes(const Model& m) {
  int64_t n = 0;
  for (const auto& [name, t] : m.checkpoint().tensors.tensors)
    n += name == "model.embed_tokens.weight" && !m.config().tied_embeddings
             ? int64_t(t.nbytes()) / t.rows()
             : int64_t(t.nbytes());
  return n;
}

// The checkpoint with its tensors copied to memory on 2 MiB pages.
Checkpoint on_huge_pages(Checkpoint ck) {
  size_t total = 0;
  for (const auto& [name, t] : ck.tensors.tensors) total += (t.nbytes() + 63) / 64 * 64;
  std::shared_ptr<void> buf = ssbench::alloc_pages(total, true);
  char* at = static_cast<char*>(buf.get());
  for (auto& [name, t] : ck.tensors.tensors) {
    std::memcpy(at, t.data, t.nbytes());
    t.data = at;
    at += (t.nbytes() + 63) / 64 * 64;
  }
  ck.tensors.owners = {buf};
  return ck;
}

// Seconds per Stream::feed of one token (logits of it), after a short warmup.
double decode_seconds(std::shared_ptr<const Model> m, int steps, int reps) {
  const ModelConfig& c = m->config();
  auto be = make_cpu_backend();
  Stream s(m, *be, CachePolicy::make("sinks", 4, c.max_seq_len - 5));  // holds ctx
  std::vector<float> logits(c.vocab_size);
  const std::vector<int> toks = random_tokens(16 + steps * reps, c.vocab_size);
  s.feed(toks.data(), 16, logits.data(), false);
  double best = kInf;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    for (int i = 0; i < steps; ++i) s.feed(&toks[16 + r * steps + i], 1, logits.data(), false);
    best = std::min(best, (now_s() - t0) / steps);
  }
  return best;
}

// Weights as the engine allocates them get 4 KiB pages; the 110M shape runs
// on huge pages too, against the triad on the same pages.
void decode_section(const Options& o, double triad_4k, double triad_2m) {
  std::printf("\n== decode: Stream::feed of 1 token, sinks 4+(ctx-5) past, threads=%d ==\n",
              omp_get_max_threads());
  std::printf("%-11s %-5s %-5s %9s %9s %8s %7s\n", "model", "dtype", "pages", "weights", "tok/s",
              "GB/s", "%triad");
  auto row = [&](const char* name, Checkpoint ck, DType t, bool huge, int steps) {
    auto m = std::make_shared<const Model>(huge ? on_huge_pages(std::move(ck)) : std::move(ck));
    const double sec = decode_seconds(m, steps, o.quick ? 2 : 4);
    const double gbs = weight_bytes(*m) / sec / 1e9;
    std::printf("%-11s %-5s %-5s %5.1f MiB %9.1f %8.2f %6.1f%%\n", name, dtype_name(t),
                huge ? "2M" : "4K", weight_bytes(*m) / 1048576.0, 1 / sec, gbs,
                100 * gbs / (huge ? triad_2m : triad_4k));
    std::fflush(stdout);
  };
  row("stories260K", load_checkpoint(o.model), DType::F32, false, o.quick ? 200 : 1000);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) {
    row("15M-shape", random_llama(k15M, 1, t), t, false, o.quick ? 20 : 100);
    for (bool huge : {false, true})
      row("110M-shape", random_llama(k110M, 1, t), t, huge, o.quick ? 5 : 20);
  }
  for (DType t : {DType::F32, DType::F16, DType::Q8_0})
    row("pythia-160M", random_llama(pythia_160m(), 1, t), t, false, o.quick ? 5 : 20);
}

// Per-token latency once a cache of n tokens is full (sinks 4 + n-5 past +
// the current one). A recompute step re-encodes the last n-1 past tokens and
// the current one into a cleared cache: exactly Model::forward of n tokens,
// timed directly because filling a recompute Stream costs W such steps.
void recompute_section(const Options& o) {
  std::printf("\n== sinks vs recompute: per-token latency, 15M-shape f32, full cache ==\n");
  std::printf("%6s %12s %14s %9s\n", "cache", "sinks ms", "recompute ms", "speedup");
  auto m = std::make_shared<const Model>(random_llama(k15M, 1));
  const ModelConfig& c = m->config();
  auto be = make_cpu_backend();
  std::vector<float> logits(c.vocab_size);
  for (int n : {256, 512, 1024, 2048}) {
    const std::vector<int> toks = random_tokens(n + 64, c.vocab_size);
    Stream s(m, *be, CachePolicy::make("sinks", 4, n - 5));
    s.feed(toks.data(), n, nullptr, false);
    double sinks = kInf;
    for (int r = 0; r < 3; ++r) {
      const double t0 = now_s();
      for (int i = 0; i < 16; ++i) s.feed(&toks[n + r * 16 + i], 1, logits.data(), false);
      sinks = std::min(sinks, (now_s() - t0) / 16);
    }
    KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 0, n, false);
    Workspace ws(c, n);
    double recompute = kInf;
    for (int r = 0; r < (o.quick ? 1 : 3); ++r) {
      const double t0 = now_s();
      cache.clear();
      m->forward(*be, ws, cache, toks.data() + r + 1, n, logits.data(), false);
      recompute = std::min(recompute, now_s() - t0);
    }
    std::printf("%6d %12.3f %14.1f %8.1fx\n", n, 1e3 * sinks, 1e3 * recompute, recompute / sinks);
    std::fflush(stdout);
  }
}

// -log softmax(logits)[target], as the ppl CLI computes it.
double nll(const float* logits, int n, int target) {
  const float mx = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - mx);
  return std::log(sum) + mx - logits[target];
}

void ppl_section(const Options& o) {
  auto m = Model::load(o.model);
  const int V = m->config().vocab_size, chunk = 256;
  std::ifstream f(o.text);
  check(bool(f), "cannot open ", o.text);
  std::stringstream text;
  text << f.rdbuf();
  std::vector<int> ids = find_tokenizer(o.model)->encode(text.str(), true);
  const int64_t n = std::min<int64_t>(ids.size() - 1, o.quick ? 4096 : 16384);
  std::printf("\n== ppl: %lld tokens of %s, stories260K, sinks 4+124 past, chunks of %d ==\n",
              (long long)n, o.text.c_str(), chunk);
  auto be = make_cpu_backend();
  Stream s(m, *be, CachePolicy::make("sinks", 4, 124));
  std::vector<float> logits(size_t(chunk) * V);
  double best = kInf, total = 0;
  for (int r = 0; r < 3; ++r) {
    s.reset();
    total = 0;
    const double t0 = now_s();
    for (int64_t i = 0; i < n; i += chunk) {
      const int T = int(std::min<int64_t>(chunk, n - i));
      s.feed(ids.data() + i, T, logits.data(), true);
      for (int j = 0; j < T; ++j) total += nll(logits.data() + size_t(j) * V, V, ids[i + j + 1]);
    }
    best = std::min(best, now_s() - t0);
  }
  std::printf("%10s %10s %8s\n", "tok/s", "us/tok", "ppl");
  std::printf("%10.0f %10.2f %8.3f\n", n / best, 1e6 * best / n, std::exp(total / n));
}

void set_threads(int n) {
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

// Best FLOP/s of a plain n^3 GEMM on the current threads: ours (ops/gemm.h,
// what the backend runs), or the linked OpenBLAS's cblas_sgemm.
double sgemm_flops(int n, int reps, bool ours) {
  std::vector<float> a(size_t(n) * n, 0.5f), b(a), c(a.size());
  double best = kInf;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    if (ours)
      sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                  n, 0.0f, c.data(), n);
    best = std::min(best, now_s() - t0);
  }
  return 2.0 * n * n * n / best;
}

// Trainer::train_step on a 4-layer, 256-dim byte-level model with a context
// of 256, batch 8, random bytes. FLOPs per step: 6 per matmul weight per
// token (forward, input and weight gradients) plus causal attention, whose
// score and value products cost 2 * head_dim * (i + 1) per head for query i,
// times 3 with the backward pass.
void train_section(const Options& o) {
  ModelConfig c;
  c.family = "sinkstream";
  c.dim = 256, c.n_layers = 4, c.n_heads = c.n_kv_heads = 4, c.head_dim = 64;
  c.hidden_dim = 688, c.vocab_size = 259, c.max_seq_len = 256;
  OptimOptions opt;
  opt.batch = 8;
  opt.steps = 1000;
  std::vector<int> bytes(size_t(1) << 20);
  std::mt19937 rng(1);
  for (int& b : bytes) b = int(rng() % 256);
  const Corpus corpus(std::move(bytes), 0.0, c.max_seq_len, {});
  const double T = c.max_seq_len, tokens = opt.batch * T;
  const double matmul_params =
      double(c.n_layers) * (4.0 * c.dim * c.dim + 3.0 * c.dim * c.hidden_dim) +
      double(c.dim) * c.vocab_size;
  const double attention = 3.0 * c.n_layers * c.n_heads * 2.0 * 2.0 * c.head_dim * T * (T + 1) / 2;
  const double flop = 6.0 * matmul_params * tokens + opt.batch * attention;
  int64_t params = 0;
  for (const ParamSpec& p : model_params(c, false)) params += p.numel();
  std::printf(
      "\n== train: 4 layers, dim 256, ctx 256, SwiGLU 688, byte vocab, batch 8 (%lld "
      "parameters, %.2f GFLOP a step) ==\n",
      static_cast<long long>(params), flop / 1e9);
  std::printf("%8s %12s %14s %10s %12s %10s %10s\n", "threads", "sgemm GF/s", "OpenBLAS GF/s",
              "tok/s", "train GF/s", "%sgemm", "ms/step");
  double tok_s_1 = 0;
  const int max_threads = o.threads > 0 ? o.threads : omp_get_num_procs();
  const std::vector<int> counts =
      max_threads > 1 ? std::vector<int>{1, max_threads} : std::vector<int>{1};
  for (int threads : counts) {
    set_threads(threads);
    const double peak = sgemm_flops(1024, o.quick ? 3 : 5, true);
    const double openblas = sgemm_flops(1024, o.quick ? 3 : 5, false);
    auto be = make_cpu_backend();
    Trainer tr(c, opt, *be);
    tr.train_step(corpus);  // warm-up: first touches of the workspace
    double best = kInf;
    for (int r = 0; r < (o.quick ? 3 : 6); ++r) {
      const double t0 = now_s();
      tr.train_step(corpus);
      best = std::min(best, now_s() - t0);
    }
    const double tok_s = tokens / best;
    if (threads == 1) tok_s_1 = tok_s;
    std::printf("%8d %12.1f %14.1f %10.0f %12.1f %9.1f%% %10.1f\n", threads, peak / 1e9,
                openblas / 1e9, tok_s, flop / best / 1e9, 100 * flop / best / peak, 1e3 * best);
    if (threads > 1) std::printf("%d threads over 1: %.2fx\n", threads, tok_s / tok_s_1);
  }
  set_threads(max_threads);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  ssbench::QuantOptions qo;
  qo.llama_bench = LLAMA_BENCH;
  qo.models_dir = std::getenv("SINKSTREAM_MODELS") ? std::getenv("SINKSTREAM_MODELS") : MODELS_DIR;
  CLI::App app("sinkstream end-to-end benchmarks");
  app.add_flag("--quick", o.quick, "Fewer steps and repetitions (under a minute)");
  app.add_option("--only", o.sections, "Run only these sections")
      ->check(CLI::IsMember({"bandwidth", "decode", "recompute", "ppl", "train", "quant"}));
  app.add_option("-t,--threads", o.threads, "Threads (default: all cores)");
  app.add_option("--model", o.model, "stories260K checkpoint")->capture_default_str();
  app.add_option("--text", o.text, "Text for the ppl section")->capture_default_str();
  app.add_option("--llama-bench", qo.llama_bench, "llama-bench for the quant section")
      ->capture_default_str();
  app.add_option("--models", qo.models_dir, "Folder of the real GGUFs (quant section)")
      ->capture_default_str();
  app.add_option("--llama-reps", qo.reps, "llama-bench -r (quant section)")->capture_default_str();
  app.add_option("--chunk", qo.chunk, "Our prefill's chunk in tokens (quant section)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const int threads = o.threads > 0 ? o.threads : omp_get_num_procs();
  set_threads(threads);
  std::printf("SIMD target %s (of %s; SINKSTREAM_SIMD=name picks a lower one), OpenBLAS core %s\n",
              simd_target(), simd_targets().c_str(), openblas_get_corename());

  double triad_4k = 0, triad_2m = 0;
  // quant runs only when named: it takes minutes, llama-bench included.
  const bool quant = std::find(o.sections.begin(), o.sections.end(), "quant") != o.sections.end();
  if (o.wants("bandwidth") || o.wants("decode") || quant) {
    const int64_t n = int64_t(1) << (o.quick ? 24 : 25);
    triad_4k = ssbench::triad_gbs(n, o.quick ? 10 : 20, false);
    triad_2m = ssbench::triad_gbs(n, o.quick ? 10 : 20, true);
    std::printf("== bandwidth: STREAM triad, threads=%d, 3 arrays of %lld MiB ==\n", threads,
                (long long)(n * 8 >> 20));
    std::printf("4 KiB pages %.2f GB/s   2 MiB pages %.2f GB/s\n", triad_4k, triad_2m);
  }
  try {
    if (o.wants("decode")) decode_section(o, triad_4k, triad_2m);
    if (o.wants("recompute")) recompute_section(o);
    if (o.wants("ppl")) ppl_section(o);
    if (o.wants("train")) train_section(o);
    if (quant) {
      qo.quick = o.quick;
      qo.threads = threads;
      ssbench::quant_section(qo, triad_4k);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
