#include <config.h>

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "sampler.h"
#include "sobol.h"
#include "space.h"
#include "tpe.h"

/* ---- helpers ---- */

static struct space *parse_space(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_msg(j != NULL, "bad test space: %s", jerr.text);
    char err[256];
    struct space *s = space_parse(j, err, sizeof err);
    ck_assert_msg(s != NULL, "space rejected: %s", err);
    json_decref(j);
    return s;
}

/* A growing study: configurations it owns, and the obs rows that borrow them. */
struct study {
    json_t **cfg;     /* owned */
    struct obs *hist; /* finished */
    size_t n;         /* finished entries */
    struct obs *pend; /* pending */
    size_t npend;     /* pending entries */
    size_t cap;       /* room in each array */
};

static void study_init(struct study *st, size_t cap)
{
    st->cfg = calloc(2 * cap, sizeof *st->cfg);
    st->hist = calloc(cap, sizeof *st->hist);
    st->pend = calloc(cap, sizeof *st->pend);
    st->n = st->npend = 0;
    st->cap = cap;
    ck_assert(st->cfg && st->hist && st->pend);
}

static void study_release(struct study *st)
{
    for (size_t i = 0; i < 2 * st->cap; i++)
        json_decref(st->cfg[i]);
    free(st->cfg);
    free(st->hist);
    free(st->pend);
}

static long study_next(const struct study *st)
{
    return (long)(st->n + st->npend);
}

/* Take cfg (new reference) into the study as finished. */
static void study_finish(struct study *st, json_t *cfg, double value, enum obs_state state)
{
    ck_assert(st->n < st->cap);
    long number = study_next(st);
    st->cfg[number] = cfg;
    st->hist[st->n++] = (struct obs){cfg, value, state, number};
}

static void study_pend(struct study *st, json_t *cfg)
{
    ck_assert(st->npend < st->cap);
    long number = study_next(st);
    st->cfg[number] = cfg;
    st->pend[st->npend++] = (struct obs){cfg, NAN, OBS_PENDING, number};
}

static struct sampler_ctx study_ctx(const struct study *st, const struct space *s, uint64_t seed,
                                    const json_t *options)
{
    struct sampler_ctx c = {.space = s,
                            .history = st->hist,
                            .n_history = st->n,
                            .pending = st->pend,
                            .n_pending = st->npend,
                            .seed = seed,
                            .next_number = study_next(st),
                            .options = options};
    return c;
}

static json_t *propose1(const char *name, const struct sampler_ctx *c)
{
    json_t *out[1] = {NULL};
    char err[256] = "";
    int rc = sampler_propose(name, c, 1, out, err, sizeof err);
    ck_assert_msg(rc == 0, "%s failed: %s", name, err);
    ck_assert(out[0] != NULL);
    return out[0];
}

static double num(const json_t *cfg, const char *name)
{
    const json_t *v = json_object_get(cfg, name);
    ck_assert_msg(json_is_number(v), "%s missing", name);
    return json_number_value(v);
}

static void assert_valid(const struct space *s, const json_t *cfg, const char *who)
{
    char err[256] = "";
    json_t *norm = space_check(s, cfg, err, sizeof err);
    if (!norm) {
        char *d = json_dumps(cfg, JSON_COMPACT);
        ck_abort_msg("%s proposed an invalid configuration %s: %s", who, d ? d : "?", err);
    }
    json_decref(norm);
}

/* ---- random spaces ---- */

static const char *const sampler_list[] = {"random", "sobol", "tpe"};

/* A random space of 1..8 parameters covering every type, log and step, and
 * conditions on earlier categorical or int parameters. New reference. */
static json_t *random_space(struct rng *r)
{
    json_t *params = json_array();
    size_t n = 1 + rng_below(r, 8);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%zu", i);
        json_t *p = json_pack("{s:s}", "name", name);
        switch (rng_below(r, 6)) {
        case 0: { /* float, maybe log */
            bool lg = rng_below(r, 2);
            double lo = lg ? pow(10, -3 + 3 * rng_uniform(r)) : -10 + 10 * rng_uniform(r);
            double hi =
                lg ? lo * pow(10, 0.5 + 4 * rng_uniform(r)) : lo + 0.1 + 20 * rng_uniform(r);
            json_object_set_new(p, "type", json_string("float"));
            json_object_set_new(p, "low", json_real(lo));
            json_object_set_new(p, "high", json_real(hi));
            json_object_set_new(p, "log", json_boolean(lg));
            break;
        }
        case 1: {                                       /* float on a step grid */
            double step = rng_below(r, 2) ? 0.5 : 0.25; /* exact in binary */
            double lo = (double)rng_below(r, 5) * step;
            json_object_set_new(p, "type", json_string("float"));
            json_object_set_new(p, "low", json_real(lo));
            json_object_set_new(p, "high", json_real(lo + step * (double)(1 + rng_below(r, 12))));
            json_object_set_new(p, "step", json_real(step));
            break;
        }
        case 2: { /* int, maybe log, maybe step */
            bool lg = rng_below(r, 3) == 0;
            json_int_t lo =
                lg ? 1 + (json_int_t)rng_below(r, 4) : -5 + (json_int_t)rng_below(r, 10);
            json_int_t step = lg ? 1 : 1 + (json_int_t)rng_below(r, 3);
            json_int_t hi = lo + step * (json_int_t)(1 + rng_below(r, lg ? 500 : 8));
            json_object_set_new(p, "type", json_string("int"));
            json_object_set_new(p, "low", json_integer(lo));
            json_object_set_new(p, "high", json_integer(hi));
            if (lg)
                json_object_set_new(p, "log", json_true());
            else if (step > 1)
                json_object_set_new(p, "step", json_integer(step));
            break;
        }
        case 3: /* categorical of strings */
            json_object_set_new(p, "type", json_string("categorical"));
            json_object_set_new(p, "choices",
                                rng_below(r, 2) ? json_pack("[sss]", "a", "b", "c")
                                                : json_pack("[s]", "only"));
            break;
        case 4: /* categorical of numbers and booleans */
            json_object_set_new(p, "type", json_string("categorical"));
            json_object_set_new(p, "choices",
                                rng_below(r, 2) ? json_pack("[ifi]", 16, 0.5, 64)
                                                : json_pack("[bb]", 1, 0));
            break;
        default:
            json_object_set_new(p, "type", json_string("code"));
            json_object_set_new(p, "language", json_string("python"));
            json_object_set_new(p, "baseline", json_string("def build():\n    return 1\n"));
            break;
        }
        /* maybe a condition on an earlier categorical parameter */
        if (i > 0 && rng_below(r, 2)) {
            size_t parent = rng_below(r, i);
            json_t *pp = json_array_get(params, parent);
            const char *pt = json_string_value(json_object_get(pp, "type"));
            if (strcmp(pt, "categorical") == 0) {
                json_t *ch = json_object_get(pp, "choices");
                json_t *vals = json_array();
                json_array_append(vals, json_array_get(ch, rng_below(r, json_array_size(ch))));
                json_object_set_new(
                    p, "when",
                    json_pack("{s:o}", json_string_value(json_object_get(pp, "name")), vals));
            } else if (strcmp(pt, "int") == 0) {
                json_t *lo = json_object_get(pp, "low");
                json_object_set_new(
                    p, "when",
                    json_pack("{s:[O]}", json_string_value(json_object_get(pp, "name")), lo));
            }
        }
        json_array_append_new(params, p);
    }
    return params;
}

/* ---- tests ---- */

START_TEST(test_table)
{
    for (size_t i = 0; i < sizeof sampler_list / sizeof sampler_list[0]; i++) {
        const struct sampler_ops *ops = sampler_find(sampler_list[i]);
        ck_assert_msg(ops != NULL, "sampler %s not registered", sampler_list[i]);
        ck_assert_str_eq(ops->name, sampler_list[i]);
    }
    ck_assert_ptr_eq(sampler_find("tpe"), &sampler_tpe_ops);
}
END_TEST

/* Every proposal on many random spaces, with mixed histories, pending trials and
 * batches, passes space_check. */
START_TEST(test_property_valid)
{
    struct rng r;
    rng_seed(&r, 20240501);
    for (int round = 0; round < 60; round++) {
        json_t *pj = random_space(&r);
        char err[256];
        struct space *s = space_parse(pj, err, sizeof err);
        if (!s) {
            char *d = json_dumps(pj, JSON_COMPACT);
            ck_abort_msg("generated space rejected: %s: %s", err, d ? d : "?");
        }
        for (size_t si = 0; si < sizeof sampler_list / sizeof sampler_list[0]; si++) {
            const char *name = sampler_list[si];
            struct study st;
            study_init(&st, 64);
            for (int t = 0; t < 30; t++) {
                struct sampler_ctx c = study_ctx(&st, s, (uint64_t)round, NULL);
                size_t k = (t % 7 == 3) ? 3 : 1;
                json_t *out[3] = {NULL, NULL, NULL};
                int rc = sampler_propose(name, &c, k, out, err, sizeof err);
                ck_assert_msg(rc == 0, "%s failed: %s", name, err);
                for (size_t q = 0; q < k; q++) {
                    assert_valid(s, out[q], name);
                    double v = rng_uniform(&r);
                    unsigned kind = (unsigned)rng_below(&r, 10);
                    if (t % 5 == 4 && st.npend < 6)
                        study_pend(&st, out[q]);
                    else if (kind == 0)
                        study_finish(&st, out[q], NAN, OBS_FAILED);
                    else if (kind == 1)
                        study_finish(&st, out[q], v, OBS_PRUNED);
                    else if (kind == 2)
                        study_finish(&st, out[q], NAN, OBS_PRUNED);
                    else
                        study_finish(&st, out[q], v, OBS_COMPLETED);
                }
            }
            study_release(&st);
        }
        space_free(s);
        json_decref(pj);
    }
}
END_TEST

static const char *mixed_space =
    "[{\"name\": \"lr\", \"type\": \"float\", \"low\": 1e-4, \"high\": 1, \"log\": true},"
    " {\"name\": \"layers\", \"type\": \"int\", \"low\": 1, \"high\": 6},"
    " {\"name\": \"opt\", \"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\"]},"
    " {\"name\": \"momentum\", \"type\": \"float\", \"low\": 0, \"high\": 0.99,"
    "  \"when\": {\"opt\": [\"sgd\"]}},"
    " {\"name\": \"drop\", \"type\": \"float\", \"low\": 0, \"high\": 0.5, \"step\": 0.05}]";

/* A deterministic objective on mixed_space, lower is better. */
static double mixed_value(const json_t *cfg)
{
    double v = pow(log10(num(cfg, "lr")) + 2, 2) + 0.1 * fabs(num(cfg, "layers") - 3) +
               fabs(num(cfg, "drop") - 0.2);
    const char *opt = json_string_value(json_object_get(cfg, "opt"));
    if (strcmp(opt, "sgd") == 0)
        v += 0.5 * fabs(num(cfg, "momentum") - 0.9);
    return v;
}

/* Run name for n trials on mixed_space with the given seed; the configurations
 * of the run are dumped into out (new allocation). */
static char *run_mixed(const char *name, uint64_t seed, int n)
{
    struct space *s = parse_space(mixed_space);
    struct study st;
    study_init(&st, (size_t)n);
    json_t *all = json_array();
    for (int t = 0; t < n; t++) {
        struct sampler_ctx c = study_ctx(&st, s, seed, NULL);
        json_t *cfg = propose1(name, &c);
        json_array_append(all, cfg);
        study_finish(&st, cfg, mixed_value(cfg), OBS_COMPLETED);
    }
    char *d = json_dumps(all, JSON_COMPACT);
    json_decref(all);
    study_release(&st);
    space_free(s);
    return d;
}

START_TEST(test_same_seed_same_proposals)
{
    const char *name = sampler_list[_i];
    char *a = run_mixed(name, 11, 25);
    char *b = run_mixed(name, 11, 25);
    ck_assert_msg(strcmp(a, b) == 0, "%s: two runs with seed 11 differ", name);
    char *c = run_mixed(name, 12, 25);
    ck_assert_msg(strcmp(a, c) != 0, "%s: seeds 11 and 12 gave the same run", name);
    free(a);
    free(b);
    free(c);
}
END_TEST

/* The history decides TPE proposals: the same study state gives the same answer
 * whether asked once or again after unrelated calls (no hidden state). */
START_TEST(test_tpe_stateless)
{
    struct space *s = parse_space(mixed_space);
    struct study st;
    study_init(&st, 40);
    for (int t = 0; t < 20; t++) {
        struct sampler_ctx c = study_ctx(&st, s, 3, NULL);
        json_t *cfg = propose1("tpe", &c);
        study_finish(&st, cfg, mixed_value(cfg), OBS_COMPLETED);
    }
    struct sampler_ctx c = study_ctx(&st, s, 3, NULL);
    json_t *a = propose1("tpe", &c);
    struct sampler_ctx other = study_ctx(&st, s, 99, NULL);
    json_decref(propose1("tpe", &other));
    json_t *b = propose1("tpe", &c);
    ck_assert(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    study_release(&st);
    space_free(s);
}
END_TEST

static const char *square_space =
    "[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1},"
    " {\"name\": \"y\", \"type\": \"float\", \"low\": 0, \"high\": 1}]";

static double square_value(const json_t *cfg)
{
    return pow(num(cfg, "x") - 0.3, 2) + pow(num(cfg, "y") - 0.6, 2);
}

/* Pending trials change the TPE proposal (constant liar): trials being
 * evaluated right next to where it would propose push the proposal elsewhere. */
START_TEST(test_tpe_pending)
{
    struct space *s = parse_space(square_space);
    struct study st;
    study_init(&st, 64);
    for (int t = 0; t < 30; t++) {
        struct sampler_ctx c = study_ctx(&st, s, 5, NULL);
        json_t *cfg = propose1("tpe", &c);
        study_finish(&st, cfg, square_value(cfg), OBS_COMPLETED);
    }
    long next = study_next(&st);
    struct sampler_ctx c = study_ctx(&st, s, 5, NULL);
    json_t *alone = propose1("tpe", &c);
    for (int q = 0; q < 3; q++) {
        double dx = 0.004 * (q - 1) + 0.001, dy = 0.003 * (1 - q) + 0.001; /* none equal */
        study_pend(&st,
                   json_pack("{s:f,s:f}", "x", num(alone, "x") + dx, "y", num(alone, "y") + dy));
    }
    c = study_ctx(&st, s, 5, NULL);
    c.next_number = next; /* the same stream as before */
    json_t *with = propose1("tpe", &c);
    double d = hypot(num(with, "x") - num(alone, "x"), num(with, "y") - num(alone, "y"));
    ck_assert_msg(d > 0.01, "pending trials around the proposal moved it by only %g", d);
    json_decref(with);
    json_decref(alone);
    study_release(&st);
    space_free(s);
}
END_TEST

/* A batch of k is what k single asks give when the earlier proposals are
 * pending, and its members differ. */
START_TEST(test_tpe_batch_is_liar)
{
    struct space *s = parse_space(square_space);
    struct study st;
    study_init(&st, 64);
    for (int t = 0; t < 25; t++) {
        struct sampler_ctx c = study_ctx(&st, s, 6, NULL);
        json_t *cfg = propose1("tpe", &c);
        study_finish(&st, cfg, square_value(cfg), OBS_COMPLETED);
    }
    json_t *batch[8];
    char err[256];
    struct sampler_ctx c = study_ctx(&st, s, 6, NULL);
    ck_assert_int_eq(sampler_propose("tpe", &c, 8, batch, err, sizeof err), 0);
    for (int i = 0; i < 8; i++) {
        c = study_ctx(&st, s, 6, NULL);
        json_t *one = propose1("tpe", &c);
        ck_assert_msg(json_equal(one, batch[i]), "batch member %d differs from a single ask", i);
        for (int j = 0; j < i; j++)
            ck_assert_msg(!json_equal(batch[i], batch[j]), "batch members %d and %d equal", j, i);
        study_pend(&st, one);
    }
    for (int i = 0; i < 8; i++)
        json_decref(batch[i]);
    study_release(&st);
    space_free(s);
}
END_TEST

/* On a small discrete space a batch still holds distinct configurations, for
 * Sobol and TPE, while distinct ones exist. */
START_TEST(test_batch_distinct_discrete)
{
    const char *name = _i == 0 ? "sobol" : "tpe";
    struct space *s =
        parse_space("[{\"name\": \"a\", \"type\": \"categorical\", \"choices\": [1, 2, 3]},"
                    " {\"name\": \"b\", \"type\": \"categorical\", \"choices\": [true, false]}]");
    struct study st;
    study_init(&st, 32);
    for (int t = 0; t < 12; t++) {
        struct sampler_ctx c = study_ctx(&st, s, 8, NULL);
        json_t *cfg = propose1(name, &c);
        study_finish(&st, cfg, json_integer_value(json_object_get(cfg, "a")), OBS_COMPLETED);
    }
    json_t *out[4];
    char err[256];
    struct sampler_ctx c = study_ctx(&st, s, 8, NULL);
    ck_assert_int_eq(sampler_propose(name, &c, 4, out, err, sizeof err), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++)
            ck_assert_msg(!json_equal(out[i], out[j]), "%s: batch proposals %d and %d equal", name,
                          j, i);
    for (int i = 0; i < 4; i++)
        json_decref(out[i]);
    study_release(&st);
    space_free(s);
}
END_TEST

/* Trials that fail in one region steer TPE away from it. */
START_TEST(test_tpe_avoids_failures)
{
    struct space *s =
        parse_space("[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1}]");
    struct study st;
    study_init(&st, 80);
    int late_bad = 0;
    for (int t = 0; t < 60; t++) {
        struct sampler_ctx c = study_ctx(&st, s, 21, NULL);
        json_t *cfg = propose1("tpe", &c);
        double x = num(cfg, "x");
        /* the best values would be near 0, but everything below 0.4 fails */
        if (x < 0.4) {
            if (t >= 30)
                late_bad++;
            study_finish(&st, cfg, NAN, OBS_FAILED);
        } else {
            study_finish(&st, cfg, x, OBS_COMPLETED);
        }
    }
    /* ignoring failures would put nearly all of them there */
    ck_assert_msg(late_bad <= 10, "%d of the last 30 proposals fell in the failing region",
                  late_bad);
    study_release(&st);
    space_free(s);
}
END_TEST

/* Pruned trials rank below completed ones, even with better last values. */
START_TEST(test_tpe_pruned_rank_below)
{
    struct space *s =
        parse_space("[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1}]");
    struct study st;
    study_init(&st, 64);
    struct rng r;
    rng_seed(&r, 4);
    for (int t = 0; t < 40; t++) {
        double x = rng_uniform(&r);
        json_t *cfg = json_pack("{s:f}", "x", x);
        if (x > 0.7)
            study_finish(&st, cfg, -100 + x, OBS_PRUNED); /* looked great, then cut */
        else
            study_finish(&st, cfg, fabs(x - 0.2), OBS_COMPLETED);
    }
    int near = 0;
    for (int q = 0; q < 10; q++) {
        struct sampler_ctx c = study_ctx(&st, s, (uint64_t)q, NULL);
        json_t *cfg = propose1("tpe", &c);
        if (fabs(num(cfg, "x") - 0.2) < 0.15)
            near++;
        json_decref(cfg);
    }
    ck_assert_msg(near >= 8, "only %d of 10 proposals near the best completed trial", near);
    study_release(&st);
    space_free(s);
}
END_TEST

/* Pruned trials as weaker evidence: the value and weight the models use. */
START_TEST(test_pruned_evidence)
{
    json_t *a = json_pack("{s:f}", "x", 0.1), *b = json_pack("{s:f}", "x", 0.2),
           *c = json_pack("{s:f}", "x", 0.3);
    struct obs h[3] = {
        {a, 0.2, OBS_COMPLETED, 0}, {b, 0.4, OBS_COMPLETED, 1}, {c, 0.9, OBS_PRUNED, 2}};
    struct obs_mf mf[3] = {{0, NAN}, {0, NAN}, {0.5, 0.1}};
    struct sampler_ctx ctx = {.history = h, .n_history = 3, .mf = mf};
    double med = obs_median_final(h, 3);
    ck_assert(fabs(med - 0.3) < 1e-12);
    /* half the steps: halfway from the median 0.3 to the estimate 0.1 */
    ck_assert(fabs(obs_pruned_value(&ctx, 2, med) - 0.2) < 1e-12);
    ck_assert(obs_weight(&ctx, 2) == 0.5);
    ck_assert(obs_pruned_value(&ctx, 0, med) == 0.2 && obs_weight(&ctx, 0) == 1);
    mf[2].fidelity = 0.02; /* barely started: a tenth at least */
    ck_assert(obs_weight(&ctx, 2) == 0.1);
    ctx.mf = NULL; /* no estimate: its last value, a quarter of the weight */
    ck_assert(obs_pruned_value(&ctx, 2, med) == 0.9 && obs_weight(&ctx, 2) == 0.25);
    ck_assert(isnan(obs_median_final(h + 2, 1)));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
END_TEST

/* TPE follows pruned trials whose rank at their last step was excellent. */
START_TEST(test_tpe_pruned_multifidelity)
{
    struct space *s =
        parse_space("[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1}]");
    struct study st;
    study_init(&st, 64);
    struct obs_mf mf[64];
    struct rng r;
    rng_seed(&r, 5);
    for (int t = 0; t < 40; t++) {
        double x = rng_uniform(&r);
        json_t *cfg = json_pack("{s:f}", "x", x);
        mf[t] = (struct obs_mf){0, NAN};
        if (x > 0.6) {
            /* stopped halfway while in the lead: slow here, best at the end */
            mf[t] = (struct obs_mf){0.5, 0.05 + 0.01 * (x - 0.8) * (x - 0.8)};
            study_finish(&st, cfg, 0.9, OBS_PRUNED);
        } else {
            study_finish(&st, cfg, 0.3 + fabs(x - 0.2), OBS_COMPLETED);
        }
    }
    int high[2] = {0, 0};
    for (int with = 0; with < 2; with++)
        for (int q = 0; q < 10; q++) {
            struct sampler_ctx c = study_ctx(&st, s, (uint64_t)q, NULL);
            c.mf = with ? mf : NULL;
            json_t *cfg = propose1("tpe", &c);
            high[with] += num(cfg, "x") > 0.6;
            json_decref(cfg);
        }
    ck_assert_msg(high[1] >= 8 && high[0] <= 2,
                  "proposals above 0.6: %d with the estimates, %d without", high[1], high[0]);
    study_release(&st);
    space_free(s);
}
END_TEST

/* TPE learns a categorical preference. */
START_TEST(test_tpe_categorical)
{
    struct space *s = parse_space(
        "[{\"name\": \"c\", \"type\": \"categorical\", \"choices\": [\"a\", \"b\", \"c\", \"d\"]},"
        " {\"name\": \"x\", \"type\": \"int\", \"low\": 0, \"high\": 20}]");
    struct study st;
    study_init(&st, 64);
    int late_b = 0;
    for (int t = 0; t < 50; t++) {
        struct sampler_ctx c = study_ctx(&st, s, 77, NULL);
        json_t *cfg = propose1("tpe", &c);
        bool is_b = strcmp(json_string_value(json_object_get(cfg, "c")), "b") == 0;
        if (t >= 30 && is_b)
            late_b++;
        study_finish(&st, cfg, (is_b ? 0 : 5) + fabs(num(cfg, "x") - 13), OBS_COMPLETED);
    }
    ck_assert_msg(late_b >= 14, "only %d of the last 20 proposals chose the best category", late_b);
    study_release(&st);
    space_free(s);
}
END_TEST

static double branin(double x1, double x2)
{
    double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
    double u = x2 - b * x1 * x1 + c * x1 - 6;
    return u * u + 10 * (1 - t) * cos(x1) + 10;
}

/* TPE gets within 0.2 of Branin's minimum in 60 trials for 9 of 10 seeds (random
 * search has a median regret of 0.38 after 100 trials; Optuna 3.1's default TPE
 * is within 0.15 after 60 trials in 16 of 20 runs). */
START_TEST(test_tpe_branin)
{
    struct space *s =
        parse_space("[{\"name\": \"x1\", \"type\": \"float\", \"low\": -5, \"high\": 10},"
                    " {\"name\": \"x2\", \"type\": \"float\", \"low\": 0, \"high\": 15}]");
    int hits = 0;
    char report[512] = "";
    for (uint64_t seed = 0; seed < 10; seed++) {
        struct study st;
        study_init(&st, 60);
        double best = INFINITY;
        for (int t = 0; t < 60; t++) {
            struct sampler_ctx c = study_ctx(&st, s, seed, NULL);
            json_t *cfg = propose1("tpe", &c);
            double y = branin(num(cfg, "x1"), num(cfg, "x2"));
            best = fmin(best, y);
            study_finish(&st, cfg, y, OBS_COMPLETED);
        }
        double regret = best - 0.397887;
        size_t len = strlen(report);
        snprintf(report + len, sizeof report - len, " %.3g", regret);
        if (regret < 0.2)
            hits++;
        study_release(&st);
    }
    ck_assert_msg(hits >= 9, "regret below 0.2 in only %d of 10 seeds:%s", hits, report);
    space_free(s);
}
END_TEST

/* Each coordinate of the first 2^m points holds one point per interval of
 * width 2^-m (the one-dimensional projections are nets), for every dimension. */
START_TEST(test_sobol_stratified)
{
    enum { M = 7, N = 1 << M, DIM = SOBOL_MAX_DIM };
    static double pts[N][DIM];
    for (int i = 0; i < N; i++)
        sobol_point(DIM, (uint64_t)i, 42, pts[i]);
    for (int j = 0; j < DIM; j++) {
        int count[N] = {0};
        for (int i = 0; i < N; i++) {
            ck_assert(pts[i][j] > 0 && pts[i][j] < 1);
            count[(int)(pts[i][j] * N)]++;
        }
        for (int b = 0; b < N; b++)
            ck_assert_msg(count[b] == 1, "dimension %d: %d points in cell %d", j, count[b], b);
    }
    /* the first two dimensions form a (0, 7, 2)-net: every elementary box of
     * volume 2^-7 holds exactly one point */
    for (int a = 0; a <= M; a++) {
        int na = 1 << a, nb = 1 << (M - a);
        int *count = calloc((size_t)N, sizeof *count);
        for (int i = 0; i < N; i++)
            count[(int)(pts[i][0] * na) * nb + (int)(pts[i][1] * nb)]++;
        for (int b = 0; b < N; b++)
            ck_assert_msg(count[b] == 1, "box %d of the %dx%d grid holds %d points", b, na, nb,
                          count[b]);
        free(count);
    }
    /* a different seed scrambles differently; the coordinates do not depend on
     * how many dimensions are asked for */
    double a3[3], b3[3], one[1];
    sobol_point(3, 5, 42, a3);
    sobol_point(3, 5, 43, b3);
    sobol_point(1, 5, 42, one);
    ck_assert(a3[0] != b3[0] && a3[1] != b3[1]);
    ck_assert(one[0] == a3[0]);
}
END_TEST

/* L2 star discrepancy of n points in [0,1]^2 (Warnock's formula). */
static double l2_star(double (*p)[2], int n)
{
    double s1 = 0, s2 = 0;
    for (int i = 0; i < n; i++)
        s1 += (1 - p[i][0] * p[i][0]) * (1 - p[i][1] * p[i][1]);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            s2 += (1 - fmax(p[i][0], p[k][0])) * (1 - fmax(p[i][1], p[k][1]));
    return sqrt(1.0 / 9 - s1 / (2.0 * n) + s2 / ((double)n * n));
}

/* The Sobol sampler covers the square more evenly than the random sampler. */
START_TEST(test_sobol_beats_random)
{
    enum { N = 128 };
    struct space *s = parse_space(square_space);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double disc[2];
        for (int w = 0; w < 2; w++) {
            static double pts[N][2];
            struct study st;
            study_init(&st, N);
            for (int i = 0; i < N; i++) {
                struct sampler_ctx c = study_ctx(&st, s, seed, NULL);
                json_t *cfg = propose1(w == 0 ? "sobol" : "random", &c);
                pts[i][0] = num(cfg, "x");
                pts[i][1] = num(cfg, "y");
                study_finish(&st, cfg, 0, OBS_COMPLETED);
            }
            disc[w] = l2_star(pts, N);
            study_release(&st);
        }
        ck_assert_msg(disc[0] < 0.5 * disc[1], "seed %d: sobol %g, random %g", (int)seed, disc[0],
                      disc[1]);
    }
    space_free(s);
}
END_TEST

/* The start-up phase is the Sobol design; the first point is not a corner. */
START_TEST(test_tpe_startup_is_sobol)
{
    struct space *s = parse_space(square_space);
    struct study st;
    study_init(&st, 8);
    for (int t = 0; t < 4; t++) {
        struct sampler_ctx c = study_ctx(&st, s, 9, NULL);
        json_t *a = propose1("tpe", &c);
        json_t *b = propose1("sobol", &c);
        ck_assert(json_equal(a, b));
        ck_assert(num(a, "x") > 0 && num(a, "x") < 1 && num(a, "y") > 0 && num(a, "y") < 1);
        json_decref(b);
        study_finish(&st, a, square_value(a), OBS_COMPLETED);
    }
    study_release(&st);
    space_free(s);
}
END_TEST

START_TEST(test_tpe_options)
{
    struct space *s = parse_space(square_space);
    struct tpe_options o;
    char err[256];
    tpe_options_init(&o, s);
    ck_assert_int_eq(o.n_startup, 5);
    json_t *good = json_pack("{s:s,s:i,s:f,s:b}", "name", "tpe", "n_startup", 3, "gamma", 0.2,
                             "multivariate", 0);
    ck_assert_int_eq(tpe_options_parse(&o, good, err, sizeof err), 0);
    ck_assert_int_eq(o.n_startup, 3);
    ck_assert(!o.multivariate);
    json_t *bad = json_pack("{s:f}", "gamma", 2.0);
    ck_assert_int_eq(tpe_options_parse(&o, bad, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "gamma") != NULL, "message does not name the key: %s", err);
    /* a bad tuning key makes the sampler fail with that message */
    struct study st;
    study_init(&st, 4);
    struct sampler_ctx c = study_ctx(&st, s, 1, bad);
    json_t *out[1];
    ck_assert_int_eq(sampler_propose("tpe", &c, 1, out, err, sizeof err), -1);
    json_decref(good);
    json_decref(bad);
    study_release(&st);
    space_free(s);
}
END_TEST

static Suite *samplers_suite(void)
{
    Suite *s = suite_create("samplers");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_property_valid);
    tcase_add_loop_test(tc, test_same_seed_same_proposals, 0,
                        (int)(sizeof sampler_list / sizeof sampler_list[0]));
    tcase_add_test(tc, test_tpe_stateless);
    tcase_add_test(tc, test_tpe_pending);
    tcase_add_test(tc, test_tpe_batch_is_liar);
    tcase_add_loop_test(tc, test_batch_distinct_discrete, 0, 2);
    tcase_add_test(tc, test_tpe_avoids_failures);
    tcase_add_test(tc, test_tpe_pruned_rank_below);
    tcase_add_test(tc, test_pruned_evidence);
    tcase_add_test(tc, test_tpe_pruned_multifidelity);
    tcase_add_test(tc, test_tpe_categorical);
    tcase_add_test(tc, test_tpe_branin);
    tcase_add_test(tc, test_sobol_stratified);
    tcase_add_test(tc, test_sobol_beats_random);
    tcase_add_test(tc, test_tpe_startup_is_sobol);
    tcase_add_test(tc, test_tpe_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(samplers_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
