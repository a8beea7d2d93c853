#ifndef TPE_H
#define TPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sampler.h"

/* Tree-structured Parzen estimator. The finished trials are split into a good
 * set (the best gamma fraction) and the rest; each set gets a mixture of
 * truncated Gaussian kernels in the unit cube (log scale where the parameter
 * asks for it, cell-integrated for int and stepped parameters, smoothed counts
 * for categorical ones) plus a broad prior component. Candidates drawn from
 * the good density l(x) are ranked by log l(x) - log g(x).
 *
 * Multivariate: the parameters that are active under the same condition form a
 * group whose kernels are joint; a group is fitted on the trials in which it is
 * active. Pending trials and earlier proposals of the same call join the bad set
 * (constant liar), failed trials too. A pruned trial whose rank at its last
 * step is known (struct obs: fidelity, value_final) is ranked with the
 * completed ones by that estimate, its kernels weighted by its fidelity (at
 * least 0.1): a trial stopped early is weaker evidence; without an estimate it
 * ranks below every completed one.
 * Before n_startup trials have finished the scrambled Sobol' design proposes. */

enum tpe_bandwidth {
    TPE_BW_SCOTT,  /* per dimension: bw_factor * spread * n^(-1/(d+4)) */
    TPE_BW_OPTUNA, /* every dimension: 0.2 * n^(-1/(d+4)), as Optuna's multivariate TPE */
};

struct tpe_options {
    int n_startup;                /* finished trials before the model is used */
    int n_candidates;             /* draws from l(x) per group and proposal */
    double gamma;                 /* fraction of ranked trials in the good set */
    int gamma_max;                /* cap on the size of the good set */
    double prior_weight;          /* weight of the prior component and categorical smoothing */
    enum tpe_bandwidth bandwidth; /* bandwidth rule for numeric kernels */
    double bw_factor;             /* scale of the Scott rule */
    double min_bw;                /* floor on numeric bandwidths, unit scale */
    double magic_clip;            /* extra floor magic_clip / min(100, n + 1); 0 for none */
    bool multivariate;            /* joint kernels per group; false: one group per parameter */
    double adaptive;              /* Abramson exponent: kernels narrow where good trials crowd */
    double failed_weight;         /* weight of a failed trial in the bad density */
};

/* Defaults for a space (borrowed); n_startup depends on its dimension. */
void tpe_options_init(struct tpe_options *o, const struct space *s);
/* Override defaults from tuning keys of the spec's "sampler" object (borrowed,
 * may be NULL): n_startup, n_candidates, gamma, gamma_max, prior_weight,
 * bandwidth ("scott" or "optuna"), bw_factor, min_bw, magic_clip, multivariate,
 * adaptive, failed_weight.
 * Returns -1 with a message naming the key on a bad value. */
int tpe_options_parse(struct tpe_options *o, const json_t *options, char *err, size_t errlen);

/* Propose k configurations (new references in out[0..k-1]) with the given
 * options; every one passes space_check(). 0, or -1 with err set. Used by
 * sampler_tpe_ops (options from ctx->options) and by composite samplers. */
int tpe_propose(const struct sampler_ctx *ctx, const struct tpe_options *o, size_t k, json_t **out,
                char *err, size_t errlen);

/* Finished trials (completed or pruned) that the model can rank. */
size_t tpe_ranked_count(const struct sampler_ctx *ctx);

extern const struct sampler_ops sampler_tpe_ops;

#endif
