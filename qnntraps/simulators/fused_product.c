/* Fused float64 loss, gradient and predictions of the product form (product_form.py).

   One pass per sample computes the factors a + b cos 2theta + c sin 2theta of every term, the
   prediction, the residual and the gradient contributions, for LANES restarts at a time (one
   restart per SIMD lane, so no lane's result depends on another's or on the block it falls in).
   The arithmetic is that of fused_product.py's torch mirror, operation for operation:

   - cos 2theta and sin 2theta from qn_sincos below (Cody-Waite reduction by pi/2 in three parts
     and fdlibm's polynomials on [-pi/4, pi/4]; |x| > 2^16 is first reduced exactly by fmod with
     the double nearest 2 pi), not from libm, so both implementations agree bit for bit;
   - every sum runs in a fixed order, starting from 0.0: terms j, samples k, and gradient
     contributions in the order of the flattened (sample, term, slot) index;
   - no fused multiply-add (compiled with -ffp-contract=off) and no reassociation.

   Results therefore do not depend on the number of restarts, the block a restart falls in, the
   vector width the compiler chose or the number of processes. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static const double TWO_OVER_PI = 6.36619772367581382433e-01;
static const double PIO2_1 = 1.57079632673412561417e+00;  /* first 33 bits of pi/2 */
static const double PIO2_2 = 6.07710050630396597660e-11;  /* next 33 bits */
static const double PIO2_3 = 2.02226624879595063154e-21;  /* pi/2 - PIO2_1 - PIO2_2 */
static const double ROUNDER = 6755399441055744.0;          /* 1.5 * 2^52: round to nearest even */
static const double LARGE = 524288.0;  /* 2^19: below it k < 2^19 and k * PIO2_1 is exact */
static const double TWO_PI = 6.28318530717958623200e+00;

static const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                    S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                    S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
static const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                    C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                    C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;

/* 2 theta, reduced exactly by fmod when large (rare; scalar). */
static inline double doubled_angle(double theta) {
    double x = 2.0 * theta;
    return fabs(x) > LARGE ? fmod(x, TWO_PI) : x;
}

typedef struct {
    int64_t m, J, S, p;
    const double *offset, *weights, *a, *b, *c, *labels;
    const int64_t *support;
} Form;

#define MAX_LANES 4

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_AVX2_KERNEL 1
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4l __attribute__((vector_size(32)));
#define LANES 4
#define VEC v4d
#define MASK v4l
#define SUFFIX _avx2
#define TARGET __attribute__((target("avx2")))
#include "fused_product_block.h"
#undef LANES
#undef VEC
#undef MASK
#undef SUFFIX
#undef TARGET
#endif

typedef double v2d __attribute__((vector_size(16)));
typedef int64_t v2l __attribute__((vector_size(16)));
#define LANES 2
#define VEC v2d
#define MASK v2l
#define SUFFIX _generic
#define TARGET
#include "fused_product_block.h"
#undef LANES
#undef VEC
#undef MASK
#undef SUFFIX
#undef TARGET

static int use_avx2(void) {
#ifdef HAVE_AVX2_KERNEL
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

/* Public: sin and cos of 2 theta for n values (the tests compare it with libm and the mirror). */
void qn_sincos2(int64_t n, const double *theta, double *sin_out, double *cos_out) {
#ifdef HAVE_AVX2_KERNEL
    if (use_avx2()) {
        sincos_n_avx2(n, theta, sin_out, cos_out);
        return;
    }
#endif
    sincos_n_generic(n, theta, sin_out, cos_out);
}

/* Loss (R), gradient (R, p) and predictions (R, m) of R parameter vectors theta (R, p); any
   output may be NULL. Returns 0, or -1 when memory for the work area cannot be had. */
int qn_product_form(int64_t R, int64_t m, int64_t J, int64_t S, int64_t p,
                    const double *offset, const double *weights, const int64_t *support,
                    const double *a, const double *b, const double *c, const double *labels,
                    const double *theta, double *loss_out, double *grad_out, double *yhat_out) {
    Form f = {m, J, S, p, offset, weights, a, b, c, labels, support};
    size_t bytes = 8 * MAX_LANES * (size_t)(3 * p + 6 * J * S);
    void *work = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (work == NULL) return -1;
    int avx2 = use_avx2();
    int64_t lanes = avx2 ? 4 : 2;
    for (int64_t r0 = 0; r0 < R; r0 += lanes) {
        int64_t width = R - r0 < lanes ? R - r0 : lanes;
#ifdef HAVE_AVX2_KERNEL
        if (avx2) {
            block_avx2(&f, theta, r0, width, yhat_out, loss_out, grad_out, work);
            continue;
        }
#endif
        block_generic(&f, theta, r0, width, yhat_out, loss_out, grad_out, work);
    }
    free(work);
    return 0;
}
