/* One instantiation of the kernel for one vector width: included by fused_product.c with
   LANES, VEC (a GCC vector of LANES doubles), MASK (of LANES int64) and SUFFIX defined. Lanes are
   restarts, and every operation acts lane by lane, so the width never changes a result. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define SPLAT CAT(splat, SUFFIX)
#define SELECT CAT(select, SUFFIX)
#define SINCOS CAT(sincos, SUFFIX)
#define BLOCK CAT(block, SUFFIX)
#define BLOCK_BODY CAT(block_body, SUFFIX)
#define SINCOS_N CAT(sincos_n, SUFFIX)

TARGET static inline VEC SPLAT(double x) {
    VEC v;
    for (int l = 0; l < LANES; l++) v[l] = x;
    return v;
}

TARGET static inline VEC SELECT(MASK mask, VEC yes, VEC no) {
    return (VEC)(((MASK)yes & mask) | ((MASK)no & ~mask));
}

/* sin and cos of x, lane by lane; x already below LARGE in magnitude (or NaN). The quadrant
   k mod 4 is read from the low bits of x * 2/pi + ROUNDER, whose last place is 1. */
TARGET static inline void SINCOS(VEC x, VEC *s, VEC *c) {
    VEC t = x * TWO_OVER_PI + ROUNDER;
    VEC k = t - ROUNDER;
    MASK q = (MASK)t & 3;
    VEC r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    VEC z = r * r;
    VEC v = z * r;
    VEC sr = r + v * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
    VEC pc = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    VEC hz = 0.5 * z;
    VEC w = 1.0 - hz;
    VEC cr = w + (((1.0 - w) - hz) + z * pc);
    MASK odd = (q == 1) | (q == 3);
    VEC sv = SELECT(odd, cr, sr), cv = SELECT(odd, sr, cr);
    *s = SELECT((q == 2) | (q == 3), -sv, sv);
    *c = SELECT((q == 1) | (q == 2), -cv, cv);
}

/* sin and cos of 2 theta for n values. */
TARGET static void SINCOS_N(int64_t n, const double *theta, double *sin_out, double *cos_out) {
    for (int64_t i = 0; i < n; i += LANES) {
        int64_t width = n - i < LANES ? n - i : LANES;
        VEC x, s, c;
        for (int l = 0; l < LANES; l++) x[l] = doubled_angle(theta[i + (l < width ? l : 0)]);
        SINCOS(x, &s, &c);
        for (int64_t l = 0; l < width; l++) {
            sin_out[i + l] = s[l];
            cos_out[i + l] = c[l];
        }
    }
}

/* One block of LANES restarts (rows r0 .. r0 + width - 1; the spare lanes repeat row r0).
   Writes predictions (m values per row) when yhat_out is given, the loss when loss_out is,
   and the gradient when grad_out is. work holds 3 p + 3 J S vectors, 64-byte aligned. */
TARGET static inline __attribute__((always_inline)) void BLOCK_BODY(
    const Form *f, const double *theta, int64_t r0, int64_t width, double *yhat_out,
    double *loss_out, double *grad_out, VEC *work, const int64_t J, const int64_t S) {
    const int64_t m = f->m, p = f->p, T = J * S;
    VEC *cs = work, *sn = cs + p, *g = sn + p, *F = g + p, *D = F + T, *P = D + T;
    for (int64_t i = 0; i < p; i++) {
        VEC x;
        for (int l = 0; l < LANES; l++) x[l] = doubled_angle(theta[(r0 + (l < width ? l : 0)) * p + i]);
        SINCOS(x, sn + i, cs + i);
        g[i] = SPLAT(0.0);
    }
    VEC total = SPLAT(0.0);
    const double two_over_m = 2.0 / (double)m;
    for (int64_t k = 0; k < m; k++) {
        const int64_t base = k * T;
        VEC acc = SPLAT(0.0);
        for (int64_t j = 0; j < J; j++) {
            for (int64_t s = 0; s < S; s++) {
                const int64_t t = j * S + s, q = f->support[base + t];
                const double A = f->a[base + t], B = f->b[base + t], C = f->c[base + t];
                F[t] = (A + B * cs[q]) + C * sn[q];
                D[t] = 2.0 * (C * cs[q] - B * sn[q]);
                P[t] = s == 0 ? SPLAT(1.0) : P[t - 1] * F[t - 1];
            }
            const int64_t last = j * S + S - 1;
            acc = acc + (f->weights[k * J + j] * P[last]) * F[last];
        }
        const VEC y = f->offset[k] + acc;
        const VEC res = y - f->labels[k];
        total = total + res * res;
        if (yhat_out != NULL)
            for (int64_t l = 0; l < width; l++) yhat_out[(r0 + l) * m + k] = y[l];
        if (grad_out == NULL) continue;
        const VEC coef = two_over_m * res;
        for (int64_t j = 0; j < J; j++) {
            const double W = f->weights[k * J + j];
            /* slot s's contribution needs the suffix product prod_{t > s} F_t: built from the
               last slot down, each contribution kept in D's slot, then added in slot order */
            VEC suffix = SPLAT(1.0);
            for (int64_t s = S - 1; s >= 0; s--) {
                const int64_t t = j * S + s;
                D[t] = (((coef * W) * P[t]) * suffix) * D[t];
                suffix = suffix * F[t];
            }
            for (int64_t s = 0; s < S; s++) {
                const int64_t t = j * S + s;
                g[f->support[base + t]] += D[t];
            }
        }
    }
    const VEC loss = total / (double)m;
    for (int64_t l = 0; l < width; l++) {
        if (loss_out != NULL) loss_out[r0 + l] = loss[l];
        if (grad_out != NULL)
            for (int64_t i = 0; i < p; i++) grad_out[(r0 + l) * p + i] = g[i][l];
    }
}


/* The block with the term and slot counts of the shipped families made compile-time constants
   (one term of 1 slot: construction; of 3: construction-coupled; of p = 8 or 12: the largest
   separable instances), so that the compiler unrolls the slots and keeps a sample's factors in
   registers; the arithmetic is the same in every case. */
TARGET static void BLOCK(const Form *f, const double *theta, int64_t r0, int64_t width,
                         double *yhat_out, double *loss_out, double *grad_out, VEC *work) {
    if (f->J == 1 && f->S == 1)
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 1, 1);
    else if (f->J == 1 && f->S == 3)
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 1, 3);
    else if (f->J == 1 && f->S == 8)
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 1, 8);
    else if (f->J == 1 && f->S == 12)
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 1, 12);
    else if (f->J == 1)
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 1, f->S);
    else
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, f->J, f->S);
}

#undef SPLAT
#undef SELECT
#undef SINCOS
#undef BLOCK
#undef BLOCK_BODY
#undef SINCOS_N
