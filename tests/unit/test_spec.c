#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "spec.h"

#define PARAMS "\"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1}]"
#define MIN    "\"name\": \"s1\", " PARAMS

static json_t *J(const char *text)
{
    char err[256];
    json_t *v = json_parse_text(text, strlen(text), err, sizeof err);
    ck_assert_msg(v != NULL, "bad test JSON: %s: %s", err, text);
    return v;
}

static struct spec *parse_ok(const char *text)
{
    char err[512] = "";
    json_t *v = J(text);
    struct spec *s = spec_parse(v, err, sizeof err);
    ck_assert_msg(s != NULL, "spec_parse failed: %s (for %s)", err, text);
    json_decref(v);
    return s;
}

static void parse_fails(const char *text, const char *want1, const char *want2)
{
    char err[512] = "";
    json_t *v = J(text);
    struct spec *s = spec_parse(v, err, sizeof err);
    ck_assert_msg(s == NULL, "spec_parse accepted %s", text);
    ck_assert_msg(strstr(err, want1) != NULL, "message \"%s\" lacks \"%s\"", err, want1);
    if (want2)
        ck_assert_msg(strstr(err, want2) != NULL, "message \"%s\" lacks \"%s\"", err, want2);
    json_decref(v);
}

START_TEST(defaults)
{
    struct spec *s = parse_ok("{" MIN "}");
    ck_assert_str_eq(s->name, "s1");
    ck_assert_str_eq(s->description, "");
    ck_assert_str_eq(s->objective, "value");
    ck_assert(!s->maximize);
    ck_assert_uint_eq(s->space->n, 1);
    ck_assert_str_eq(s->sampler, "auto");
    ck_assert_ptr_null(s->llm);
    ck_assert_str_eq(s->pruner, "none");
    ck_assert_int_eq(s->max_trials, 100);
    ck_assert_int_eq(s->max_parallel, 8);
    ck_assert_int_eq(s->max_failures, 10);
    ck_assert(s->trial_timeout_s == 3600);
    ck_assert(s->heartbeat_s == 30);
    ck_assert_int_eq(s->stale_after, 2);
    ck_assert_int_eq(s->max_retries, 2);
    /* the stored form carries every default */
    json_t *want = J("{\"name\": \"s1\", \"description\": \"\","
                     " \"objective\": {\"name\": \"value\", \"direction\": \"minimize\"}, " PARAMS
                     ", \"sampler\": {\"name\": \"auto\", \"seed\": 0},"
                     " \"pruner\": {\"name\": \"none\"},"
                     " \"budget\": {\"max_trials\": 100, \"max_parallel\": 8, \"max_failures\": 10,"
                     "  \"trial_timeout_s\": 3600},"
                     " \"lease\": {\"heartbeat_s\": 30, \"stale_after\": 2, \"max_retries\": 2}}");
    json_object_set_new(json_object_get(want, "sampler"), "seed",
                        json_integer((json_int_t)s->seed));
    ck_assert_msg(json_equal(want, s->json), "got %s", json_dumps(s->json, JSON_COMPACT));
    json_decref(want);
    ck_assert(json_is_integer(json_object_get(json_object_get(s->json, "budget"), "max_trials")));
    spec_free(s);
    spec_free(NULL);
}
END_TEST

START_TEST(seed_from_name)
{
    struct spec *a = parse_ok("{" MIN "}");
    struct spec *b = parse_ok("{" MIN "}");
    struct spec *c = parse_ok("{\"name\": \"s2\", " PARAMS "}");
    ck_assert(a->seed == b->seed);
    ck_assert(a->seed != c->seed);
    ck_assert(a->seed < (1ULL << 53));
    struct spec *d = parse_ok("{" MIN ", \"sampler\": {\"name\": \"tpe\", \"seed\": 7, "
                              "\"n_startup\": 5}}");
    ck_assert(d->seed == 7);
    ck_assert_str_eq(d->sampler, "tpe");
    /* sampler tuning keys are kept for the sampler */
    ck_assert_int_eq(json_integer_value(json_object_get(d->sampler_opts, "n_startup")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(d->sampler_opts, "seed")), 7);
    struct spec *e = parse_ok("{" MIN ", \"sampler\": {\"seed\": 0}}");
    ck_assert(e->seed == 0);
    ck_assert_str_eq(e->sampler, "auto");
    spec_free(a);
    spec_free(b);
    spec_free(c);
    spec_free(d);
    spec_free(e);
}
END_TEST

START_TEST(full_design_example)
{
    struct spec *s = parse_ok(
        "{\"name\": \"svm-digits\", \"description\": \"SVM on digits\","
        " \"objective\": {\"name\": \"val_error\", \"direction\": \"maximize\"},"
        " \"params\": ["
        "  {\"name\": \"C\", \"type\": \"float\", \"low\": 1e-3, \"high\": 1e3, \"log\": true},"
        "  {\"name\": \"kernel\", \"type\": \"categorical\", \"choices\": [\"rbf\", \"poly\"]},"
        "  {\"name\": \"degree\", \"type\": \"int\", \"low\": 2, \"high\": 5, \"when\": "
        "{\"kernel\": [\"poly\"]}}],"
        " \"sampler\": {\"name\": \"llm\", \"seed\": 1},"
        " \"llm\": {\"provider\": \"local\", \"model\": \"m\", \"history\": \"chat\","
        "  \"reasoning\": true, \"batch\": 4, \"init_trials\": 5, \"then\": \"tpe\","
        "  \"max_tokens\": 1000, \"temperature\": 0.7, \"template\": \"t\", \"mode\": \"rank\","
        "  \"candidates\": 8},"
        " \"pruner\": {\"name\": \"median\", \"n_warmup_steps\": 3},"
        " \"budget\": {\"max_trials\": 50, \"max_parallel\": 2, \"max_failures\": 1,"
        "  \"trial_timeout_s\": 0},"
        " \"lease\": {\"heartbeat_s\": 0.5, \"stale_after\": 3, \"max_retries\": 0}}");
    ck_assert_str_eq(s->description, "SVM on digits");
    ck_assert_str_eq(s->objective, "val_error");
    ck_assert(s->maximize);
    ck_assert_uint_eq(s->space->n, 3);
    ck_assert_str_eq(s->sampler, "llm");
    ck_assert(s->seed == 1);
    ck_assert_str_eq(json_string_value(json_object_get(s->llm, "provider")), "local");
    ck_assert_str_eq(json_string_value(json_object_get(s->llm, "history")), "chat");
    ck_assert(json_is_true(json_object_get(s->llm, "reasoning")));
    ck_assert_int_eq(json_integer_value(json_object_get(s->llm, "batch")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(s->llm, "init_trials")), 5);
    ck_assert_str_eq(json_string_value(json_object_get(s->llm, "then")), "tpe");
    ck_assert_int_eq(json_integer_value(json_object_get(s->llm, "max_tokens")), 1000);
    ck_assert_str_eq(json_string_value(json_object_get(s->llm, "mode")), "rank");
    ck_assert_str_eq(s->pruner, "median");
    ck_assert_int_eq(json_integer_value(json_object_get(s->pruner_opts, "n_warmup_steps")), 3);
    ck_assert_int_eq(s->max_trials, 50);
    ck_assert_int_eq(s->max_parallel, 2);
    ck_assert_int_eq(s->max_failures, 1);
    ck_assert(s->trial_timeout_s == 0);
    ck_assert(s->heartbeat_s == 0.5);
    ck_assert_int_eq(s->stale_after, 3);
    ck_assert_int_eq(s->max_retries, 0);
    ck_assert(json_object_get(s->json, "llm") != NULL);
    ck_assert(json_real_value(json_object_get(json_object_get(s->json, "lease"), "heartbeat_s")) ==
              0.5);
    /* params are stored as given */
    ck_assert_uint_eq(json_array_size(json_object_get(s->json, "params")), 3);
    spec_free(s);
}
END_TEST

START_TEST(llm_defaults)
{
    struct spec *s = parse_ok("{" MIN ", \"llm\": {}}");
    json_t *want = J("{\"provider\": \"default\", \"history\": \"compressed\", \"reasoning\": "
                     "false, \"batch\": 1, \"init_trials\": null, \"then\": \"gp\", "
                     "\"max_tokens\": 500000, \"wait\": \"auto\", \"fallback\": \"allow\"}");
    ck_assert_msg(json_equal(want, s->llm), "got %s", json_dumps(s->llm, JSON_COMPACT));
    ck_assert_str_eq(s->sampler, "auto"); /* an llm block alone does not change the sampler */
    spec_free(s);
    /* sampler llm without an llm block gets the defaults too */
    s = parse_ok("{" MIN ", \"sampler\": {\"name\": \"llm\"}}");
    ck_assert_msg(json_equal(want, s->llm), "got %s", json_dumps(s->llm, JSON_COMPACT));
    ck_assert(json_equal(json_object_get(s->json, "llm"), want));
    spec_free(s);
    json_decref(want);
    s = parse_ok("{" MIN ", \"llm\": null}");
    ck_assert_ptr_null(s->llm);
    ck_assert_ptr_null(json_object_get(s->json, "llm"));
    spec_free(s);
}
END_TEST

START_TEST(llm_waiting)
{
    struct spec *s = parse_ok("{" MIN ", \"llm\": {\"wait\": 90, \"fallback\": \"never\"}}");
    ck_assert_int_eq(json_integer_value(json_object_get(s->llm, "wait")), 90);
    ck_assert_str_eq(json_string_value(json_object_get(s->llm, "fallback")), "never");
    spec_free(s);
    s = parse_ok("{" MIN ", \"llm\": {\"wait\": 2.5}}");
    ck_assert(json_number_value(json_object_get(s->llm, "wait")) == 2.5);
    spec_free(s);
    s = parse_ok("{" MIN ", \"llm\": {\"wait\": \"auto\"}}");
    ck_assert_str_eq(json_string_value(json_object_get(s->llm, "wait")), "auto");
    spec_free(s);
}
END_TEST

START_TEST(roundtrip_json)
{
    struct spec *a = parse_ok("{" MIN ", \"llm\": {\"batch\": 2}, \"budget\": {\"max_trials\": "
                              "7.0}, \"lease\": {\"heartbeat_s\": 1.5}}");
    char err[256];
    struct spec *b = spec_parse(a->json, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    ck_assert(json_equal(a->json, b->json));
    ck_assert_int_eq(b->max_trials, 7);
    spec_free(a);
    spec_free(b);
}
END_TEST

START_TEST(reject_top)
{
    parse_fails("[1]", "spec", "object");
    parse_fails("{" MIN ", \"budgets\": {}}", "budgets", "unknown field");
    parse_fails("{" PARAMS "}", "name", "required");
    parse_fails("{\"name\": 3, " PARAMS "}", "name", "invalid");
    parse_fails("{\"name\": \"a/b\", " PARAMS "}", "name", "\"a/b\"");
    parse_fails("{\"name\": \"..\", " PARAMS "}", "name", "invalid");
    parse_fails("{\"name\": \"\", " PARAMS "}", "name", "invalid");
    parse_fails("{\"name\": \"s\"}", "params", "required");
    parse_fails("{\"name\": \"s\", \"params\": []}", "params", "non-empty");
    parse_fails("{\"name\": \"s\", \"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": 5, "
                "\"high\": 2}]}",
                "params[0].low", "must be below high (\"5\" >= \"2\")");
    parse_fails("{" MIN ", \"description\": 5}", "description", "string");
}
END_TEST

START_TEST(reject_objective)
{
    parse_fails("{" MIN ", \"objective\": \"loss\"}", "objective", "object");
    parse_fails("{" MIN ", \"objective\": {\"direction\": \"down\"}}", "objective.direction",
                "\"down\"");
    parse_fails("{" MIN ", \"objective\": {\"name\": 1}}", "objective.name", NULL);
    parse_fails("{" MIN ", \"objective\": {\"name\": \"\"}}", "objective.name", NULL);
    parse_fails("{" MIN ", \"objective\": {\"name\": \"a=b\"}}", "objective.name", "invalid");
    parse_fails("{" MIN ", \"objective\": {\"goal\": \"min\"}}", "objective.goal", "unknown field");
}
END_TEST

START_TEST(several_objectives)
{
    struct spec *s = parse_ok("{" MIN ", \"objectives\": [{\"name\": \"err\"}, {\"name\": "
                              "\"acc\", \"direction\": \"maximize\"}], \"constraints\": "
                              "[{\"name\": \"params_m\", \"max\": 5}, {\"name\": \"mem\", "
                              "\"min\": 1, \"max\": 2}], \"reference_point\": [1, 0]}");
    ck_assert_uint_eq(s->n_objectives, 2);
    ck_assert_str_eq(s->objective, "err");
    ck_assert(!s->maximize);
    ck_assert_str_eq(s->objectives[1].name, "acc");
    ck_assert(s->objectives[1].maximize);
    ck_assert_uint_eq(s->n_constraints, 2);
    ck_assert(!s->constraints[0].has_min && s->constraints[0].has_max);
    ck_assert(s->constraints[0].max == 5);
    ck_assert(s->constraints[1].has_min && s->constraints[1].min == 1);
    ck_assert(s->has_reference && s->reference[0] == 1 && s->reference[1] == 0);
    ck_assert_ptr_null(json_object_get(s->json, "objective"));
    ck_assert_uint_eq(json_array_size(json_object_get(s->json, "objectives")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(s->json, "constraints")), 2);
    /* the normalised spec parses to the same thing */
    char err[256];
    struct spec *t = spec_parse(s->json, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert(json_equal(s->json, t->json));
    spec_free(t);
    spec_free(s);
    /* the one-objective form is unchanged */
    s = parse_ok("{" MIN "}");
    ck_assert_uint_eq(s->n_objectives, 1);
    ck_assert_uint_eq(s->n_constraints, 0);
    ck_assert_ptr_nonnull(json_object_get(s->json, "objective"));
    ck_assert_ptr_null(json_object_get(s->json, "objectives"));
    ck_assert_ptr_null(json_object_get(s->json, "constraints"));
    spec_free(s);
}
END_TEST

START_TEST(reject_objectives)
{
    parse_fails("{" MIN ", \"objectives\": []}", "objectives", "1 to 4");
    parse_fails("{" MIN ", \"objectives\": [{\"name\": \"a\"}, {\"name\": \"b\"}, {\"name\": "
                "\"c\"}, {\"name\": \"d\"}, {\"name\": \"e\"}]}",
                "objectives", "1 to 4");
    parse_fails("{" MIN ", \"objective\": {}, \"objectives\": [{\"name\": \"a\"}]}", "objectives",
                "not both");
    parse_fails("{" MIN ", \"objectives\": [{\"direction\": \"minimize\"}]}", "objectives[0].name",
                "required");
    parse_fails("{" MIN ", \"objectives\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}",
                "objectives[1].name", "twice");
    parse_fails("{" MIN ", \"objectives\": [{\"name\": \"a\"}, 3]}", "objectives[1]", "object");
    parse_fails("{" MIN ", \"objectives\": [{\"name\": \"a b\"}]}", "objectives[0].name",
                "invalid");
    parse_fails("{" MIN ", \"constraints\": [{\"name\": \"m\"}]}", "constraints[0]", "min");
    parse_fails("{" MIN ", \"constraints\": [{\"name\": \"m\", \"min\": 2, \"max\": 1}]}",
                "constraints[0]", "above max");
    parse_fails("{" MIN ", \"constraints\": [{\"name\": \"m\", \"max\": \"1\"}]}",
                "constraints[0].max", NULL);
    parse_fails("{" MIN ", \"constraints\": [{\"max\": 1}]}", "constraints[0].name", "required");
    parse_fails("{" MIN ", \"constraints\": [{\"name\": \"m\", \"max\": 1, \"lt\": 1}]}",
                "constraints[0].lt", "unknown field");
    parse_fails("{" MIN ", \"constraints\": {}}", "constraints", "array");
    parse_fails("{" MIN ", \"reference_point\": [1, 2]}", "reference_point", "1 numbers");
    parse_fails("{" MIN ", \"reference_point\": [\"x\"]}", "reference_point[0]", "finite");
}
END_TEST

START_TEST(reject_sampler)
{
    parse_fails("{" MIN ", \"sampler\": \"tpe\"}", "sampler", "object");
    parse_fails("{" MIN ", \"sampler\": {\"name\": \"cmaes\"}}", "sampler.name", "\"cmaes\"");
    parse_fails("{" MIN ", \"sampler\": {\"seed\": -1}}", "sampler.seed", "non-negative");
    parse_fails("{" MIN ", \"sampler\": {\"seed\": 1.5}}", "sampler.seed", NULL);
    parse_fails("{" MIN ", \"sampler\": {\"seed\": \"1\"}}", "sampler.seed", NULL);
}
END_TEST

START_TEST(reject_llm)
{
    parse_fails("{" MIN ", \"llm\": true}", "llm", "object");
    parse_fails("{" MIN ", \"llm\": {\"temp\": 1}}", "llm.temp", "unknown field");
    parse_fails("{" MIN ", \"llm\": {\"provider\": 1}}", "llm.provider", NULL);
    parse_fails("{" MIN ", \"llm\": {\"history\": \"full\"}}", "llm.history", "\"full\"");
    parse_fails("{" MIN ", \"llm\": {\"reasoning\": \"yes\"}}", "llm.reasoning", NULL);
    parse_fails("{" MIN ", \"llm\": {\"batch\": 0}}", "llm.batch", NULL);
    parse_fails("{" MIN ", \"llm\": {\"batch\": 17}}", "llm.batch", "1 to 16");
    parse_fails("{" MIN ", \"llm\": {\"init_trials\": 0}}", "llm.init_trials", NULL);
    parse_fails("{" MIN ", \"llm\": {\"init_trials\": 2.5}}", "llm.init_trials", NULL);
    parse_fails("{" MIN ", \"llm\": {\"then\": \"llm\"}}", "llm.then", NULL);
    parse_fails("{" MIN ", \"llm\": {\"max_tokens\": 0}}", "llm.max_tokens", NULL);
    parse_fails("{" MIN ", \"llm\": {\"max_tokens\": 10.5}}", "llm.max_tokens", NULL);
    parse_fails("{" MIN ", \"llm\": {\"temperature\": 3}}", "llm.temperature", NULL);
    parse_fails("{" MIN ", \"llm\": {\"model\": 3}}", "llm.model", NULL);
    parse_fails("{" MIN ", \"llm\": {\"template\": \"\"}}", "llm.template", NULL);
    parse_fails("{" MIN ", \"llm\": {\"wait\": -1}}", "llm.wait", "\"auto\" or a number");
    parse_fails("{" MIN ", \"llm\": {\"wait\": \"long\"}}", "llm.wait", "\"long\"");
    parse_fails("{" MIN ", \"llm\": {\"wait\": 86401}}", "llm.wait", "0 to 86400");
    parse_fails("{" MIN ", \"llm\": {\"fallback\": \"no\"}}", "llm.fallback", "\"no\"");
}
END_TEST

START_TEST(reject_pruner)
{
    parse_fails("{" MIN ", \"pruner\": \"median\"}", "pruner", "object");
    parse_fails("{" MIN ", \"pruner\": {\"name\": \"lasso\"}}", "pruner.name", "\"lasso\"");
    parse_fails("{" MIN ", \"pruner\": {\"name\": \"curve\", \"threshold\": 2}}",
                "pruner.threshold", "\"2\"");
    parse_fails("{" MIN ", \"pruner\": {\"name\": \"hyperband\", \"reduction_factor\": 1}}",
                "pruner.reduction_factor", NULL);
    struct spec *s = parse_ok("{" MIN ", \"pruner\": {\"name\": \"patience\", \"patience\": 4}}");
    ck_assert_str_eq(s->pruner, "patience");
    spec_free(s);
    s = parse_ok("{" MIN ", \"pruner\": {\"name\": \"asha\"}}");
    ck_assert_str_eq(s->pruner, "asha");
    spec_free(s);
    s = parse_ok("{" MIN ", \"pruner\": {\"name\": \"hyperband\", \"max_resource\": 81}}");
    ck_assert_str_eq(s->pruner, "hyperband");
    spec_free(s);
    s = parse_ok("{" MIN ", \"pruner\": {\"name\": \"curve\", \"k\": 3, \"threshold\": 0.1}}");
    ck_assert_str_eq(s->pruner, "curve");
    spec_free(s);
}
END_TEST

START_TEST(samplers_and_pruner_of_several_objectives)
{
#define TWO                                                                                        \
    MIN ", \"objectives\": [{\"name\": \"err\"}, {\"name\": \"lat\", \"direction\": "              \
        "\"maximize\"}]"
    parse_fails("{" TWO ", \"sampler\": {\"name\": \"gp\"}}", "sampler.name", "several objectives");
    parse_fails("{" MIN ", \"constraints\": [{\"name\": \"m\", \"max\": 1}], \"sampler\": "
                "{\"name\": \"tpe\"}}",
                "sampler.name", "constraints");
    parse_fails("{" TWO ", \"sampler\": {\"name\": \"llm\"}, \"llm\": {\"then\": \"tpe\"}}",
                "llm.then", "\"tpe\"");
    parse_fails("{" TWO ", \"pruner\": {\"name\": \"median\", \"objective\": \"loss\"}}",
                "pruner.objective", "\"loss\"");
    parse_fails("{" TWO ", \"pruner\": {\"name\": \"median\", \"objective\": 3}}",
                "pruner.objective", "3");
    struct spec *s = parse_ok("{" TWO ", \"sampler\": {\"name\": \"motpe\"}, \"pruner\": "
                              "{\"name\": \"median\", \"objective\": \"lat\"}}");
    ck_assert_str_eq(s->sampler, "motpe");
    ck_assert_uint_eq(s->pruner_objective, 1);
    ck_assert(spec_multi(s));
    spec_free(s);
    s = parse_ok("{" TWO ", \"sampler\": {\"name\": \"llm\"}}");
    ck_assert_str_eq(json_string_value(json_object_get(s->llm, "then")), "auto");
    spec_free(s);
    s = parse_ok("{" MIN ", \"sampler\": {\"name\": \"mogp\"}, \"pruner\": {\"name\": \"asha\"}}");
    ck_assert_uint_eq(s->pruner_objective, 0);
    ck_assert(!spec_multi(s));
    spec_free(s);
#undef TWO
}
END_TEST

START_TEST(reject_budget)
{
    parse_fails("{" MIN ", \"budget\": []}", "budget", "object");
    parse_fails("{" MIN ", \"budget\": {\"trials\": 1}}", "budget.trials", "unknown field");
    parse_fails("{" MIN ", \"budget\": {\"max_trials\": 0}}", "budget.max_trials", "\"0\"");
    parse_fails("{" MIN ", \"budget\": {\"max_trials\": 1000001}}", "budget.max_trials", NULL);
    parse_fails("{" MIN ", \"budget\": {\"max_trials\": \"5\"}}", "budget.max_trials", NULL);
    parse_fails("{" MIN ", \"budget\": {\"max_trials\": 2.5}}", "budget.max_trials", "integer");
    parse_fails("{" MIN ", \"budget\": {\"max_parallel\": 0}}", "budget.max_parallel", NULL);
    parse_fails("{" MIN ", \"budget\": {\"max_parallel\": 10001}}", "budget.max_parallel", NULL);
    parse_fails("{" MIN ", \"budget\": {\"max_failures\": 0}}", "budget.max_failures", NULL);
    parse_fails("{" MIN ", \"budget\": {\"trial_timeout_s\": -1}}", "budget.trial_timeout_s", NULL);
    parse_fails("{" MIN ", \"budget\": {\"trial_timeout_s\": true}}", "budget.trial_timeout_s",
                NULL);
    struct spec *s = parse_ok("{" MIN ", \"budget\": {\"max_trials\": 1000000, \"max_parallel\": "
                              "10000, \"trial_timeout_s\": 2.5}}");
    ck_assert_int_eq(s->max_trials, 1000000);
    ck_assert(s->trial_timeout_s == 2.5);
    spec_free(s);
}
END_TEST

START_TEST(reject_lease)
{
    parse_fails("{" MIN ", \"lease\": 1}", "lease", "object");
    parse_fails("{" MIN ", \"lease\": {\"ttl\": 1}}", "lease.ttl", "unknown field");
    parse_fails("{" MIN ", \"lease\": {\"heartbeat_s\": 0.05}}", "lease.heartbeat_s", NULL);
    parse_fails("{" MIN ", \"lease\": {\"heartbeat_s\": 86401}}", "lease.heartbeat_s", NULL);
    parse_fails("{" MIN ", \"lease\": {\"stale_after\": 0}}", "lease.stale_after", NULL);
    parse_fails("{" MIN ", \"lease\": {\"max_retries\": -1}}", "lease.max_retries", NULL);
    struct spec *s = parse_ok("{" MIN ", \"lease\": {\"heartbeat_s\": 86400, \"max_retries\": 0}}");
    ck_assert(s->heartbeat_s == 86400);
    ck_assert_int_eq(s->max_retries, 0);
    spec_free(s);
}
END_TEST

START_TEST(name_valid)
{
    ck_assert(spec_name_valid("svm-digits"));
    ck_assert(spec_name_valid("a.b_c-9"));
    ck_assert(spec_name_valid("A"));
    ck_assert(spec_name_valid("1234567890123456789012345678901234567890123456789012345678901234"));
    ck_assert(
        !spec_name_valid("12345678901234567890123456789012345678901234567890123456789012345"));
    ck_assert(!spec_name_valid(""));
    ck_assert(!spec_name_valid(NULL));
    ck_assert(!spec_name_valid("a b"));
    ck_assert(!spec_name_valid("a/b"));
    ck_assert(!spec_name_valid("é"));
    ck_assert(!spec_name_valid("."));
    ck_assert(!spec_name_valid(".."));
    ck_assert(spec_name_valid(".a"));
}
END_TEST

static Suite *spec_suite(void)
{
    Suite *su = suite_create("spec");
    TCase *tc = tcase_create("spec");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, seed_from_name);
    tcase_add_test(tc, full_design_example);
    tcase_add_test(tc, llm_defaults);
    tcase_add_test(tc, llm_waiting);
    tcase_add_test(tc, roundtrip_json);
    tcase_add_test(tc, reject_top);
    tcase_add_test(tc, reject_objective);
    tcase_add_test(tc, several_objectives);
    tcase_add_test(tc, reject_objectives);
    tcase_add_test(tc, reject_sampler);
    tcase_add_test(tc, reject_llm);
    tcase_add_test(tc, reject_pruner);
    tcase_add_test(tc, samplers_and_pruner_of_several_objectives);
    tcase_add_test(tc, reject_budget);
    tcase_add_test(tc, reject_lease);
    tcase_add_test(tc, name_valid);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(spec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
