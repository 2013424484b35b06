#!/usr/bin/env python3
"""Independent-oracle dequantization data for issue 10, made with gguf-py.

gguf-py (PyPI `gguf`, llama.cpp's own Python GGUF reader/writer) carries numpy
dequantizers for every ggml type: gguf.quants.dequantize(data, qtype). This
script uses only them, never sinkstream's code, and writes two files:

  tests/reference/dequant_digests.json
      {"<model file name>": {"<tensor name>": {"type": "Q4_1",
                                               "dims": [ne0, ne1, ...],
                                               "sha256": "<hex>"}}}
      for every tensor of models/cache/SmolLM2-135M-Instruct.Q4_1.gguf and
      models/cache/gemma-3-270m-q4_k_m.gguf, F32 tensors included. dims are in
      GGUF order (ne0 first, the row length). sha256 is over the dequantized
      values as little-endian float32, in file order (ne0 varies fastest,
      i.e. row after row, exactly as the tensor's blocks lie in the file).

  tests/reference/quant_vectors.json
      [{"type": "Q4_0", "rows": 2, "cols": 512,
        "blocks_hex": "<raw bytes of the 2 rows, row 0 first>",
        "values_f32_hex": "<gguf-py's dequantization, little-endian float32>"},
       ...]
      for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL.
      Every byte is random (numpy.random.default_rng(SEED)), except the f16
      scale/min fields, which are overwritten with finite f16 values whose
      magnitude is log-uniform in [1e-3, 1] and whose sign is random. So no
      NaN or Inf appears, and negative d / dmin are exercised too (the formats
      store them as plain f16, nothing forbids a sign).

Where the f16 fields sit in each block (byte offsets; gguf-py quants.py and
ggml-common.h agree):
  Q4_0   18 B / 32:  d[0:2], qs[2:18]
  Q4_1   20 B / 32:  d[0:2], m[2:4], qs[4:20]
  Q5_0   22 B / 32:  d[0:2], qh[2:6] (u32 LE), qs[6:22]
  Q5_1   24 B / 32:  d[0:2], m[2:4], qh[4:8], qs[8:24]
  Q8_0   34 B / 32:  d[0:2], qs[2:34] (int8)
  IQ4_NL 18 B / 32:  d[0:2], qs[2:18]
  Q2_K   84 B / 256: scales[0:16], qs[16:80], d[80:82], dmin[82:84]
  Q3_K  110 B / 256: hmask[0:32], qs[32:96], scales[96:108], d[108:110]
  Q4_K  144 B / 256: d[0:2], dmin[2:4], scales[4:16], qs[16:144]
  Q5_K  176 B / 256: d[0:2], dmin[2:4], scales[4:16], qh[16:48], qs[48:176]
  Q6_K  210 B / 256: ql[0:128], qh[128:192], scales[192:208] (int8), d[208:210]

The exact numpy float32 arithmetic gguf-py 0.19.0 performs, per element. Every
operation is a separate IEEE binary32 operation rounded to nearest even (numpy
never fuses a multiply and an add), f16 -> f32 is exact, and every small
integer -> f32 conversion is exact. So a C++ dequantizer that does the same
operations in the same order, compiled without FMA contraction
(-ffp-contract=off, or explicit separate operations), matches bit for bit.
  d, m, dmin  = f32(f16 field)
  Q4_0:   y = d * f32(q - 8)                       q = 4-bit nibble
  Q4_1:   y = (d * f32(q)) + m                     two roundings: mul, then add
  Q5_0:   y = d * f32(q - 16)                      q = nibble | (qh bit << 4)
  Q5_1:   y = (d * f32(q)) + m
  Q8_0:   y = f32(int8 q) * d
  IQ4_NL: y = d * f32(kvalues[q])                  kvalues = -127,-104,-83,-65,
                                                   -49,-35,-22,-10,1,13,25,38,
                                                   53,69,89,113
  Q2_K:   dl = d * f32(sc & 0xF)   (rounded)       16 sub-blocks of 16
          ml = dmin * f32(sc >> 4) (rounded)
          y  = (dl * f32(q)) - ml                  q = 2 bits
  Q3_K:   dl = d * f32(s - 32)     (rounded)       s = 6-bit scale, 16 sub-blocks
          y  = dl * f32(q)                         q = (2 low bits) - 4*(1 - hmask bit)
  Q4_K:   d1 = d * f32(sc)         (rounded)       8 sub-blocks of 32, 6-bit sc/m
          m1 = dmin * f32(m)       (rounded)
          y  = (d1 * f32(q)) - m1                  q = 4 bits
  Q5_K:   as Q4_K with q = nibble | (qh bit << 4)
  Q6_K:   d1 = d * f32(int8 scale) (rounded)       16 sub-blocks of 16
          y  = d1 * f32(q - 32)                    q = 4 low bits | 2 high bits << 4
ggml's own C reference (dequantize_row_*) does the same operations in the same
order, except that a C compiler may contract d*q+m / dl*q-ml into an FMA.

Run from the repository root (needs models/cache, see scripts/fetch-models.sh):
    python3 tests/reference/make_dequant_refs.py
    python3 tests/reference/make_dequant_refs.py --check-ggml build-ref/llama.cpp/build/bin/libggml-base.so
The second form writes nothing: it checks the committed vectors and every
tensor's digest against ggml's own C dequantizers (ggml_get_type_traits(type)
->to_float from a llama.cpp build, scripts/build-llamacpp.sh) and prints, per
type, whether they are identical or the largest ulp distance.
"""
import hashlib
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGUFReader, GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "reference")
MODELS = ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]
SEED = 20261201
ROWS_PER_CHUNK = 2048

# byte offsets of the f16 fields inside one block
F16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "IQ4_NL": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2],
    "Q6_K": [208],
}
TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K",
         "Q5_K", "Q6_K", "IQ4_NL"]


def tensor_digest(t):
    """sha256 of the dequantized tensor, little-endian f32, ne0 fastest."""
    qtype = T(t.tensor_type)
    data = t.data
    # GGUFReader gives quantized data as uint8 (ne_last, ..., row bytes) and
    # float data as (ne_last, ..., ne0); flatten to rows.
    rows = data.reshape((-1, data.shape[-1]))
    h = hashlib.sha256()
    n = 0
    for i in range(0, rows.shape[0], ROWS_PER_CHUNK):
        chunk = np.ascontiguousarray(rows[i:i + ROWS_PER_CHUNK])
        v = gguf.quants.dequantize(chunk, qtype)
        v = np.ascontiguousarray(v, dtype="<f4")
        n += v.size
        h.update(v.tobytes())
    ne = [int(x) for x in t.shape]  # GGUFReader: shape in GGUF order (ne0 first)
    assert n == int(np.prod(ne)), (t.name, n, ne)
    return qtype.name, ne, h.hexdigest()


def digests():
    out = {}
    for name in MODELS:
        path = os.path.join(ROOT, "models", "cache", name)
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run scripts/fetch-models.sh first")
        r = GGUFReader(path)
        d = {}
        for t in r.tensors:
            ty, ne, sha = tensor_digest(t)
            d[t.name] = {"type": ty, "dims": ne, "sha256": sha}
        out[name] = d
        print(f"{name}: {len(d)} tensors", file=sys.stderr)
    return out


def random_f16(rng, n):
    mag = 10.0 ** rng.uniform(-3.0, 0.0, n)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return (sign * mag).astype(np.float16)


def vectors():
    rng = np.random.default_rng(SEED)
    rows, cols = 2, 512
    res = []
    for ty in TYPES:
        qt = T[ty]
        bs, ts = GGML_QUANT_SIZES[qt]
        nb = rows * cols // bs
        blocks = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
        for off in F16_FIELDS[ty]:
            blocks[:, off:off + 2] = random_f16(rng, nb).view(np.uint8).reshape(nb, 2)
        raw = blocks.reshape(rows, cols // bs * ts)
        vals = gguf.quants.dequantize(raw, qt)
        assert vals.shape == (rows, cols) and vals.dtype == np.float32
        assert np.isfinite(vals).all(), ty
        res.append({
            "type": ty, "rows": rows, "cols": cols,
            "blocks_hex": raw.tobytes().hex(),
            "values_f32_hex": np.ascontiguousarray(vals, dtype="<f4").tobytes().hex(),
        })
    return res


def check_ggml(libpath):
    """Compare gguf-py's results with ggml's C to_float, bit for bit."""
    import ctypes
    lib = ctypes.CDLL(libpath)
    to_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)

    class Traits(ctypes.Structure):
        _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                    ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                    ("is_quantized", ctypes.c_bool), ("to_float", to_float_t),
                    ("from_float_ref", ctypes.c_void_p)]
    lib.ggml_get_type_traits.restype = ctypes.POINTER(Traits)

    def ggml_deq(raw, qtype, n):
        out = np.empty(n, dtype=np.float32)
        raw = np.ascontiguousarray(raw)
        lib.ggml_get_type_traits(int(qtype)).contents.to_float(raw.ctypes.data, out.ctypes.data, n)
        return out

    ok = True
    with open(os.path.join(OUT, "quant_vectors.json")) as f:
        vecs = json.load(f)
    for v in vecs:
        raw = np.frombuffer(bytes.fromhex(v["blocks_hex"]), dtype=np.uint8)
        ref = np.frombuffer(bytes.fromhex(v["values_f32_hex"]), dtype="<f4")
        got = ggml_deq(raw, T[v["type"]], ref.size)
        ulp = np.abs(got.view(np.int32).astype(np.int64) - ref.view(np.int32).astype(np.int64)).max()
        print(f"vectors {v['type']:7s} {'identical' if ulp == 0 else f'max {ulp} ulp'}")
        ok &= ulp == 0
    with open(os.path.join(OUT, "dequant_digests.json")) as f:
        dig = json.load(f)
    for name in MODELS:
        r = GGUFReader(os.path.join(ROOT, "models", "cache", name))
        bad = 0
        for t in r.tensors:
            qt = T(t.tensor_type)
            rows = t.data.reshape((-1, t.data.shape[-1]))
            h = hashlib.sha256()
            for i in range(0, rows.shape[0], ROWS_PER_CHUNK):
                chunk = rows[i:i + ROWS_PER_CHUNK]
                if qt == T.F32:
                    h.update(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
                else:
                    n = chunk.shape[0] * chunk.shape[1] // GGML_QUANT_SIZES[qt][1] * GGML_QUANT_SIZES[qt][0]
                    h.update(ggml_deq(chunk, qt, n).astype("<f4").tobytes())
            if h.hexdigest() != dig[name][t.name]["sha256"]:
                bad += 1
                print(f"{name} {t.name} ({qt.name}): ggml differs from gguf-py")
        print(f"{name}: {len(r.tensors) - bad}/{len(r.tensors)} tensors identical to ggml's C dequantizers")
        ok &= bad == 0
    return ok


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check-ggml":
        sys.exit(0 if check_ggml(sys.argv[2]) else 1)
    vec = vectors()
    with open(os.path.join(OUT, "quant_vectors.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(v) for v in vec) + "\n]\n")
    dig = digests()
    with open(os.path.join(OUT, "dequant_digests.json"), "w") as f:
        # one tensor a line
        f.write("{\n")
        models = []
        for m, ts in dig.items():
            lines = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in ts.items()]
            models.append(f"  {json.dumps(m)}: {{\n" + ",\n".join(lines) + "\n  }")
        f.write(",\n".join(models) + "\n}\n")
    from importlib.metadata import version
    print(f"gguf-py {version('gguf')}, numpy {np.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
