/* The machine's fp32 multiply-add peak: independent FMA chains held in registers, one set per thread.
 *
 * No memory traffic and no dependencies beyond each chain's own, so the cores' FMA units are the only
 * limit: the most multiply-adds per second any convolution or matmul can perform.
 * bench/throughput.py and bench/conv_loop.py compile and run it; by hand:
 *
 *   cc -O2 -march=native -pthread bench/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak 2
 *
 * Prints one JSON line: {"gflops": best of 3 repeats, "threads": N, "lanes": floats per vector}.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
#define VECTOR_BYTES 64 /* one zmm register */
#elif defined(__AVX__)
#define VECTOR_BYTES 32 /* one ymm register (16 of them: the chains must fit) */
#else
#define VECTOR_BYTES 16 /* SSE, NEON */
#endif
#define LANES (VECTOR_BYTES / 4)
#define CHAINS 12 /* covers FMA latency (4-5 cycles) times 2 pipes on current cores, and fits 16 registers */
#define ITERATIONS 100000000L

typedef float vec __attribute__((vector_size(VECTOR_BYTES)));

static void *run_chains(void *result) {
    vec acc[CHAINS], mul, add;
    for (int i = 0; i < LANES; i++) {
        mul[i] = 0.999999f; /* a ← a·b + c converges to c/(1−b): no overflow, no denormals */
        add[i] = 1e-7f;
    }
    for (int c = 0; c < CHAINS; c++)
        for (int i = 0; i < LANES; i++) acc[c][i] = (float)c;
    for (long k = 0; k < ITERATIONS; k++) {
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * mul + add; /* contracted to one FMA at -O2 */
    }
    float sum = 0; /* keeps the loop from being optimised away */
    for (int c = 0; c < CHAINS; c++) sum += acc[c][0];
    *(float *)result = sum;
    return NULL;
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 1024) {
        fprintf(stderr, "usage: %s [threads]\n", argv[0]);
        return 2;
    }
    pthread_t *ids = malloc(sizeof *ids * threads);
    float *sums = malloc(sizeof *sums * threads);
    double best = 0;
    for (int repeat = 0; repeat < 3; repeat++) {
        double start = seconds();
        for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, run_chains, &sums[t]);
        for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
        double gflops = 2.0 * LANES * CHAINS * ITERATIONS * threads / (seconds() - start) / 1e9;
        if (gflops > best) best = gflops;
    }
    printf("{\"gflops\": %.2f, \"threads\": %d, \"lanes\": %d, \"checksum\": %g}\n", best, threads, LANES, sums[0]);
    free(ids);
    free(sums);
    return 0;
}
