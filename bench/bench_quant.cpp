// The quant section of sinkstream_bench: for every weight type in the 110M
// shape and for the real GGUFs (SmolLM2-135M Q4_1, Gemma 3 270M Q4_K_M),
// decode tokens/s (one token at a time) and prefill tokens/s (a 512-token
// prompt), the GB/s of weights one decode token reads against the in-process
// triad, and llama.cpp's llama-bench on the very same GGUF files in the same
// run. The synthetic models are written as GGUF: the types sinkstream writes
// through save_gguf, the others (the K types, IQ4_NL) by rewriting a Q8_0
// file's 2-D tensors as random blocks with sane f16 scales. Before anything
// else it measures peak RSS while prefilling 512 tokens of SmolLM2.
#include "bench_quant.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/tensor.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "io/gguf_model.h"
#include "model/random_init.h"
#include "model/stream.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace fs = std::filesystem;
using namespace ss;

namespace ssbench {
namespace {

constexpr double kInf = std::numeric_limits<double>::max();
constexpr int kPrompt = 512;  // llama-bench -p
constexpr int kGen = 128;     // llama-bench -n

ModelConfig shape_110m() {
  ModelConfig c;
  c.dim = 768;
  c.hidden_dim = 2048;
  c.n_layers = 12;
  c.n_heads = c.n_kv_heads = 12;
  c.head_dim = 64;
  c.vocab_size = 32000;
  c.max_seq_len = 1024;
  return c;
}

std::vector<int> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> t(n);
  for (int& x : t) x = 3 + int(rng() % uint32_t(vocab - 3));
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

// A SentencePiece-style vocabulary of n pieces (unk, bos, eos, the 256 byte
// pieces, then filler), so that llama.cpp loads the synthetic GGUFs.
Llama2cTokenizer fake_vocab(int n) {
  Llama2cTokenizer::Vocab v;
  v.pieces = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) {
    char p[8];
    std::snprintf(p, sizeof p, "<0x%02X>", b);
    v.pieces.emplace_back(p);
  }
  while (int(v.pieces.size()) < n) v.pieces.push_back("t" + std::to_string(v.pieces.size()));
  v.scores.resize(v.pieces.size());
  for (size_t i = 0; i < v.scores.size(); ++i) v.scores[i] = -float(i);
  return Llama2cTokenizer(std::move(v), "synthetic");
}

// Where the f16 scales of a block live, and the largest |scale * quant|
// product its integers reach (so a value is at most amp when the f16 scales
// are amp / product): the layouts of ggml's block_q2_K ... block_iq4_nl.
struct BlockScales {
  DType type;
  std::vector<int> f16_at;
  double product;
};
const BlockScales* scales_of(DType t) {
  static const std::vector<BlockScales> table = {
      {DType::Q2_K, {80, 82}, 15.0 * 3},  // scales[16], qs[64], d, dmin
      {DType::Q3_K, {108}, 32.0 * 4},     // hmask[32], qs[64], scales[12], d
      {DType::Q4_K, {0, 2}, 63.0 * 15},   // d, dmin, scales[12], qs[128]
      {DType::Q5_K, {0, 2}, 63.0 * 31},   // d, dmin, scales[12], qh[32], qs[128]
      {DType::Q6_K, {208}, 128.0 * 32},   // ql[128], qh[64], scales[16], d
      {DType::IQ4_NL, {0}, 127.0},        // d, qs[16]
  };
  for (const BlockScales& b : table)
    if (b.type == t) return &b;
  return nullptr;
}

// n values of type t as random blocks: random bytes, then every f16 scale set
// to amp / product times a random factor in [0.5, 1).
std::vector<uint8_t> random_blocks(DType t, int64_t n, std::mt19937_64& rng, float amp) {
  const DTypeTraits& tr = traits(t);
  const BlockScales* bs = scales_of(t);
  check(bs != nullptr, "bench: no block layout for ", tr.name);
  std::vector<uint8_t> out(tr.bytes(n));
  for (size_t i = 0; i + 8 <= out.size(); i += 8) {
    const uint64_t r = rng();
    std::memcpy(&out[i], &r, 8);
  }
  std::uniform_real_distribution<float> u(0.5f, 1.0f);
  for (size_t b = 0; b < out.size(); b += size_t(tr.block_bytes))
    for (int at : bs->f16_at) {
      const uint16_t h = f32_to_f16(float(amp / bs->product) * u(rng));
      std::memcpy(&out[b + size_t(at)], &h, 2);
    }
  return out;
}

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

// Rewrites the GGUF at from (written by save_gguf in Q8_0) into to, with every
// Q8_0 tensor whose rows are whole blocks of t replaced by random blocks of t.
void rewrite_as(const std::string& from, DType t, const std::string& to) {
  const GgufFile f = GgufFile::open(from);
  const std::vector<GgufTensorInfo>& infos = f.tensors();
  check(!infos.empty(), "bench: no tensors in ", from);
  // The tensor infos follow the metadata: find the first one by its name.
  std::vector<uint8_t> first;
  put(first, uint64_t(infos[0].name.size()));
  first.insert(first.end(), infos[0].name.begin(), infos[0].name.end());
  const uint8_t* begin = f.data() + 24;
  const uint8_t* end = f.data() + f.data_offset();
  const uint8_t* at = std::search(begin, end, first.begin(), first.end());
  check(at != end, "bench: tensor infos not found in ", from);

  const DTypeTraits& tr = traits(t);
  const uint64_t align = f.alignment();
  std::vector<uint8_t> head(f.data(), at);
  std::vector<std::vector<uint8_t>> data;
  std::mt19937_64 rng(uint64_t(tr.ggml) + 1);
  uint64_t offset = 0;
  for (const GgufTensorInfo& info : infos) {
    const uint8_t* src = f.data() + f.data_offset() + info.offset;
    const bool swap = info.type == traits(DType::Q8_0).ggml && info.dims[0] % tr.block == 0;
    if (swap) {
      const int64_t fan_in = info.dims[0];
      data.push_back(random_blocks(t, info.numel(), rng, 2.0f / std::sqrt(float(fan_in))));
    } else {
      data.emplace_back(src, src + *info.bytes);
    }
    put(head, uint64_t(info.name.size()));
    head.insert(head.end(), info.name.begin(), info.name.end());
    put(head, uint32_t(info.dims.size()));
    for (int64_t d : info.dims) put(head, uint64_t(d));
    put(head, swap ? tr.ggml : info.type);
    put(head, offset);
    offset += (data.back().size() + align - 1) / align * align;
  }
  head.resize((head.size() + align - 1) / align * align, 0);
  std::ofstream out(to, std::ios::binary);
  out.write(reinterpret_cast<const char*>(head.data()), std::streamsize(head.size()));
  static const char zeros[64] = {};
  for (const auto& d : data) {
    out.write(reinterpret_cast<const char*>(d.data()), std::streamsize(d.size()));
    out.write(zeros, std::streamsize((align - d.size() % align) % align));
  }
  check(bool(out.flush()), "bench: cannot write ", to);
}

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string run_command(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return {};
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p.get())) > 0;) out.append(buf, n);
  return out;
}

// The number after "key": at or after from; NaN when absent.
double json_number(const std::string& s, size_t from, const std::string& key, size_t* end) {
  const size_t k = s.find("\"" + key + "\":", from);
  if (k == std::string::npos) return std::nan("");
  const size_t v = k + key.size() + 3;
  *end = v;
  return std::strtod(s.c_str() + v, nullptr);
}

struct LlamaFigures {
  double tg = std::nan(""), pp = std::nan("");  // tokens/s
  bool ok() const { return !std::isnan(tg) || !std::isnan(pp); }
};

LlamaFigures llama_bench(const QuantOptions& o, const std::string& gguf) {
  const std::string cmd = quoted(o.llama_bench) + " -m " + quoted(gguf) + " -t " +
                          std::to_string(o.threads) + " -p " + std::to_string(kPrompt) + " -n " +
                          std::to_string(kGen) + " -r " + std::to_string(o.reps) +
                          " -o json 2>/dev/null";
  const std::string json = run_command(cmd);
  LlamaFigures r;
  for (size_t at = 0;;) {
    size_t e1 = 0, e2 = 0, e3 = 0;
    const double np = json_number(json, at, "n_prompt", &e1);
    if (std::isnan(np)) break;
    const double ng = json_number(json, e1, "n_gen", &e2);
    const double ts = json_number(json, e2, "avg_ts", &e3);
    if (std::isnan(ng) || std::isnan(ts)) break;
    (ng > 0 ? r.tg : r.pp) = ts;
    at = e3;
  }
  return r;
}

struct OurFigures {
  double tg = 0, pp = 0;  // tokens/s
  int64_t weights = 0;
};

// Decode: Stream::feed of one token (logits of it) after 16 warmup tokens,
// best of a few runs; prefill: a fresh 512-token prompt (logits of the last
// token) in chunks of --chunk (the Stream's default), best of a few.
OurFigures ours(const QuantOptions& o, const std::string& gguf) {
  auto m = Model::load(gguf);
  const int V = m->config().vocab_size;
  auto be = make_cpu_backend();
  Stream s(m, *be, CachePolicy::make("sinks", 4, 1019), o.chunk);
  std::vector<float> logits(static_cast<size_t>(V));
  const int steps = o.quick ? 16 : 64, reps = o.quick ? 2 : 3;
  const std::vector<int> toks = random_tokens(16 + steps * reps, V, 1);
  OurFigures f;
  f.weights = weight_bytes(*m);
  s.feed(toks.data(), 16, logits.data(), false);
  double best = kInf;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    for (int i = 0; i < steps; ++i) s.feed(&toks[16 + r * steps + i], 1, logits.data(), false);
    best = std::min(best, (now_s() - t0) / steps);
  }
  f.tg = 1 / best;
  const std::vector<int> prompt = random_tokens(kPrompt, V, 2);
  best = kInf;
  for (int r = 0; r < (o.quick ? 1 : 3); ++r) {
    s.reset();
    const double t0 = now_s();
    s.feed(prompt.data(), kPrompt, logits.data(), false);
    best = std::min(best, now_s() - t0);
  }
  f.pp = kPrompt / best;
  return f;
}

// Peak RSS while prefilling 512 tokens, against file + KV cache + 150 MB.
// The kernel's peak (VmHWM) is reset first through /proc/self/clear_refs, so
// what ran before (the triad, other sections) does not count.
// The KV cache a stream of n tokens needs under dense and under sinks
// (4 + 252), split into the local layers' own windows (fixed) and the global
// layers' share: for Gemma 3 only 3 of 18 layers grow with the stream.
void kv_rows(const std::string& gguf) {
  const ModelConfig c = load_checkpoint(gguf).config;
  std::printf("\nKV cache (f32) of %s: %s\n", fs::path(gguf).filename().c_str(),
              c.sliding_window > 0 ? "local layers hold their own window under every policy"
                                   : "no local layers");
  std::printf("%8s %-14s %12s %12s %12s %14s\n", "stream", "policy", "local MiB", "global MiB",
              "total MiB", "bytes/token");
  const double mib = 1048576.0;
  for (int n : {512, 2048, 8192, 32768})
    for (const CachePolicy& p :
         {CachePolicy::make("dense", 0, n), CachePolicy::make("sinks", 4, 252)}) {
      const KvCache cache = make_cache(c, p);
      const double local = double(local_cache_bytes(c, cache)), total = double(cache.bytes());
      std::printf("%8d %-14s %12.2f %12.2f %12.2f %14.0f\n", n, p.describe().c_str(), local / mib,
                  (total - local) / mib, total / mib, total / n);
    }
}

void rss_row(const std::string& gguf) {
  bool reset = false;
  {
    std::ofstream cr("/proc/self/clear_refs");
    reset = bool(cr << "5" << std::flush);
  }
  const int64_t before = current_rss_bytes();
  auto m = Model::load(gguf);
  auto be = make_cpu_backend();
  Stream s(m, *be, CachePolicy::make("sinks", 4, kPrompt - 1));  // holds all 512
  const std::vector<int> prompt = random_tokens(kPrompt, m->config().vocab_size, 3);
  std::vector<float> logits(static_cast<size_t>(m->config().vocab_size));
  s.feed(prompt.data(), kPrompt, logits.data(), false);
  const int64_t peak = peak_rss_bytes();
  const double mib = 1048576.0, file = double(fs::file_size(gguf)), kv = double(s.cache().bytes());
  const double goal = file + kv + 150e6;
  std::printf(
      "peak RSS prefilling %d tokens of %s: %.1f MiB (%.1f MiB before loading%s)\n"
      "  goal: file %.1f MiB + KV cache %.1f MiB + 150 MB = %.1f MiB: %s (%.1f MiB to spare)\n",
      kPrompt, fs::path(gguf).filename().c_str(), peak / mib, before / mib,
      reset ? "" : "; the peak counts from process start", file / mib, kv / mib, goal / mib,
      peak <= goal ? "holds" : "MISSED", (goal - peak) / mib);
  std::fflush(stdout);
}

}  // namespace

void quant_section(const QuantOptions& o, double triad) {
  const bool have_llama = !o.llama_bench.empty() && access(o.llama_bench.c_str(), X_OK) == 0;
  std::printf(
      "\n== quant: decode and prefill (%d-token prompt, our chunks of %d), threads=%d, SIMD target "
      "%s ==\n",
      kPrompt, o.chunk, o.threads, simd_target());
  if (have_llama) {
    std::string version = run_command(quoted(o.llama_bench) + " --version 2>&1");
    version = version.substr(0, version.find('\n'));
    std::printf("llama.cpp: %s (%s), -t %d -p %d -n %d -r %d\n", o.llama_bench.c_str(),
                version.c_str(), o.threads, kPrompt, kGen, o.reps);
  } else {
    std::printf(
        "llama.cpp: no llama-bench at '%s' (scripts/build-llamacpp.sh, or --llama-bench "
        "PATH): our figures alone\n",
        o.llama_bench.c_str());
  }
  const std::string smol = o.models_dir + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  const std::string gemma = o.models_dir + "/gemma-3-270m-q4_k_m.gguf";
  if (fs::exists(smol)) {
    try {
      rss_row(smol);
    } catch (const Error& e) {
      std::printf("peak RSS: %s\n", e.what());
    }
  } else {
    std::printf("peak RSS: no %s (scripts/fetch-models.sh)\n", smol.c_str());
  }

  std::printf("%-11s %-6s %9s | %8s %7s %6s %8s | %8s %7s %6s %8s | %6s %6s\n", "model", "type",
              "weights", "tg tok/s", "GB/s", "%triad", "pp tok/s", "llama tg", "GB/s", "%triad",
              "llama pp", "tg x", "pp x");
  auto row = [&](const std::string& name, const std::string& type, const std::string& gguf) {
    std::string err;
    OurFigures f;
    try {
      f = ours(o, gguf);
    } catch (const Error& e) {
      err = e.what();
    }
    const LlamaFigures l = have_llama ? llama_bench(o, gguf) : LlamaFigures{};
    const double bytes = f.weights > 0 ? double(f.weights) : double(fs::file_size(gguf));
    std::printf("%-11s %-6s %5.1f MiB | ", name.c_str(), type.c_str(), bytes / 1048576.0);
    if (err.empty())
      std::printf("%8.1f %7.2f %5.1f%% %8.1f | ", f.tg, bytes * f.tg / 1e9,
                  100 * bytes * f.tg / 1e9 / triad, f.pp);
    else
      std::printf("%8s %7s %6s %8s | ", "-", "-", "-", "-");
    if (l.ok())
      std::printf("%8.1f %7.2f %5.1f%% %8.1f | ", l.tg, bytes * l.tg / 1e9,
                  100 * bytes * l.tg / 1e9 / triad, l.pp);
    else
      std::printf("%8s %7s %6s %8s | ", "-", "-", "-", "-");
    if (err.empty() && l.ok())
      std::printf("%5.2fx %5.2fx\n", f.tg / l.tg, f.pp / l.pp);
    else
      std::printf("%6s %6s\n", "-", "-");
    if (!err.empty()) std::printf("  (ours: %s)\n", err.c_str());
    if (have_llama && !l.ok()) std::printf("  (llama-bench gave no figures on %s)\n", gguf.c_str());
    std::fflush(stdout);
  };

  for (const std::string& gguf : {smol, gemma}) {
    if (!fs::exists(gguf)) {
      std::printf("%s: not present (scripts/fetch-models.sh)\n", gguf.c_str());
      continue;
    }
    const bool is_smol = gguf == smol;
    row(is_smol ? "SmolLM2" : "Gemma3-270M", is_smol ? "q4_1" : "q4_k_m", gguf);
  }
  for (const std::string& gguf : {smol, gemma})
    if (fs::exists(gguf)) kv_rows(gguf);

  // Synthetic 110M-shape GGUFs, one at a time in a temporary folder.
  std::string tmpl = (fs::temp_directory_path() / "sinkstream-bench-XXXXXX").string();
  check(mkdtemp(tmpl.data()) != nullptr, "bench: cannot make a temporary folder");
  const fs::path dir = tmpl;
  const ModelConfig c = shape_110m();
  const Checkpoint base = random_llama(c, 1, DType::F32);
  const Llama2cTokenizer tok = fake_vocab(c.vocab_size);
  const std::string q8 = (dir / "base-q8_0.gguf").string();
  save_gguf(base, &tok, DType::Q8_0, q8);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K,
                  DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL}) {
    const std::string path = (dir / ("110m-" + std::string(dtype_name(t)) + ".gguf")).string();
    try {
      if (t == DType::Q8_0)
        fs::copy_file(q8, path, fs::copy_options::overwrite_existing);
      else if (traits(t).quantize)
        save_gguf(base, &tok, t, path);
      else
        rewrite_as(q8, t, path);
      row("110M-shape", dtype_name(t), path);
    } catch (const std::exception& e) {
      std::printf("110M-shape %-6s %s\n", dtype_name(t), e.what());
    }
    fs::remove(path);
  }
  fs::remove_all(dir);
  std::printf(
      "tg x, pp x: ours over llama.cpp (goal: decode >= 1.0x, aiming for 1.25x; prefill "
      ">= 1.0x). GB/s: weights read per decode token; %%triad against %.2f GB/s\n",
      triad);
}

}  // namespace ssbench
