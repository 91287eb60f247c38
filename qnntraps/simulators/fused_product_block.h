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
#define PAIRS_BODY CAT(pairs_body, SUFFIX)
#define ANGLES CAT(angles, SUFFIX)
#define STORE CAT(store, SUFFIX)
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

/* sin and cos of 2 theta of the block's rows, per parameter (the spare lanes repeat row r0),
   and the gradient's accumulators set to 0. */
TARGET static inline __attribute__((always_inline)) void ANGLES(
    const double *theta, int64_t r0, int64_t width, int64_t p, VEC *cs, VEC *sn, VEC *g) {
    for (int64_t i = 0; i < p; i++) {
        VEC x;
        for (int l = 0; l < LANES; l++) x[l] = doubled_angle(theta[(r0 + (l < width ? l : 0)) * p + i]);
        SINCOS(x, sn + i, cs + i);
        g[i] = SPLAT(0.0);
    }
}

/* The block's losses (the summed squares / m) and gradients, for its real rows only. */
TARGET static inline __attribute__((always_inline)) void STORE(
    VEC total, const VEC *g, int64_t m, int64_t p, int64_t r0, int64_t width, double *loss_out,
    double *grad_out) {
    const VEC loss = total / (double)m;
    for (int64_t l = 0; l < width; l++) {
        if (loss_out != NULL) loss_out[r0 + l] = loss[l];
        if (grad_out != NULL)
            for (int64_t i = 0; i < p; i++) grad_out[(r0 + l) * p + i] = g[i][l];
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
    ANGLES(theta, r0, width, p, cs, sn, g);
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
    STORE(total, g, m, p, r0, width, loss_out, grad_out);
}

/* J = 1 (one term per sample), two samples at a time: the same operations as BLOCK_BODY, in
   the same order for every sum (sample k's loss and gradient contributions before k + 1's),
   with the two samples' independent chains interleaved for the processor to overlap. */
TARGET static inline __attribute__((always_inline)) void PAIRS_BODY(
    const Form *f, const double *theta, int64_t r0, int64_t width, double *yhat_out,
    double *loss_out, double *grad_out, VEC *work, const int64_t S) {
    const int64_t m = f->m, p = f->p;
    VEC *cs = work, *sn = cs + p, *g = sn + p;
    VEC *F0 = g + p, *D0 = F0 + S, *P0 = D0 + S, *F1 = P0 + S, *D1 = F1 + S, *P1 = D1 + S;
    ANGLES(theta, r0, width, p, cs, sn, g);
    VEC total = SPLAT(0.0);
    const double two_over_m = 2.0 / (double)m;
    int64_t k = 0;
    for (; k + 1 < m; k += 2) {
        const int64_t b0 = k * S, b1 = (k + 1) * S;
        for (int64_t s = 0; s < S; s++) {
            const int64_t q0 = f->support[b0 + s], q1 = f->support[b1 + s];
            const double A0 = f->a[b0 + s], B0 = f->b[b0 + s], C0 = f->c[b0 + s];
            const double A1 = f->a[b1 + s], B1 = f->b[b1 + s], C1_ = f->c[b1 + s];
            F0[s] = (A0 + B0 * cs[q0]) + C0 * sn[q0];
            F1[s] = (A1 + B1 * cs[q1]) + C1_ * sn[q1];
            D0[s] = 2.0 * (C0 * cs[q0] - B0 * sn[q0]);
            D1[s] = 2.0 * (C1_ * cs[q1] - B1 * sn[q1]);
            P0[s] = s == 0 ? SPLAT(1.0) : P0[s - 1] * F0[s - 1];
            P1[s] = s == 0 ? SPLAT(1.0) : P1[s - 1] * F1[s - 1];
        }
        const VEC acc0 = SPLAT(0.0) + (f->weights[k] * P0[S - 1]) * F0[S - 1];
        const VEC acc1 = SPLAT(0.0) + (f->weights[k + 1] * P1[S - 1]) * F1[S - 1];
        const VEC y0 = f->offset[k] + acc0, y1 = f->offset[k + 1] + acc1;
        const VEC res0 = y0 - f->labels[k], res1 = y1 - f->labels[k + 1];
        total = total + res0 * res0;
        total = total + res1 * res1;
        if (yhat_out != NULL)
            for (int64_t l = 0; l < width; l++) {
                yhat_out[(r0 + l) * m + k] = y0[l];
                yhat_out[(r0 + l) * m + k + 1] = y1[l];
            }
        if (grad_out == NULL) continue;
        const VEC coef0 = two_over_m * res0, coef1 = two_over_m * res1;
        const double W0 = f->weights[k], W1 = f->weights[k + 1];
        VEC suffix0 = SPLAT(1.0), suffix1 = SPLAT(1.0);
        for (int64_t s = S - 1; s >= 0; s--) {
            D0[s] = (((coef0 * W0) * P0[s]) * suffix0) * D0[s];
            D1[s] = (((coef1 * W1) * P1[s]) * suffix1) * D1[s];
            suffix0 = suffix0 * F0[s];
            suffix1 = suffix1 * F1[s];
        }
        for (int64_t s = 0; s < S; s++) g[f->support[b0 + s]] += D0[s];
        for (int64_t s = 0; s < S; s++) g[f->support[b1 + s]] += D1[s];
    }
    for (; k < m; k++) {  /* the last sample of an odd count, alone */
        const int64_t b0 = k * S;
        for (int64_t s = 0; s < S; s++) {
            const int64_t q0 = f->support[b0 + s];
            const double A0 = f->a[b0 + s], B0 = f->b[b0 + s], C0 = f->c[b0 + s];
            F0[s] = (A0 + B0 * cs[q0]) + C0 * sn[q0];
            D0[s] = 2.0 * (C0 * cs[q0] - B0 * sn[q0]);
            P0[s] = s == 0 ? SPLAT(1.0) : P0[s - 1] * F0[s - 1];
        }
        const VEC acc0 = SPLAT(0.0) + (f->weights[k] * P0[S - 1]) * F0[S - 1];
        const VEC y0 = f->offset[k] + acc0;
        const VEC res0 = y0 - f->labels[k];
        total = total + res0 * res0;
        if (yhat_out != NULL)
            for (int64_t l = 0; l < width; l++) yhat_out[(r0 + l) * m + k] = y0[l];
        if (grad_out == NULL) continue;
        const VEC coef0 = two_over_m * res0;
        const double W0 = f->weights[k];
        VEC suffix0 = SPLAT(1.0);
        for (int64_t s = S - 1; s >= 0; s--) {
            D0[s] = (((coef0 * W0) * P0[s]) * suffix0) * D0[s];
            suffix0 = suffix0 * F0[s];
        }
        for (int64_t s = 0; s < S; s++) g[f->support[b0 + s]] += D0[s];
    }
    STORE(total, g, m, p, r0, width, loss_out, grad_out);
}

/* The block with the term and slot counts of the shipped families made compile-time constants
   (one term of 1 slot: construction; of 3: construction-coupled; of p = 8 or 12: the largest
   separable instances), so that the compiler unrolls the slots and keeps a sample's factors in
   registers, and long single terms (S > 8) two samples at a time (measured: 1.25x at S = 12,
   slower at S <= 8); the arithmetic is the same in every case. */
TARGET static void BLOCK(const Form *f, const double *theta, int64_t r0, int64_t width,
                         double *yhat_out, double *loss_out, double *grad_out, VEC *work) {
    if (f->J == 1 && f->S == 1)
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 1, 1);
    else if (f->J == 1 && f->S == 3)
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 1, 3);
    else if (f->J == 1 && f->S == 8)
        BLOCK_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 1, 8);
    else if (f->J == 1 && f->S == 12)
        PAIRS_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, 12);
    else if (f->J == 1 && f->S > 8)
        PAIRS_BODY(f, theta, r0, width, yhat_out, loss_out, grad_out, work, f->S);
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
#undef PAIRS_BODY
#undef ANGLES
#undef STORE
#undef SINCOS_N
