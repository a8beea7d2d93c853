#ifndef PRUNER_H
#define PRUNER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Early stopping: whether a running trial should stop now, judged from its own
 * learning curve and the values other trials of the study reported. Everything
 * here is a pure function of its arguments; server/pruner_hook.c reads the
 * database and calls these.
 *
 * A curve is an array of reports sorted by step, one per step (the database keys
 * reports by trial and step). A value that was not a finite number is NAN.
 * "Worse" follows the study's direction: higher is worse when minimizing, lower
 * when maximizing. A value equal to the one it is compared with is never worse. */

/* One intermediate report of a trial. */
struct pruner_point {
    long long step; /* training step (epoch, iteration...) */
    double value;   /* reported objective, NAN when not finite */
};

enum pruner_kind {
    PRUNER_NONE,      /* never stops a trial */
    PRUNER_MEDIAN,    /* best so far worse than the median of the others at this step */
    PRUNER_ASHA,      /* asynchronous successive halving */
    PRUNER_PATIENCE,  /* no improvement for a while, or worse than a fixed threshold */
    PRUNER_HYPERBAND, /* successive halving in several brackets of different first rungs */
    PRUNER_CURVE,     /* extrapolated learning curve unlikely to beat the k-th best */
};

/* A study's "pruner" object, parsed, defaults filled in. */
struct pruner_opts {
    enum pruner_kind kind;        /* which pruner */
    long n_startup_trials;        /* median, curve: completed trials before any pruning
                                     (median 5, curve 3) */
    long long n_warmup_steps;     /* median, patience: no pruning before this step (0) */
    long long interval_steps;     /* median: judge every this many steps after warm-up (1) */
    long n_min_trials;            /* median: fewest values at a step to compare with (1) */
    long long min_resource;       /* asha: step of the first rung, 0 = from max_resource (0);
                                     hyperband: the first rung of the first bracket (1) */
    long long max_resource;       /* asha, hyperband, curve: a trial's last step, 0 = the
                                     longest completed trial's last step (0) */
    long reduction_factor;        /* asha: rung spacing and kept fraction 1/rf (4); hyperband (3) */
    long min_early_stopping_rate; /* asha: rungs start at min_resource * rf^rate (0) */
    long long patience;           /* patience: steps without improvement, 0 = off */
    double min_delta;             /* patience: a smaller gain is no improvement (0) */
    bool has_threshold;           /* patience: "threshold" was given */
    double threshold;             /* patience: a value worse than this stops the trial */
    double p_threshold;           /* curve: prune below this chance to beat the k-th best (0.05) */
    double top_k;                 /* curve: k, the rank to beat: a whole number, or below 1 a
                                     fraction of the completed trials, rounded up (0.2) */
    long min_points;              /* curve: fewest reports before a fit, at least 5 (5) */
};

/* What a pruner decided at a report, and why. */
struct pruner_verdict {
    bool prune;       /* stop the trial */
    double p;         /* curve: the chance that the trial's final value beats the
                         reference, NAN when the pruner judged nothing or has no chance */
    double predicted; /* curve: extrapolated final value, NAN when not judged */
    char reason[256]; /* one line for people, "" when not judged */
};

/* Parse a "pruner" object (borrowed; NULL means {"name": "none"}) into o. Every
 * pruner takes "objective", the name of the objective it watches (a string;
 * the spec checks that it names one). -1 with
 * a message naming the field ("pruner.reduction_factor: must be an integer from 2
 * to 1000 (got \"1\")") on an unknown name, an unknown option or a bad value. */
int pruner_opts_parse(const json_t *pruner, struct pruner_opts *o, char *err, size_t errlen);

/* Check a study spec's "pruner" object (borrowed, may be NULL); 0, or -1 with a
 * message naming the field. What server/spec.c calls. */
int pruner_validate(const json_t *pruner, char *err, size_t errlen);

/* The best value of curve[0..n) (NAN ignored), NAN when there is none. */
double pruner_best(const struct pruner_point *curve, size_t n, bool maximize);

/* The median of the non-NAN values among v[0..n) (reordered in place), the
 * mean of the two middle ones when their number is even; NAN when none. */
double pruner_median_of(double *v, size_t n);

/* Median pruner, as Optuna's MedianPruner: judged at the curve's last step S
 * only when at least n_startup_trials trials are completed, S >= n_warmup_steps,
 * and S is the first report at or after a judging step (n_warmup_steps + k *
 * interval_steps), so a curve that skips steps is still judged once per
 * interval. True when a judgement is due: the caller then gathers the other
 * trials' values at S. */
bool pruner_median_due(const struct pruner_opts *o, const struct pruner_point *curve, size_t n,
                       long n_completed);

/* Median pruner decision at the curve's last step S: prune when the trial's best
 * value over its whole curve is worse than the median of others[0..n_others),
 * the other trials' values at S. As in Optuna, the trial's own best so far is
 * compared with the others' values at S (not with their best so far), which
 * spares a noisy curve that was once good. NAN entries of others are ignored;
 * fewer than n_min_trials values left: continue. A trial with no finite value at
 * all is pruned. Includes pruner_median_due(). others is reordered. */
bool pruner_median_decide(const struct pruner_opts *o, bool maximize,
                          const struct pruner_point *curve, size_t n, long n_completed,
                          double *others, size_t n_others);

/* The step of ASHA rung k: min_resource * reduction_factor^(min_early_stopping_rate
 * + k); -1 when it does not fit in a long long. */
long long pruner_asha_rung_step(const struct pruner_opts *o, long k);

/* The rungs the report at step (one of the curve's points) reaches for the
 * first time: those whose rung step lies after the trial's previous report and
 * at or before step. Writes their numbers, ascending, into rungs[0..max) and
 * returns how many. A late report (step before the trial's latest) reaches none:
 * the trial was judged when its later report crossed those rungs. */
size_t pruner_asha_rungs(const struct pruner_opts *o, const struct pruner_point *curve, size_t n,
                         long long step, long *rungs, size_t max);

/* ASHA promotion test at one rung, as Optuna's SuccessiveHalvingPruner: value
 * goes on when it ranks in the top floor(m / rf) of the m values recorded at the
 * rung (others[0..n_others) and itself), or is the best of them while m < rf.
 * Ties go on. NAN values (diverged trials) count as the worst; a NAN value
 * itself never goes on. */
bool pruner_asha_promotable(long reduction_factor, bool maximize, double value,
                            const double *others, size_t n_others);

/* Patience pruner decision at the curve's last step S (nothing before
 * n_warmup_steps): prune when threshold is set and the value at S is worse than
 * it (or NAN), or when patience > 0 and no report in the last patience steps
 * (S - patience, S] beats the best value reported at or before S - patience by
 * more than min_delta. As Keras's EarlyStopping: best at step 1, then steps 2,
 * 3, 4 no better, patience 3: pruned at step 4. A stalled trial is spared when
 * its best so far is no worse than best_completed, the study's best completed
 * value, or when no trial completed yet (best_completed NAN): it may become the
 * study's best, so it runs to its end (a pruned trial never counts as the
 * study's best). */
bool pruner_patience_decide(const struct pruner_opts *o, bool maximize,
                            const struct pruner_point *curve, size_t n, double best_completed);

/* The step a trial ends at: max_resource when given, else learned (the longest
 * completed trial's last step, 0 when none is known yet). */
long long pruner_max_resource(const struct pruner_opts *o, long long learned);

/* ASHA's first rung when min_resource is not given: max(1, floor(max_resource /
 * rf^2)), so that the third rung, min_resource * rf^2, falls at or just before
 * the last step and every trial passes at most three judgements (30 steps, rf
 * 4: rungs 1, 4, 16; 100 steps: 6, 24, 96). 0 while max_resource is unknown:
 * no judgement until then, as Optuna's "auto". The given min_resource when set. */
long long pruner_asha_min_resource(const struct pruner_opts *o, long long max_resource);

/* Number of Hyperband brackets: floor(log_rf(max_resource / min_resource)) + 1,
 * at least 1; 0 while max_resource is unknown (<= 0). */
long pruner_hyperband_brackets(const struct pruner_opts *o, long long max_resource);

/* The bracket of trial number, 0 to brackets - 1: a hash of the number spread
 * over the brackets in proportion to Hyperband's trial counts, (B / (B - i)) *
 * rf^(B - 1 - i) for bracket i of B, so that the aggressive brackets (early
 * first rung) get more trials. Bracket i is successive halving whose first rung
 * is min_resource * rf^i; a trial is compared only with trials of its bracket. */
long pruner_hyperband_bracket(const struct pruner_opts *o, long brackets, long long number);

/* The options of the successive-halving pruner that runs bracket b: kind
 * PRUNER_ASHA, min_early_stopping_rate b. */
struct pruner_opts pruner_hyperband_asha(const struct pruner_opts *o, long b);

/* The value to beat: the k-th best of the completed trials' final values
 * finals[0..n) (NAN ignored; reordered), with k from top_k; the worst of them
 * when fewer than k; NAN when none. *rank gets the k used. */
double pruner_curve_reference(const struct pruner_opts *o, bool maximize, double *finals, size_t n,
                              long *rank);

/* The completed trials' evidence at one step: how their value there went on
 * to their final value. */
struct pruner_pairs {
    const double *xy; /* 2 n entries: pair i is xy[2i], the value at the step (the
                         latest report at or before it), and xy[2i + 1], the final
                         value; a pair with a NAN is skipped */
    size_t n;         /* pairs */
};

/* Fewest usable pairs for the cross-trial fit: a parabola's three
 * parameters and one degree of freedom left for its error. */
#define PRUNER_CURVE_MIN_PAIRS 4

/* The learning-curve ensemble's standard deviation is too narrow for a
 * pruning decision: over the 7,734 curves of 100 seeds of both bench-pruning
 * tasks (diverged runs left out), extrapolated from 5, 8, 12 and 20 points,
 * 22% (MLP) and 15% (synthetic) of the final values fell more than 1.645 sd
 * below the prediction, where a calibrated interval puts 5%; with the sd
 * doubled, 9.3% and 4.9% (make bench-pruning prints this table). A too
 * narrow interval there stops the trials that end best, so the pruner
 * doubles it. */
#define PRUNER_CURVE_OWN_SD_SCALE 2.0

/* The cross-trial fit: least squares of the final values on a parabola in
 * the values at the step over the pairs (on a log scale when now, ref and
 * every value are positive; a line when the values at the step take two
 * distinct values), and the chance that a trial worth now at the step ends
 * better than ref, from the fit's prediction interval. When the study's
 * curves keep their order the fit is tight and judges early; when they cross
 * (slow starters end best) it is flat or bends and is wide, and spares them;
 * the parabola also lets a middle band end best (too fast a start overfits,
 * too slow never gets there). A trial behind every pair at the step gets no
 * estimate: the pairs show nothing of how so slow a start ends (where the
 * completed trials all started fast, the slowest starter may end best).
 * 0 with *p and *predicted (on the values' scale), or -1 when fewer than
 * PRUNER_CURVE_MIN_PAIRS pairs, no spread in their values at the step, or
 * the trial is behind them all. */
int pruner_curve_cross(const struct pruner_pairs *pairs, bool maximize, double now, double ref,
                       double *p, double *predicted);

/* Curve pruner decision at the curve's last step S. Two estimates of the
 * chance that the final value beats the k-th best completed value
 * (finals[0..n_finals), reordered): the trial's own curve, the learning-curve
 * ensemble (curvefit.h) fitted to its reports and extrapolated to max_step,
 * once it has min_points finite reports, its sd times
 * PRUNER_CURVE_OWN_SD_SCALE; and the cross-trial fit
 * (pruner_curve_cross) through the completed trials' pairs at S (pairs may be
 * NULL). The trial is pruned when every estimate there is below p_threshold:
 * the fit alone judges before min_points (unless the trial is behind every
 * completed trial at S: then only its own curve, once it has min_points),
 * and a curve whose own fit looks hopeless goes on while trials of its kind
 * ended well. Judged only when at least n_startup_trials trials completed,
 * S >= n_warmup_steps and S < max_step. A curve whose latest report is NAN
 * while others are finite is pruned (it diverged). Fills v (p: the larger
 * estimate); returns v->prune. */
bool pruner_curve_decide(const struct pruner_opts *o, bool maximize,
                         const struct pruner_point *curve, size_t n, double *finals,
                         size_t n_finals, const struct pruner_pairs *pairs, long long max_step,
                         struct pruner_verdict *v);

#endif
