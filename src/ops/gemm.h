// Single-precision GEMM of our own (Goto/BLIS: packed panels, L1/L2 blocking,
// a register-blocked FMA micro-kernel per Highway target, chosen at run time),
// so that training and prefill run at the CPU's full vector width whatever
// core type the linked OpenBLAS is pinned to.
#pragma once

namespace ss {

// C = alpha * op(A) * op(B) + beta * C, row-major, exactly the contract of
// cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
// trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc):
// op(A) is M x K (A is M x K with lda >= K, or K x M with lda >= M when
// trans_a), op(B) is K x N (B is K x N with ldb >= N, or N x K with ldb >= K
// when trans_b), C is M x N with ldc >= N. beta == 0 overwrites C without
// reading it; alpha == 0 or K == 0 only scales C by beta.
// Runs on omp_get_max_threads() threads (one inside a parallel region or
// for small products), splitting M or N, never K: every element of C is
// summed in the same order whatever the thread count, so results repeat bit
// for bit. Throws ss::Error on negative sizes or leading dimensions too small.
void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace ss
