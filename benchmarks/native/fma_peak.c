/* The CPU's FP32 peak: independent fused multiply-add chains in the widest vectors the compiler
 * targets (-march=native), one OpenMP thread per core. 12 chains per thread hide the FMA latency
 * (4 cycles × 2 units + margin), named so they stay in registers; no memory is touched in the loop.
 *
 *   fma_lanes()             float32 lanes per vector (16: AVX-512, 8: AVX2, 4: SSE/NEON)
 *   fma_peak(iters, thr)    runs iters × 12 vector FMAs on each of thr threads; returns a sum
 *                           of the results, so the work cannot be optimised away.
 * FLOPs per call: 2 · 12 · lanes · iters · threads.
 */
#include <omp.h>

#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
static float hsum(vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
static float hsum(vec v) {
  float out[8];
  _mm256_storeu_ps(out, v);
  float s = 0;
  for (int i = 0; i < 8; i++) s += out[i];
  return s;
}
#else
typedef float vec __attribute__((vector_size(16)));
#define LANES 4
static vec SET1(float x) { vec v = {x, x, x, x}; return v; }
static vec FMA(vec a, vec b, vec c) { return a * b + c; }
static float hsum(vec v) { return v[0] + v[1] + v[2] + v[3]; }
#endif

#define CHAINS 12

int fma_lanes(void) { return LANES; }

int fma_chains(void) { return CHAINS; }

double fma_peak(long iters, int threads) {
  double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    /* Twelve named accumulators, not an array: they must live in registers. */
    const float seed = 1.0f + 1e-3f * (float)omp_get_thread_num();
    vec a0 = SET1(seed), a1 = SET1(seed + 1e-4f), a2 = SET1(seed + 2e-4f), a3 = SET1(seed + 3e-4f);
    vec a4 = SET1(seed + 4e-4f), a5 = SET1(seed + 5e-4f), a6 = SET1(seed + 6e-4f);
    vec a7 = SET1(seed + 7e-4f), a8 = SET1(seed + 8e-4f), a9 = SET1(seed + 9e-4f);
    vec a10 = SET1(seed + 1e-5f), a11 = SET1(seed + 2e-5f);
    const vec scale = SET1(0.999999f), shift = SET1(1e-6f);
    for (long n = 0; n < iters; n++) {
      a0 = FMA(a0, scale, shift); a1 = FMA(a1, scale, shift); a2 = FMA(a2, scale, shift);
      a3 = FMA(a3, scale, shift); a4 = FMA(a4, scale, shift); a5 = FMA(a5, scale, shift);
      a6 = FMA(a6, scale, shift); a7 = FMA(a7, scale, shift); a8 = FMA(a8, scale, shift);
      a9 = FMA(a9, scale, shift); a10 = FMA(a10, scale, shift); a11 = FMA(a11, scale, shift);
    }
    total += hsum(a0) + hsum(a1) + hsum(a2) + hsum(a3) + hsum(a4) + hsum(a5);
    total += hsum(a6) + hsum(a7) + hsum(a8) + hsum(a9) + hsum(a10) + hsum(a11);
  }
  return total;
}
