/* In-place gate kernels of the batched statevector simulator (statevector.py).

   A state is float64 (2, R, K, N), N = 2^n, C-contiguous: the real parts of all R x K rows,
   then the imaginary parts; qubit q is bit n - 1 - q of an amplitude's index. Each kernel
   updates a state in one pass, with exactly the operations of statevector.py's torch code,
   each rounded on its own (compiled with -ffp-contract=off: no fused multiply-add), so a
   result is the torch code's to the bit:

   - exp(-i a H) psi = c psi - i s H psi, written (c re + s Hi, c im - s Hr) where H psi =
     Hr + i Hi; multiplying by +-1 and by powers of i only moves and negates values, which is
     exact, so it may happen in any order;
   - the gradient's Im <lambda | H psi> per row is sum_i (lambda_re Hi - lambda_im Hr), summed
     by the pairwise tree of statevector.tree_sum (halves added, x[:N/2] + x[N/2:], until one
     value is left).

   c and s hold one value per restart (stride 1) or one for all (stride 0); s is already
   negated for an inverse gate, as in the torch code. */

#include <stdint.h>
#include <stdlib.h>

/* (hr, hi) = (xr, xi) * i^power, exactly. */
static inline void times_i_power(double xr, double xi, int64_t power, double *hr, double *hi) {
    switch (power & 3) {
        case 0: *hr = xr; *hi = xi; break;
        case 1: *hr = -xi; *hi = xr; break;
        case 2: *hr = -xr; *hi = -xi; break;
        default: *hr = xi; *hi = -xr; break;
    }
}

/* (-1)^(number of set bits of index & zmask): the eigenvalue of the Z and Y factors. */
static inline double sign_of(int64_t index, int64_t zmask) {
    return __builtin_parityll((unsigned long long)(index & zmask)) ? -1.0 : 1.0;
}

/* exp(-i a H) for a Pauli string H: H psi multiplies amplitude i by sign_of(i, zmask) (the Z
   and Y factors), then flips the bits of `mask` (the X and Y factors), then multiplies by
   i^power (power = number of Y factors). */
void qn_sv_rotate(int64_t R, int64_t K, int64_t N, double *psi, const double *c,
                  const double *s, int64_t cs_stride, int64_t mask, int64_t zmask,
                  int64_t power) {
    double *re = psi, *im = psi + R * K * N;
    for (int64_t r = 0; r < R; r++) {
        const double cr = c[r * cs_stride], sr = s[r * cs_stride];
        for (int64_t k = 0; k < K; k++) {
            double *a = re + (r * K + k) * N, *b = im + (r * K + k) * N;
            if (mask == 0) {
                for (int64_t i = 0; i < N; i++) {
                    const double g = sign_of(i, zmask);
                    double hr, hi;
                    times_i_power(a[i] * g, b[i] * g, power, &hr, &hi);
                    const double nr = cr * a[i] + sr * hi, ni = cr * b[i] - sr * hr;
                    a[i] = nr;
                    b[i] = ni;
                }
                continue;
            }
            for (int64_t i = 0; i < N; i++) {
                const int64_t j = i ^ mask;
                if (j < i) continue;
                const double gi = sign_of(i, zmask), gj = sign_of(j, zmask);
                double hri, hii, hrj, hij;  /* (H psi)_i reads psi_j, and (H psi)_j reads psi_i */
                times_i_power(a[j] * gj, b[j] * gj, power, &hri, &hii);
                times_i_power(a[i] * gi, b[i] * gi, power, &hrj, &hij);
                const double ri = cr * a[i] + sr * hii, ii = cr * b[i] - sr * hri;
                const double rj = cr * a[j] + sr * hij, ij = cr * b[j] - sr * hrj;
                a[i] = ri;
                b[i] = ii;
                a[j] = rj;
                b[j] = ij;
            }
        }
    }
}

/* exp(-i a Y) on the qubit of `bit`: both parts rotate as real 2-vectors,
   (psi0, psi1) -> (c psi0 - s psi1, s psi0 + c psi1). */
void qn_sv_rotate_y(int64_t R, int64_t K, int64_t N, double *psi, const double *c,
                    const double *s, int64_t cs_stride, int64_t bit) {
    for (int64_t part = 0; part < 2; part++) {
        double *x = psi + part * R * K * N;
        for (int64_t r = 0; r < R; r++) {
            const double cr = c[r * cs_stride], sr = s[r * cs_stride];
            for (int64_t k = 0; k < K; k++) {
                double *v = x + (r * K + k) * N;
                for (int64_t i = 0; i < N; i++) {
                    if (i & bit) continue;
                    const double p0 = v[i], p1 = v[i | bit];
                    v[i] = cr * p0 - sr * p1;
                    v[i | bit] = sr * p0 + cr * p1;
                }
            }
        }
    }
}

/* exp(-i a Z) on the qubit of `bit`: (c - i s) on bit 0, (c + i s) on bit 1. */
void qn_sv_rotate_z(int64_t R, int64_t K, int64_t N, double *psi, const double *c,
                    const double *s, int64_t cs_stride, int64_t bit) {
    double *re = psi, *im = psi + R * K * N;
    for (int64_t r = 0; r < R; r++) {
        const double cr = c[r * cs_stride], sr = s[r * cs_stride];
        for (int64_t k = 0; k < K; k++) {
            double *a = re + (r * K + k) * N, *b = im + (r * K + k) * N;
            for (int64_t i = 0; i < N; i++) {
                const double x = a[i], y = b[i];
                if (i & bit) {
                    a[i] = cr * x - sr * y;
                    b[i] = cr * y + sr * x;
                } else {
                    a[i] = cr * x + sr * y;
                    b[i] = cr * y - sr * x;
                }
            }
        }
    }
}

/* A fixed diagonal phase: psi * real when imag is NULL, else (real re - d im, real im + d re)
   with d = imag, or -imag for the inverse (negated by the caller). Tables have N entries. */
void qn_sv_diagonal(int64_t R, int64_t K, int64_t N, double *psi, const double *real,
                    const double *imag) {
    double *re = psi, *im = psi + R * K * N;
    for (int64_t row = 0; row < R * K; row++) {
        double *a = re + row * N, *b = im + row * N;
        if (imag == NULL) {
            for (int64_t i = 0; i < N; i++) {
                a[i] = a[i] * real[i];
                b[i] = b[i] * real[i];
            }
            continue;
        }
        for (int64_t i = 0; i < N; i++) {
            const double x = a[i], y = b[i];
            a[i] = real[i] * x - imag[i] * y;
            b[i] = real[i] * y + imag[i] * x;
        }
    }
}

/* out[row] = Im <lambda | H psi> for every row of R x K, H the Pauli string of (mask, zmask,
   power) as in qn_sv_rotate, summed by the pairwise tree. Returns -1 when memory for N
   doubles of work cannot be had, else 0. */
int qn_sv_generator_inner(int64_t R, int64_t K, int64_t N, const double *lam,
                          const double *psi, int64_t mask, int64_t zmask, int64_t power,
                          double *out) {
    double *work = malloc((size_t)N * sizeof(double));
    if (work == NULL) return -1;
    const double *lr = lam, *li = lam + R * K * N, *pr = psi, *pi = psi + R * K * N;
    for (int64_t row = 0; row < R * K; row++) {
        const double *a = pr + row * N, *b = pi + row * N, *x = lr + row * N, *y = li + row * N;
        for (int64_t i = 0; i < N; i++) {
            const int64_t j = i ^ mask;
            const double g = sign_of(j, zmask);
            double hr, hi;
            times_i_power(a[j] * g, b[j] * g, power, &hr, &hi);
            work[i] = x[i] * hi - y[i] * hr;
        }
        for (int64_t length = N; length > 1; length /= 2) {
            const int64_t half = length / 2;
            for (int64_t i = 0; i < half; i++) work[i] = work[i] + work[i + half];
        }
        out[row] = work[0];
    }
    free(work);
    return 0;
}
