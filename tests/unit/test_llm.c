#include <config.h>

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonutil.h"
#include "prompt.h"
#include "provider.h"
#include "client.h"
#include "reply.h"
#include "schema.h"
#include "rng.h"
#include "test_llm_util.h"

/* The study of the golden prompts: mixed types, a condition, a code parameter. */
static const char svm_params[] =
    "[{\"name\": \"C\", \"type\": \"float\", \"low\": 0.001, \"high\": 1000, \"log\": true},"
    " {\"name\": \"kernel\", \"type\": \"categorical\", \"choices\": [\"rbf\", \"poly\", "
    "\"linear\"]},"
    " {\"name\": \"degree\", \"type\": \"int\", \"low\": 2, \"high\": 5, \"when\": {\"kernel\": "
    "[\"poly\"]}},"
    " {\"name\": \"shrinking\", \"type\": \"categorical\", \"choices\": [true, false]}]";

static const char svm_desc[] = "A support vector classifier on the UCI digits data (1797 "
                               "images of 8x8 pixels, 10 classes), scored by 3-fold "
                               "cross-validation.";

static struct spec *svm_spec(const char *llm)
{
    return tl_spec("svm-digits", svm_desc, "val_error", false, 30, svm_params, llm);
}

static void svm_history(struct tl_history *t)
{
    tl_history_init(t);
    tl_history_done(t, 0, "{\"C\": 1.0, \"kernel\": \"rbf\", \"shrinking\": true}", OBS_COMPLETED,
                    0.0423, NULL, -1);
    tl_history_done(t, 1,
                    "{\"C\": 100.0, \"kernel\": \"poly\", \"degree\": 3, \"shrinking\": "
                    "false}",
                    OBS_COMPLETED, 0.0612, NULL, -1);
    tl_history_done(t, 2, "{\"C\": 0.001, \"kernel\": \"linear\", \"shrinking\": true}", OBS_FAILED,
                    NAN,
                    "Traceback (most recent call last):\n  File \"train.py\", line 3\n"
                    "ValueError: solver did not converge",
                    -1);
    tl_history_done(t, 3, "{\"C\": 10.0, \"kernel\": \"rbf\", \"shrinking\": false}", OBS_PRUNED,
                    0.31, NULL, 2);
    tl_history_done(t, 4, "{\"C\": 3.5, \"kernel\": \"rbf\", \"shrinking\": true}", OBS_COMPLETED,
                    0.0391, NULL, -1);
    tl_history_pending(t, 5, "{\"C\": 5.0, \"kernel\": \"rbf\", \"shrinking\": true}");
}

/* All message contents, role-labelled, for golden comparisons. */
static char *messages_text(const json_t *msgs)
{
    struct buf b;
    buf_init(&b);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        buf_printf(&b, "=== %s ===\n%s\n", json_str(m, "role", "?"), json_str(m, "content", ""));
    }
    return buf_steal(&b);
}

static json_t *build(const struct spec *s, const struct llm_history *h)
{
    struct llm_prompt_opts o;
    char err[256] = "";
    ck_assert_int_eq(llm_prompt_opts_parse(s->llm, &o, err, sizeof err), 0);
    json_t *m = llm_prompt_build(s, &o, h, err, sizeof err);
    ck_assert_msg(m != NULL, "build: %s", err);
    return m;
}

static const char *last_content(const json_t *msgs)
{
    return json_str(json_array_get(msgs, json_array_size(msgs) - 1), "content", "");
}

/* ---- prompts ---- */

START_TEST(test_prompt_golden_compressed)
{
    struct spec *s = svm_spec(NULL);
    struct tl_history t;
    svm_history(&t);
    json_t *m = build(s, &t.h);
    ck_assert_int_eq(json_array_size(m), 2);
    ck_assert_str_eq(json_str(json_array_get(m, 0), "role", ""), "system");
    char *text = messages_text(m);
    tl_golden("tests/unit/golden/llm-compressed.txt", text);
    free(text);
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_golden_chat)
{
    struct spec *s = svm_spec("{\"history\": \"chat\"}");
    struct tl_history t;
    svm_history(&t);
    json_t *m = build(s, &t.h);
    /* system, first user, then an assistant and a user turn per finished trial */
    ck_assert_int_eq(json_array_size(m), 2 + 2 * 5);
    char *text = messages_text(m);
    tl_golden("tests/unit/golden/llm-chat.txt", text);
    free(text);
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_golden_batch_reasoning)
{
    struct spec *s = svm_spec("{\"batch\": 3, \"reasoning\": true}");
    struct tl_history t;
    svm_history(&t);
    json_t *m = build(s, &t.h);
    char *text = messages_text(m);
    tl_golden("tests/unit/golden/llm-batch-reasoning.txt", text);
    ck_assert_ptr_nonnull(strstr(text, "holding 3 different configurations"));
    ck_assert_ptr_nonnull(strstr(text, "one short line of analysis"));
    free(text);
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_contents)
{
    struct spec *s = svm_spec(NULL);
    struct tl_history t;
    svm_history(&t);
    json_t *m = build(s, &t.h);
    const char *u = last_content(m);
    /* the pieces a user would look for */
    ck_assert_ptr_nonnull(strstr(u, svm_desc));
    ck_assert_ptr_nonnull(strstr(u, "- C: float in [0.001, 1000], log scale"));
    ck_assert_ptr_nonnull(strstr(u, "only when kernel is \"poly\""));
    ck_assert_ptr_nonnull(strstr(u, "lower is better"));
    ck_assert_ptr_nonnull(strstr(u, "30 evaluations in total; 24 are left"));
    ck_assert_ptr_nonnull(strstr(u, "failed: Traceback (most recent call last):   File"));
    ck_assert_ptr_nonnull(strstr(u, "stopped early at step 2 with val_error = 0.31"));
    ck_assert_ptr_nonnull(strstr(u, "Best so far: #4 with val_error = 0.0391"));
    ck_assert_ptr_nonnull(strstr(u, "Being evaluated now"));
    ck_assert_ptr_nonnull(strstr(u, "{\"C\": 5.0, \"kernel\": \"rbf\", \"shrinking\": true}"));
    ck_assert_ptr_nonnull(strstr(u, "region of the search space that has not been tried"));
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_failed_error_cut)
{
    struct spec *s = svm_spec(NULL);
    struct tl_history t;
    tl_history_init(&t);
    char longerr[1000];
    memset(longerr, 'e', sizeof longerr - 1);
    longerr[sizeof longerr - 1] = '\0';
    memcpy(longerr + 190, "TAILMARK", 8);
    memcpy(longerr + 300, "NEVERSHOWN", 10);
    tl_history_done(&t, 0, "{\"C\": 1.0, \"kernel\": \"rbf\", \"shrinking\": true}", OBS_FAILED,
                    NAN, longerr, -1);
    json_t *m = build(s, &t.h);
    ck_assert_ptr_nonnull(strstr(last_content(m), "TAILMARK"));
    ck_assert_ptr_null(strstr(last_content(m), "NEVERSHOWN"));
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

static json_t *random_config(const struct space *sp, struct rng *r)
{
    double u[16];
    for (size_t i = 0; i < sp->n; i++)
        u[i] = rng_uniform(r);
    return space_from_unit(sp, u);
}

static size_t prompt_size_at(const char *llm, size_t n)
{
    struct spec *s = svm_spec(llm);
    s->max_trials = 200;
    struct tl_history t;
    tl_history_init(&t);
    struct rng r;
    rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) {
        enum obs_state st = i % 10 == 3 ? OBS_FAILED : OBS_COMPLETED;
        tl_history_done_json(&t, (long)i, random_config(s->space, &r), st,
                             st == OBS_FAILED ? NAN : rng_uniform(&r));
    }
    json_t *m = build(s, &t.h);
    size_t size = llm_prompt_size(m);
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
    return size;
}

START_TEST(test_prompt_bounded_compressed)
{
    size_t s20 = prompt_size_at(NULL, 20), s100 = prompt_size_at(NULL, 100);
    size_t s1000 = prompt_size_at(NULL, 1000);
    ck_assert_msg(s100 <= 2 * s20, "prompt at trial 100 is %zu chars, at 20 %zu", s100, s20);
    ck_assert_msg(s1000 <= 2 * s20, "prompt at trial 1000 is %zu chars, at 20 %zu", s1000, s20);
}
END_TEST

START_TEST(test_prompt_bounded_chat)
{
    const char *llm = "{\"history\": \"chat\"}";
    size_t s20 = prompt_size_at(llm, 20), s100 = prompt_size_at(llm, 100);
    ck_assert_msg(s100 <= 2 * s20, "chat prompt at trial 100 is %zu chars, at 20 %zu", s100, s20);
}
END_TEST

START_TEST(test_prompt_chat_shortened_keeps_best)
{
    struct spec *s = svm_spec("{\"history\": \"chat\", \"keep_recent\": 3, \"keep_best\": 1}");
    struct tl_history t;
    tl_history_init(&t);
    for (int i = 0; i < 10; i++) {
        char p[128];
        snprintf(p, sizeof p, "{\"C\": %d.5, \"kernel\": \"rbf\", \"shrinking\": true}", i + 1);
        tl_history_done(&t, i, p, OBS_COMPLETED, i == 2 ? 0.01 : 0.5 + i, NULL, -1);
    }
    json_t *m = build(s, &t.h);
    ck_assert_int_eq(json_array_size(m), 2 + 2 * 3);
    const char *first = json_str(json_array_get(m, 1), "content", "");
    ck_assert_ptr_nonnull(strstr(first, "7 earlier evaluations are not shown"));
    ck_assert_ptr_nonnull(strstr(first, "#2 {\"C\": 3.5"));
    ck_assert_ptr_null(strstr(first, "#3 {"));
    ck_assert_ptr_nonnull(strstr(last_content(m), "Trial #9: val_error = 9.5 (completed)."));
    ck_assert_ptr_nonnull(strstr(last_content(m), "Best so far: #2 with val_error = 0.01"));
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_template)
{
    struct spec *s =
        svm_spec("{\"template\": \"Tune {objective} ({direction}) for: {description}\\nLeft: "
                 "{trials_left} of {max_trials}. {unknown} stays.\\n{space}\\n{history}\"}");
    struct tl_history t;
    svm_history(&t);
    json_t *m = build(s, &t.h);
    const char *u = last_content(m);
    ck_assert_msg(strncmp(u, "Tune val_error (minimize) for: A support vector", 47) == 0, "%s", u);
    ck_assert_ptr_nonnull(strstr(u, "Left: 24 of 30. {unknown} stays."));
    ck_assert_ptr_nonnull(strstr(u, "- kernel: one of [\"rbf\""));
    ck_assert_ptr_nonnull(strstr(u, "#4 {\"C\": 3.5"));
    /* no {format} in the template: the format is appended anyway */
    ck_assert_ptr_nonnull(strstr(u, "Answer with one JSON object"));
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_code_param)
{
    struct spec *s = tl_spec(
        "code", "a small CNN", "val_loss", false, 10,
        "[{\"name\": \"lr\", \"type\": \"float\", \"low\": 1e-5, \"high\": 1e-1, \"log\": true},"
        " {\"name\": \"model\", \"type\": \"code\", \"language\": \"python\", \"contract\": "
        "\"define build_model(n_classes) returning a torch.nn.Module\", \"baseline\": "
        "\"def build_model(n_classes):\\n    return Net(n_classes)\"}]",
        NULL);
    struct tl_history t;
    tl_history_init(&t);
    json_t *m = build(s, &t.h);
    const char *u = last_content(m);
    ck_assert_ptr_nonnull(strstr(u, "python code"));
    ck_assert_ptr_nonnull(strstr(u, "build_model(n_classes) returning"));
    ck_assert_ptr_nonnull(strstr(u, "```python\ndef build_model(n_classes):\n    return Net"));
    ck_assert_ptr_nonnull(strstr(u, "placeholder \"<<code:NAME>>\""));
    ck_assert_ptr_nonnull(strstr(u, "Write nothing but the JSON and the code blocks."));
    ck_assert_msg(strstr(u, "\"model\": \"<<code:model>>\"}\n```python\n<the complete python "
                            "source of model>\n```"),
                  "%s", u);
    ck_assert_ptr_nonnull(strstr(u, "No evaluation has finished yet."));
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_opts_errors)
{
    struct llm_prompt_opts o;
    char err[256];
    static const struct {
        const char *llm, *want;
    } cases[] = {
        {"{\"history\": \"full\"}", "llm.history"}, {"{\"batch\": 0}", "llm.batch"},
        {"{\"batch\": 2.5}", "llm.batch"},          {"{\"reasoning\": \"yes\"}", "llm.reasoning"},
        {"{\"template\": 3}", "llm.template"},      {"{\"keep_recent\": 0}", "llm.keep_recent"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = tl_json(cases[i].llm);
        err[0] = '\0';
        ck_assert_int_eq(llm_prompt_opts_parse(j, &o, err, sizeof err), -1);
        ck_assert_msg(strstr(err, cases[i].want), "%s: message '%s'", cases[i].llm, err);
        json_decref(j);
    }
    ck_assert_int_eq(llm_prompt_opts_parse(NULL, &o, err, sizeof err), 0);
    ck_assert_int_eq(o.batch, 1);
    ck_assert(o.history == LLM_HISTORY_COMPRESSED);
}
END_TEST

START_TEST(test_prompt_reask)
{
    struct spec *s = svm_spec(NULL);
    struct tl_history t;
    tl_history_init(&t);
    json_t *m = build(s, &t.h);
    struct llm_prompt_opts o;
    char err[128];
    llm_prompt_opts_parse(s->llm, &o, err, sizeof err);
    ck_assert_int_eq(llm_prompt_reask(m, s, &o, "{\"C\": 5000}", "C: 5000 is out of range"), 0);
    ck_assert_int_eq(json_array_size(m), 4);
    ck_assert_str_eq(json_str(json_array_get(m, 2), "role", ""), "assistant");
    ck_assert_str_eq(json_str(json_array_get(m, 2), "content", ""), "{\"C\": 5000}");
    ck_assert_str_eq(last_content(m), "Your reply was invalid: C: 5000 is out of range. Answer "
                                      "again with one JSON object only.");
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_history_from_obs)
{
    json_t *a = tl_json("{\"C\": 1.0}"), *b = tl_json("{\"C\": 2.0}");
    struct obs hist[] = {{a, -0.9, OBS_COMPLETED, 0}, {a, NAN, OBS_FAILED, 1}};
    struct obs pend[] = {{b, NAN, OBS_PENDING, 2}};
    struct sampler_ctx ctx = {.history = hist, .n_history = 2, .pending = pend, .n_pending = 1};
    struct llm_history h;
    ck_assert_int_eq(llm_history_from_obs(&h, &ctx, true), 0);
    ck_assert_int_eq(h.n_done, 2);
    ck_assert_int_eq(h.n_pending, 1);
    ck_assert(h.done[0].value == 0.9); /* accuracy 0.9 again, not -0.9 */
    ck_assert(isnan(h.done[1].value));
    ck_assert(h.done[1].state == OBS_FAILED);
    ck_assert_int_eq(h.pending[0].number, 2);
    ck_assert_ptr_eq(h.pending[0].params, b);
    llm_history_release(&h);
    json_decref(a);
    json_decref(b);
}
END_TEST

/* ---- replies ---- */

static json_t *parse_ok(const struct spec *s, const char *text, size_t want,
                        const struct llm_history *h, int n_expected)
{
    json_t *configs = NULL;
    char err[512] = "";
    int n = llm_reply_parse(s->space, text, want, h, &configs, err, sizeof err);
    ck_assert_msg(n == n_expected, "parse of %s gave %d (%s)", text, n, err);
    return configs;
}

static void parse_fails(const struct spec *s, const char *text, size_t want,
                        const struct llm_history *h, const char *want_err)
{
    json_t *configs = NULL;
    char err[512] = "";
    int n = llm_reply_parse(s->space, text, want, h, &configs, err, sizeof err);
    ck_assert_msg(n == -1, "parse of %s accepted it", text);
    ck_assert_ptr_null(configs);
    ck_assert_msg(strstr(err, want_err), "parse of %s: error '%s' lacks '%s'", text, err, want_err);
}

static void assert_config(json_t *configs, size_t i, const char *expected)
{
    json_t *e = tl_json(expected);
    json_t *got = json_array_get(configs, i);
    char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_msg(json_same(got, e), "config %zu is %s, want %s", i, g, expected);
    free(g);
    json_decref(e);
}

START_TEST(test_reply_forms)
{
    struct spec *s = svm_spec(NULL);
    static const char *const texts[] = {
        "{\"C\": 2.5, \"kernel\": \"rbf\", \"shrinking\": true}",
        "Sure! Based on the results I suggest {\"C\": 2.5, \"kernel\": \"rbf\", \"shrinking\": "
        "true} as the next point.",
        "```json\n{\"C\": 2.5, \"kernel\": \"rbf\", \"shrinking\": true}\n```",
        "Analysis: rbf with C near {3} did best, try a bit lower.\n{\"C\": 2.5, \"kernel\": "
        "\"rbf\", \"shrinking\": true}",
        "I first thought of {\"C\": 900, \"kernel\": \"linear\", \"shrinking\": false} but "
        "settle on:\n{\"C\": 2.5, \"kernel\": \"rbf\", \"shrinking\": true}\n",
        "{\"config\": {\"C\": 2.5, \"kernel\": \"rbf\", \"shrinking\": true}}",
        /* an inactive parameter is dropped, an integer-valued float accepted */
        "{\"C\": 2.5, \"kernel\": \"rbf\", \"degree\": 3, \"shrinking\": true}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_t *c = parse_ok(s, texts[i], 1, NULL, 1);
        assert_config(c, 0, "{\"C\": 2.5, \"kernel\": \"rbf\", \"shrinking\": true}");
        json_decref(c);
    }
    json_t *c = parse_ok(s,
                         "{\"C\": 3, \"kernel\": \"poly\", \"degree\": 4.0, \"shrinking\": "
                         "false}",
                         1, NULL, 1);
    ck_assert(json_is_integer(json_object_get(json_array_get(c, 0), "degree")));
    json_decref(c);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_reply_invalid)
{
    struct spec *s = svm_spec(NULL);
    parse_fails(s, "{\"C\": 5000, \"kernel\": \"rbf\", \"shrinking\": true}", 1, NULL, "C: ");
    parse_fails(s, "{\"C\": 5000, \"kernel\": \"rbf\", \"shrinking\": true}", 1, NULL,
                "out of range");
    parse_fails(s, "{\"C\": \"big\", \"kernel\": \"rbf\", \"shrinking\": true}", 1, NULL,
                "C: must be a number");
    parse_fails(s, "{\"C\": 1, \"kernel\": \"sigmoid\", \"shrinking\": true}", 1, NULL, "kernel: ");
    parse_fails(s, "{\"C\": 1, \"kernel\": \"poly\", \"degree\": 2.5, \"shrinking\": true}", 1,
                NULL, "degree: must be an integer");
    parse_fails(s, "{\"C\": 1, \"kernel\": \"rbf\", \"shrinking\": true, \"gamma\": 2}", 1, NULL,
                "gamma: unknown parameter");
    parse_fails(s, "{\"kernel\": \"rbf\", \"shrinking\": true}", 1, NULL, "C: missing");
    parse_fails(s, "{\"C\": 1, \"kernel\": \"poly\", \"shrinking\": true}", 1, NULL,
                "degree: missing");
    parse_fails(s, "I would try a larger C next time.", 1, NULL, "no JSON object");
    parse_fails(s, "{\"C\": 1, \"kernel\": \"rbf\", \"shrinking\": True}", 1, NULL,
                "no valid JSON object found in the reply (invalid token near 'True' at byte");
    parse_fails(s, "", 1, NULL, "empty");
    parse_fails(s, "{\"C\": 1, \"kernel\": \"rbf\", \"shrinking\": true", 1, NULL,
                "'}' expected near end of file");
    parse_fails(s, "{\"configs\": []}", 1, NULL, "no configuration");
    parse_fails(s, "[1, 2]", 1, NULL, "must be a JSON object");
    tl_spec_free(s);
}
END_TEST

START_TEST(test_reply_duplicates)
{
    struct spec *s = svm_spec(NULL);
    struct tl_history t;
    svm_history(&t);
    parse_fails(s, "{\"C\": 3.5, \"kernel\": \"rbf\", \"shrinking\": true}", 1, &t.h,
                "already evaluated as trial #4");
    /* 1 and 1.0 are the same configuration */
    parse_fails(s, "{\"C\": 1, \"kernel\": \"rbf\", \"shrinking\": true}", 1, &t.h,
                "already evaluated as trial #0");
    parse_fails(s, "{\"C\": 5, \"kernel\": \"rbf\", \"shrinking\": true}", 1, &t.h,
                "being evaluated now as trial #5");
    json_t *c = parse_ok(s, "{\"C\": 5.5, \"kernel\": \"rbf\", \"shrinking\": true}", 1, &t.h, 1);
    json_decref(c);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_reply_batch)
{
    struct spec *s = svm_spec(NULL);
    struct tl_history t;
    svm_history(&t);
    const char *a = "{\"C\": 0.5, \"kernel\": \"rbf\", \"shrinking\": true}";
    const char *b = "{\"C\": 50, \"kernel\": \"linear\", \"shrinking\": false}";
    const char *c3 = "{\"C\": 7, \"kernel\": \"poly\", \"degree\": 2, \"shrinking\": true}";
    char text[512];
    snprintf(text, sizeof text, "{\"configs\": [%s, %s, %s]}", a, b, c3);
    json_t *c = parse_ok(s, text, 3, &t.h, 3);
    assert_config(c, 0, a);
    assert_config(c, 2, c3);
    json_decref(c);
    snprintf(text, sizeof text, "Here you go:\n```\n[%s, %s]\n```", a, b);
    c = parse_ok(s, text, 3, &t.h, 2);
    assert_config(c, 1, b);
    json_decref(c);
    /* more than wanted: the first ones */
    snprintf(text, sizeof text, "[%s, %s, %s]", a, b, c3);
    c = parse_ok(s, text, 2, &t.h, 2);
    json_decref(c);
    /* a repeat inside the batch and an invalid one: the rest is kept, err says why */
    snprintf(text, sizeof text,
             "{\"configs\": [%s, %s, {\"C\": -1, \"kernel\": \"rbf\", \"shrinking\": true}]}", a,
             a);
    json_t *configs = NULL;
    char err[512] = "";
    ck_assert_int_eq(llm_reply_parse(s->space, text, 3, &t.h, &configs, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "configuration 2: ") && strstr(err, "appears twice"), "%s", err);
    ck_assert_msg(strstr(err, "configuration 3: C: "), "%s", err);
    json_decref(configs);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_reply_grid_snap)
{
    struct spec *s = tl_spec("grid", "", "loss", false, 10,
                             "[{\"name\": \"lr\", \"type\": \"float\", \"low\": 0, \"high\": 1, "
                             "\"step\": 0.05},"
                             " {\"name\": \"layers\", \"type\": \"int\", \"low\": 2, \"high\": "
                             "16, \"step\": 2}]",
                             NULL);
    json_t *c = parse_ok(s, "{\"lr\": 0.15000000001, \"layers\": 8}", 1, NULL, 1);
    ck_assert(fabs(json_real_value(json_object_get(json_array_get(c, 0), "lr")) - 0.15) < 1e-9);
    json_decref(c);
    tl_spec_free(s);
}
END_TEST

/* ---- providers ---- */

static void clear_env(void)
{
    unsetenv("HPOD_LLM_FORMAT");
    unsetenv("HPOD_LLM_BASE_URL");
    unsetenv("HPOD_LLM_MODEL");
    unsetenv("HPOD_LLM_API_KEY");
}

START_TEST(test_provider_env)
{
    char err[512] = "";
    clear_env();
    struct llm_registry *reg = llm_registry_new(err, sizeof err);
    ck_assert_ptr_nonnull(reg);
    ck_assert_ptr_null(llm_registry_get(reg, "default"));
    ck_assert(!llm_registry_usable(reg, "default", NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "HPOD_LLM_BASE_URL") && strstr(err, "[provider default]"), "%s", err);
    llm_registry_free(reg);

    setenv("HPOD_LLM_FORMAT", "anthropic", 1);
    setenv("HPOD_LLM_MODEL", "claude-test", 1);
    setenv("HPOD_LLM_API_KEY", "sk-env-secret", 1);
    reg = llm_registry_new(err, sizeof err);
    ck_assert_ptr_nonnull(reg);
    struct llm_provider *p = llm_registry_get(reg, "default");
    ck_assert_ptr_nonnull(p);
    ck_assert(p->format == LLM_FORMAT_ANTHROPIC);
    ck_assert_str_eq(p->base_url, "https://api.anthropic.com/v1");
    ck_assert_str_eq(p->model, "claude-test");
    ck_assert_str_eq(p->api_key, "sk-env-secret");
    ck_assert(llm_registry_usable(reg, "default", NULL, err, sizeof err));
    ck_assert(!llm_registry_usable(reg, "other", NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "[provider other]"), "%s", err);
    /* a [provider default] section overrides the environment key by key */
    ck_assert_int_eq(llm_config_header("provider default", err, sizeof err), 0);
    ck_assert_int_eq(llm_config_section(reg, "provider default", "base_url",
                                        "http://127.0.0.1:9/v1/", err, sizeof err),
                     0);
    ck_assert_str_eq(p->base_url, "http://127.0.0.1:9/v1");
    ck_assert_str_eq(p->model, "claude-test");
    llm_registry_free(reg);

    setenv("HPOD_LLM_FORMAT", "gemini", 1);
    ck_assert_ptr_null(llm_registry_new(err, sizeof err));
    ck_assert_msg(strstr(err, "HPOD_LLM_FORMAT") && strstr(err, "'gemini'"), "%s", err);
    clear_env();
}
END_TEST

START_TEST(test_provider_config)
{
    char err[512] = "";
    clear_env();
    struct llm_registry *reg = llm_registry_new(err, sizeof err);
    static const char *const lines[][3] = {
        {"provider local", "format", "openai"},
        {"provider local", "base_url", "http://127.0.0.1:8000/v1"},
        {"provider local", "model", "qwen"},
        {"provider local", "api_key_env", "TEST_LLM_KEY"},
        {"provider local", "timeout_s", "2.5"},
        {"provider local", "max_concurrent", "2"},
        {"provider local", "max_retries", "5"},
        {"provider local", "json_mode", "false"},
        {"price qwen", "input_per_mtok", "0.5"},
        {"price qwen", "output_per_mtok", "1.5"},
    };
    setenv("TEST_LLM_KEY", "sk-from-env-var", 1);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        ck_assert_int_eq(llm_config_header(lines[i][0], err, sizeof err), 0);
        ck_assert_msg(
            llm_config_section(reg, lines[i][0], lines[i][1], lines[i][2], err, sizeof err) == 0,
            "%s: %s", lines[i][1], err);
    }
    ck_assert_int_eq(llm_registry_finish(reg, err, sizeof err), 0);
    struct llm_provider *p = llm_registry_get(reg, "local");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->api_key, "sk-from-env-var");
    ck_assert(p->timeout_s == 2.5);
    ck_assert_int_eq(p->max_concurrent, 2);
    ck_assert_int_eq(p->max_retries, 5);
    ck_assert(p->dialect == LLM_DIALECT_NONE);
    ck_assert_int_eq(llm_provider_level(p), LLM_LEVEL_PROMPT);
    ck_assert(fabs(llm_registry_cost(reg, "qwen", 1000000, 2000000) - 3.5) < 1e-9);
    ck_assert(llm_registry_cost(reg, "gpt-x", 10, 10) < 0);

    /* errors name the key and quote the value */
    static const char *const bad[][4] = {
        {"provider local", "format", "grpc", "'grpc'"},
        {"provider local", "base_url", "ftp://x", "base_url"},
        {"provider local", "timeout_s", "-1", "timeout_s"},
        {"provider local", "max_concurrent", "zero", "'zero'"},
        {"provider local", "api_key_env", "NO_SUCH_VAR_SET", "NO_SUCH_VAR_SET"},
        {"provider local", "colour", "blue", "colour: unknown key"},
        {"price qwen", "input_per_mtok", "cheap", "'cheap'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_int_eq(llm_config_section(reg, bad[i][0], bad[i][1], bad[i][2], err, sizeof err),
                         -1);
        ck_assert_msg(strstr(err, bad[i][3]), "%s = %s: message '%s'", bad[i][1], bad[i][2], err);
    }
    ck_assert_int_eq(llm_config_header("server", err, sizeof err), -1);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(llm_config_header("provider", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "needs a name"), "%s", err);
    llm_registry_free(reg);
    unsetenv("TEST_LLM_KEY");
}
END_TEST

START_TEST(test_provider_redact)
{
    char err[256];
    clear_env();
    struct llm_registry *reg = llm_registry_new(err, sizeof err);
    llm_config_section(reg, "provider x", "api_key", "sk-secret-0123456789", err, sizeof err);
    struct llm_provider *p = llm_registry_get(reg, "x");
    char s[] = "bad key sk-secret-0123456789 (sk-secret-0123456789)";
    llm_provider_redact(p, s);
    ck_assert_str_eq(s, "bad key [redacted] ([redacted])");
    llm_registry_free(reg);
}
END_TEST

/* ---- code parameters ---- */

static const char code_params[] =
    "[{\"name\": \"lr\", \"type\": \"float\", \"low\": 1e-5, \"high\": 1e-1, \"log\": true},"
    " {\"name\": \"model\", \"type\": \"code\", \"language\": \"python\", \"contract\": "
    "\"define build_model(n_inputs, n_classes) returning a torch.nn.Module with at most 100k "
    "parameters\", \"requires\": [\"build_model\"], \"max_bytes\": 2000, \"baseline\": "
    "\"def build_model(n_inputs, n_classes):\\n    return nn.Linear(n_inputs, n_classes)\\n\"}]";

#define BASE_SRC                                                                                   \
    "def build_model(n_inputs, n_classes):\n    return nn.Linear(n_inputs, n_classes)\n"
#define BASE "def build_model(n_inputs, n_classes):\\n    return nn.Linear(n_inputs, n_classes)\\n"

static struct spec *code_spec(const char *llm)
{
    return tl_spec("digits-code", "a small network on the digits data", "val_error", false, 20,
                   code_params, llm);
}

/* A history: baseline, a new model, a failure with a traceback, the new model
 * again, another new model (pending: a third one). */
static void code_history(struct tl_history *t)
{
    tl_history_init(t);
    tl_history_done(t, 0, "{\"lr\": 0.01, \"model\": \"" BASE "\"}", OBS_COMPLETED, 0.08, NULL, -1);
    tl_history_done(t, 1,
                    "{\"lr\": 0.003, \"model\": \"def build_model(n_inputs, n_classes):\\n    "
                    "return MLP_ONE(n_inputs, n_classes)\\n\"}",
                    OBS_COMPLETED, 0.03, NULL, -1);
    tl_history_done(t, 2,
                    "{\"lr\": 0.001, \"model\": \"def build_model(n_inputs, n_classes):\\n    "
                    "return BROKEN(\\n\"}",
                    OBS_FAILED, NAN,
                    "exit status 1: Traceback (most recent call last):\n  File \"model.py\", "
                    "line 2\n    return BROKEN(\n                 ^\nSyntaxError: '(' was never "
                    "closed",
                    -1);
    tl_history_done(t, 3,
                    "{\"lr\": 0.02, \"model\": \"def build_model(n_inputs, n_classes):\\n    "
                    "return MLP_ONE(n_inputs, n_classes)\\n\"}",
                    OBS_COMPLETED, 0.05, NULL, -1);
    tl_history_pending(t, 4,
                       "{\"lr\": 0.005, \"model\": \"def build_model(n_inputs, n_classes):\\n  "
                       "  return PENDING_NET()\\n\"}");
}

START_TEST(test_prompt_code_history)
{
    struct spec *s = code_spec(NULL);
    struct tl_history t;
    code_history(&t);
    json_t *m = build(s, &t.h);
    const char *u = last_content(m);
    if (getenv("TL_SHOW"))
        fprintf(stderr, "%s\n", u);
    /* the contract, the required symbol, the size limit and the baseline */
    ck_assert_ptr_nonnull(strstr(u, "(contract: define build_model(n_inputs, n_classes)"));
    ck_assert_ptr_nonnull(strstr(u, "(must contain build_model), at most 2000 bytes"));
    ck_assert_ptr_nonnull(strstr(u, "```python\ndef build_model(n_inputs, n_classes):\n    return "
                                    "nn.Linear(n_inputs, n_classes)\n"));
    /* references and sources */
    ck_assert_ptr_nonnull(strstr(u, "#0 {\"lr\": 0.01, \"model\": \"<baseline>\"} -> val_error"));
    ck_assert_ptr_nonnull(strstr(u, "#1 {\"lr\": 0.003, \"model\": \"<source below>\"}"));
    ck_assert_ptr_nonnull(
        strstr(u, "Source of model in #1:\n```python\ndef build_model(n_inputs, n_classes):\n"
                  "    return MLP_ONE(n_inputs, n_classes)\n```"));
    ck_assert_ptr_nonnull(strstr(u, "#3 {\"lr\": 0.02, \"model\": \"<same as #1>\"}"));
    ck_assert_ptr_nonnull(strstr(u, "return BROKEN("));
    /* the failure keeps its lines: the end of the traceback says what went wrong */
    ck_assert_msg(strstr(u, "-> failed: exit status 1: Traceback (most recent call last):\n"
                            "      File \"model.py\", line 2\n"),
                  "%s", u);
    ck_assert_ptr_nonnull(strstr(u, "\n    SyntaxError: '(' was never closed\n"));
    /* the pending trial by size only */
    ck_assert_ptr_nonnull(strstr(u, "- {\"lr\": 0.005, \"model\": \"<python source, 63 bytes, not "
                                    "shown>\"}"));
    json_decref(m);

    /* chat form: assistant turns carry the references and sources */
    tl_spec_free(s);
    s = code_spec("{\"history\": \"chat\"}");
    m = build(s, &t.h);
    ck_assert_int_eq(json_array_size(m), 2 + 2 * 4);
    ck_assert_str_eq(json_str(json_array_get(m, 2), "content", ""),
                     "{\"lr\": 0.01, \"model\": \"<baseline>\"}");
    ck_assert_ptr_nonnull(strstr(json_str(json_array_get(m, 4), "content", ""),
                                 "Source of model in #1:\n```python\n"));
    ck_assert_ptr_nonnull(
        strstr(json_str(json_array_get(m, 7), "content", ""), "SyntaxError: '(' was never"));
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_code_long_error)
{
    struct spec *s = code_spec(NULL);
    struct tl_history t;
    tl_history_init(&t);
    struct buf e;
    buf_init(&e);
    buf_puts(&e, "exit status 1: start\n");
    for (int i = 0; i < 400; i++)
        buf_printf(&e, "noise line %d\n", i);
    buf_puts(&e, "ValueError: the real cause");
    tl_history_done(&t, 0, "{\"lr\": 0.01, \"model\": \"" BASE "\"}", OBS_FAILED, NAN, e.data, -1);
    json_t *m = build(s, &t.h);
    const char *u = last_content(m);
    ck_assert_ptr_nonnull(strstr(u, "failed: exit status 1: start"));
    ck_assert_ptr_nonnull(strstr(u, "bytes cut ...]"));
    ck_assert_ptr_nonnull(strstr(u, "    ValueError: the real cause"));
    ck_assert_ptr_null(strstr(u, "noise line 200\n"));
    ck_assert_msg(llm_prompt_size(m) < 6000, "%zu", llm_prompt_size(m));
    json_decref(m);
    buf_release(&e);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_code_batch_reask)
{
    struct spec *s = code_spec("{\"batch\": 2, \"reasoning\": true}");
    struct tl_history t;
    tl_history_init(&t);
    json_t *m = build(s, &t.h);
    const char *u = last_content(m);
    ck_assert_ptr_nonnull(strstr(u, "\"<<code:model:1>>\""));
    ck_assert_ptr_nonnull(strstr(u, "\"<<code:model:2>>\""));
    ck_assert_ptr_nonnull(strstr(u, "```python model:2\n"));
    ck_assert_ptr_nonnull(strstr(u, "then the code blocks, with nothing after them."));
    struct llm_prompt_opts o;
    char err[128];
    llm_prompt_opts_parse(s->llm, &o, err, sizeof err);
    ck_assert_int_eq(llm_prompt_reask(m, s, &o, "{}", "model: missing"), 0);
    ck_assert_ptr_nonnull(strstr(last_content(m), "one fenced code block per placeholder"));
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_prompt_code_bounded)
{
    /* many trials with long, distinct sources: the prompt stays bounded */
    struct spec *s = code_spec(NULL);
    s->max_trials = 500;
    size_t sizes[2];
    size_t counts[2] = {20, 300};
    for (int k = 0; k < 2; k++) {
        struct tl_history t;
        tl_history_init(&t);
        for (size_t i = 0; i < counts[k]; i++) {
            struct buf src;
            buf_init(&src);
            buf_printf(&src, "def build_model(n_inputs, n_classes):\n    # variant %zu\n", i);
            for (int l = 0; l < 30; l++)
                buf_printf(&src, "    layer_%d = %zu\n", l, i);
            json_t *cfg =
                json_pack("{s:f, s:s}", "lr", 0.001 + 1e-5 * (double)i, "model", src.data);
            tl_history_done_json(&t, (long)i, cfg, i % 3 ? OBS_COMPLETED : OBS_FAILED,
                                 i % 3 ? 0.5 - 1e-3 * (double)i : NAN);
            buf_release(&src);
        }
        json_t *m = build(s, &t.h);
        sizes[k] = llm_prompt_size(m);
        json_decref(m);
        tl_history_release(&t);
    }
    ck_assert_msg(sizes[1] <= 2 * sizes[0], "300 trials: %zu chars, 20: %zu", sizes[1], sizes[0]);
    tl_spec_free(s);
}
END_TEST

static const char *code_of(json_t *configs, size_t i)
{
    return json_str(json_array_get(configs, i), "model", "");
}

START_TEST(test_reply_code_forms)
{
    struct spec *s = code_spec(NULL);
    const char *want = "def build_model(n_inputs, n_classes):\n    return {\"lr\": 1}\n";
    /* fenced block after the JSON (the braces of the source are not the answer) */
    json_t *c = parse_ok(s,
                         "{\"lr\": 0.01, \"model\": \"<<code:model>>\"}\n```python\ndef "
                         "build_model(n_inputs, n_classes):\n    return {\"lr\": 1}\n\n```\n",
                         1, NULL, 1);
    ck_assert_str_eq(code_of(c, 0), want);
    ck_assert(json_real_value(json_object_get(json_array_get(c, 0), "lr")) == 0.01);
    json_decref(c);
    /* analysis line, a json fence, then an unlabelled code fence; closing fence glued */
    c = parse_ok(s,
                 "A deeper net should help.\n```json\n{\"lr\": 0.02, \"model\": "
                 "\"<<code:model>>\"}\n```\n```\ndef build_model(n_inputs, n_classes):\n    return "
                 "{\"lr\": 1}\n```",
                 1, NULL, 1);
    ck_assert_str_eq(code_of(c, 0), want);
    json_decref(c);
    /* the escaped string form */
    c = parse_ok(s,
                 "{\"lr\": 0.01, \"model\": \"def build_model(n_inputs, n_classes):\\n    return "
                 "{\\\"lr\\\": 1}\\n\"}",
                 1, NULL, 1);
    ck_assert_str_eq(code_of(c, 0), want);
    json_decref(c);
    /* a string that is itself a fenced block */
    c = parse_ok(s,
                 "{\"lr\": 0.01, \"model\": \"```python\\ndef build_model(n_inputs, "
                 "n_classes):\\n    return {\\\"lr\\\": 1}\\n```\"}",
                 1, NULL, 1);
    ck_assert_str_eq(code_of(c, 0), want);
    json_decref(c);
    /* the code parameter left out of the JSON: the only block fills it */
    c = parse_ok(s,
                 "{\"lr\": 0.01}\n```py\ndef build_model(n_inputs, n_classes):\n    return "
                 "{\"lr\": 1}\n```",
                 1, NULL, 1);
    ck_assert_str_eq(code_of(c, 0), want);
    json_decref(c);
    /* a batch: blocks in order, or by their label */
    c = parse_ok(s,
                 "{\"configs\": [{\"lr\": 0.01, \"model\": \"<<code:model:1>>\"}, {\"lr\": 0.02, "
                 "\"model\": \"<<code:model:2>>\"}]}\n```python model:2\ndef build_model(a, b): "
                 "return 2\n```\n```python model:1\ndef build_model(a, b): return 1\n```",
                 2, NULL, 2);
    ck_assert_str_eq(code_of(c, 0), "def build_model(a, b): return 1\n");
    ck_assert_str_eq(code_of(c, 1), "def build_model(a, b): return 2\n");
    json_decref(c);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_reply_code_invalid)
{
    struct spec *s = code_spec(NULL);
    parse_fails(s,
                "{\"lr\": 0.01, \"model\": \"<<code:model>>\"}\n```javascript\nfunction "
                "build_model() {}\n```",
                1, NULL,
                "model: the code block is labelled \"javascript\", but model must be "
                "python source");
    parse_fails(s, "{\"lr\": 0.01, \"model\": \"<<code:model>>\"}", 1, NULL,
                "model: the placeholder \"<<code:model>>\" needs a fenced code block");
    parse_fails(s,
                "{\"lr\": 0.01, \"model\": \"<<code:model>>\"}\n```python\ndef make_model():\n  "
                "  pass\n```",
                1, NULL, "model: must contain the symbol \"build_model\"");
    /* build_model_v2 is not the symbol build_model */
    parse_fails(s, "{\"lr\": 0.01, \"model\": \"def build_model_v2(): pass\"}", 1, NULL,
                "must contain the symbol \"build_model\"");
    struct buf big;
    buf_init(&big);
    buf_puts(&big, "{\"lr\": 0.01, \"model\": \"<<code:model>>\"}\n```python\ndef build_model(a, "
                   "b):\n");
    for (int i = 0; i < 200; i++)
        buf_printf(&big, "    x%d = %d\n", i, i);
    buf_puts(&big, "```\n");
    parse_fails(s, big.data, 1, NULL, "more than max_bytes 2000");
    buf_release(&big);
    /* the same source and settings as a finished trial */
    struct tl_history t;
    code_history(&t);
    parse_fails(s, "{\"lr\": 0.01, \"model\": \"<<code:model>>\"}\n```python\n" BASE_SRC "```", 1,
                &t.h, "already evaluated as trial #0");
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

/* ---- JSON Schema of the answer ---- */

static const char all_types[] =
    "[{\"name\": \"lr\", \"type\": \"float\", \"low\": 1e-5, \"high\": 0.1, \"log\": true},"
    " {\"name\": \"layers\", \"type\": \"int\", \"low\": 1, \"high\": 9, \"step\": 2},"
    " {\"name\": \"act\", \"type\": \"categorical\", \"choices\": [\"relu\", 3, true]},"
    " {\"name\": \"mom\", \"type\": \"float\", \"low\": 0.5, \"high\": 0.99, \"when\": {\"act\": "
    "[\"relu\", 3]}},"
    " {\"name\": \"model\", \"type\": \"code\", \"language\": \"python\", \"contract\": "
    "\"define build()\", \"baseline\": \"def build(): pass\\n\", \"max_bytes\": 5000}]";

static json_t *prop(json_t *schema, const char *name)
{
    return json_object_get(json_object_get(schema, "properties"), name);
}

static bool has_str(const json_t *arr, const char *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (json_is_string(x) && !strcmp(json_string_value(x), v))
            return true;
    }
    return false;
}

START_TEST(test_schema_types)
{
    char err[256];
    json_t *params = tl_json(all_types);
    struct space *sp = space_parse(params, err, sizeof err);
    ck_assert_msg(sp != NULL, "%s", err);
    bool strict = true;
    struct llm_schema_opts o = {.batch = 1, .reasoning = false};
    json_t *sc = llm_schema_build(sp, &o, &strict);
    ck_assert_ptr_nonnull(sc);
    ck_assert(!strict); /* a conditional parameter: not for strict mode */
    ck_assert_str_eq(json_str(sc, "type", ""), "object");
    ck_assert(json_is_false(json_object_get(sc, "additionalProperties")));
    json_t *lr = prop(sc, "lr");
    ck_assert_str_eq(json_str(lr, "type", ""), "number");
    ck_assert(json_num(lr, "minimum", 0) == 1e-5 && json_num(lr, "maximum", 0) == 0.1);
    ck_assert_ptr_nonnull(strstr(json_str(lr, "description", ""), "log"));
    json_t *layers = prop(sc, "layers");
    ck_assert_str_eq(json_str(layers, "type", ""), "integer");
    ck_assert(json_is_integer(json_object_get(layers, "minimum")));
    ck_assert_int_eq(json_int(layers, "maximum", 0), 9);
    ck_assert_ptr_nonnull(strstr(json_str(layers, "description", ""), "2"));
    json_t *act = json_object_get(prop(sc, "act"), "enum");
    json_t *want_act = tl_json("[\"relu\", 3, true]");
    ck_assert(json_equal(act, want_act));
    json_decref(want_act);
    json_t *model = prop(sc, "model");
    ck_assert_str_eq(json_str(model, "type", ""), "string");
    ck_assert_int_eq(json_int(model, "maxLength", 0), 5000);
    json_t *req = json_object_get(sc, "required");
    ck_assert(has_str(req, "lr") && has_str(req, "layers") && has_str(req, "act") &&
              has_str(req, "model") && !has_str(req, "mom"));
    /* mom: required when act is relu or 3, forbidden otherwise */
    json_t *clause = json_array_get(json_object_get(sc, "allOf"), 0);
    json_t *cond =
        json_object_get(json_object_get(json_object_get(clause, "if"), "properties"), "act");
    json_t *want = tl_json("[\"relu\", 3]");
    ck_assert(json_equal(json_object_get(cond, "enum"), want));
    json_decref(want);
    ck_assert(has_str(json_object_get(json_object_get(clause, "then"), "required"), "mom"));
    ck_assert(has_str(
        json_object_get(json_object_get(json_object_get(clause, "else"), "not"), "required"),
        "mom"));
    json_decref(sc);

    /* a batch of 4 with reasoning: {"reasoning", "configs": [4 items]} */
    o.batch = 4;
    o.reasoning = true;
    sc = llm_schema_build(sp, &o, NULL);
    ck_assert_str_eq(json_str(prop(sc, "reasoning"), "type", ""), "string");
    json_t *cf = prop(sc, "configs");
    ck_assert_str_eq(json_str(cf, "type", ""), "array");
    ck_assert_int_eq(json_int(cf, "minItems", 0), 4);
    ck_assert_int_eq(json_int(cf, "maxItems", 0), 4);
    ck_assert_ptr_nonnull(prop(json_object_get(cf, "items"), "lr"));
    ck_assert(has_str(json_object_get(sc, "required"), "reasoning"));
    json_decref(sc);

    /* one configuration with reasoning: the field comes first */
    o.batch = 1;
    sc = llm_schema_build(sp, &o, NULL);
    void *it = json_object_iter(json_object_get(sc, "properties"));
    ck_assert_str_eq(json_object_iter_key(it), "reasoning");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(sc, "required"), 0)),
                     "reasoning");
    json_decref(sc);
    space_free(sp);

    /* no condition: strict mode fits */
    json_t *plain = tl_json("[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1}]");
    sp = space_parse(plain, err, sizeof err);
    sc = llm_schema_build(sp, NULL, &strict);
    ck_assert(strict);
    ck_assert_ptr_null(json_object_get(sc, "allOf"));
    json_decref(sc);
    space_free(sp);
    json_decref(plain);
    json_decref(params);
}
END_TEST

/* A reply carrying the reasoning field of a structured answer is read as the
 * configuration alone. */
START_TEST(test_reply_reasoning_field)
{
    struct spec *s = svm_spec(NULL);
    json_t *configs = NULL;
    char err[256];
    int n = llm_reply_parse(s->space,
                            "{\"reasoning\": \"try rbf\", \"C\": 2, \"kernel\": \"rbf\", "
                            "\"shrinking\": true}",
                            1, NULL, &configs, err, sizeof err);
    ck_assert_msg(n == 1, "%s", err);
    ck_assert_ptr_null(json_object_get(json_array_get(configs, 0), "reasoning"));
    json_decref(configs);
    tl_spec_free(s);
}
END_TEST

/* ---- reasoning models ---- */

START_TEST(test_split_reasoning)
{
    char *a, *r;
    ck_assert_int_eq(
        llm_split_reasoning("<think>maybe {\"C\": 999}\nno</think>\n{\"C\": 1}", &a, &r), 0);
    ck_assert_str_eq(a, "{\"C\": 1}");
    ck_assert_str_eq(r, "maybe {\"C\": 999}\nno");
    free(a);
    free(r);
    /* a lone closing tag: everything before it is reasoning */
    ck_assert_int_eq(llm_split_reasoning("draft {\"C\": 5}</think>final {\"C\": 2}", &a, &r), 0);
    ck_assert_str_eq(a, "final {\"C\": 2}");
    ck_assert_str_eq(r, "draft {\"C\": 5}");
    free(a);
    free(r);
    /* never closed: no answer */
    ck_assert_int_eq(llm_split_reasoning("<think>{\"C\": 3} is", &a, &r), 0);
    ck_assert_str_eq(a, "");
    ck_assert_str_eq(r, "{\"C\": 3} is");
    free(a);
    free(r);
    /* no reasoning: the content as it is */
    ck_assert_int_eq(llm_split_reasoning("Line of analysis.\n{\"C\": 4}", &a, &r), 0);
    ck_assert_str_eq(a, "Line of analysis.\n{\"C\": 4}");
    ck_assert_ptr_null(r);
    free(a);
}
END_TEST

/* ---- keys, prices ---- */

static struct llm_provider *keyed(struct llm_registry **reg, const char *key)
{
    char err[256];
    clear_env();
    *reg = llm_registry_new(err, sizeof err);
    llm_config_section(*reg, "provider k", "api_key", key, err, sizeof err);
    return llm_registry_get(*reg, "k");
}

START_TEST(test_redact_whole_token)
{
    struct llm_registry *reg;
    struct llm_provider *p = keyed(&reg, "sk-Ab3dE6gH9");
    /* the key alone, quoted, at the ends: redacted; parts of it or the key inside
     * a longer token: kept */
    char s[] = "sk-Ab3dE6gH9 said 'sk-Ab3dE6gH9'; import socket; x = 'Ab3dE6' + "
               "xsk-Ab3dE6gH9 + sk-Ab3dE6gH9_2 at sk-Ab3dE6gH9";
    llm_provider_redact(p, s);
    ck_assert_str_eq(s, "[redacted] said '[redacted]'; import socket; x = 'Ab3dE6' + "
                        "xsk-Ab3dE6gH9 + sk-Ab3dE6gH9_2 at [redacted]");
    llm_registry_free(reg);

    /* a one-character key (were it allowed) touches no other text */
    p = keyed(&reg, "k");
    char t[] = "import socket as k; kk = k";
    llm_provider_redact(p, t);
    ck_assert_str_eq(t, "import socket as *; kk = *");
    llm_registry_free(reg);
}
END_TEST

START_TEST(test_short_key_refused)
{
    struct llm_registry *reg;
    char err[256] = "";
    keyed(&reg, "k");
    ck_assert_int_eq(llm_registry_finish(reg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "provider 'k'") && strstr(err, "too short") && !strstr(err, "'k'\n"),
                  "%s", err);
    ck_assert_msg(!strchr(err, '\n'), "one line: %s", err);
    llm_registry_free(reg);
    keyed(&reg, "1234567");
    ck_assert_int_eq(llm_registry_finish(reg, err, sizeof err), -1);
    llm_registry_free(reg);
    keyed(&reg, "12345678");
    ck_assert_msg(llm_registry_finish(reg, err, sizeof err) == 0, "%s", err);
    llm_registry_free(reg);
}
END_TEST

START_TEST(test_price_prefix)
{
    char err[256];
    clear_env();
    struct llm_registry *reg = llm_registry_new(err, sizeof err);
    llm_config_section(reg, "price gpt-4o", "input_per_mtok", "2.5", err, sizeof err);
    llm_config_section(reg, "price gpt-4o", "output_per_mtok", "10", err, sizeof err);
    llm_config_section(reg, "price gpt-4o-mini", "input_per_mtok", "0.15", err, sizeof err);
    llm_config_section(reg, "price gpt-4o-mini", "output_per_mtok", "0.6", err, sizeof err);
    ck_assert(fabs(llm_registry_cost(reg, "gpt-4o-mini-2024-07-18", 1000000, 1000000) - 0.75) <
              1e-9);
    ck_assert(fabs(llm_registry_cost(reg, "gpt-4o-2024-08-06", 1000000, 0) - 2.5) < 1e-9);
    ck_assert(fabs(llm_registry_cost(reg, "gpt-4o-mini", 0, 1000000) - 0.6) < 1e-9);
    ck_assert(llm_registry_cost(reg, "gpt-4", 10, 10) < 0);
    ck_assert(llm_registry_cost(reg, "o1", 10, 10) < 0);
    llm_registry_free(reg);
}
END_TEST

START_TEST(test_structured_config)
{
    char err[256] = "";
    clear_env();
    struct llm_registry *reg = llm_registry_new(err, sizeof err);
    static const char *const ok[][2] = {{"json_schema", "json_schema"},
                                        {"vllm", "vllm"},
                                        {"ollama", "ollama"},
                                        {"json_object", "json_object"},
                                        {"none", "none"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_int_eq(
            llm_config_section(reg, "provider o", "structured", ok[i][0], err, sizeof err), 0);
        ck_assert_int_eq(llm_registry_finish(reg, err, sizeof err), 0);
        ck_assert_str_eq(llm_dialect_name(llm_registry_get(reg, "o")->dialect), ok[i][1]);
    }
    ck_assert_int_eq(llm_provider_level(llm_registry_get(reg, "o")), LLM_LEVEL_PROMPT);
    ck_assert_int_eq(llm_config_section(reg, "provider o", "structured", "xml", err, sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "'xml'"), "%s", err);
    /* defaults: json_schema for openai, a tool call for anthropic */
    llm_config_section(reg, "provider a", "format", "anthropic", err, sizeof err);
    llm_config_section(reg, "provider d", "format", "openai", err, sizeof err);
    llm_config_section(reg, "provider o", "structured", "json_schema", err, sizeof err);
    ck_assert_int_eq(llm_registry_finish(reg, err, sizeof err), 0);
    ck_assert(llm_registry_get(reg, "a")->dialect == LLM_DIALECT_TOOL);
    ck_assert(llm_registry_get(reg, "d")->dialect == LLM_DIALECT_JSON_SCHEMA);
    ck_assert_int_eq(llm_provider_level(llm_registry_get(reg, "d")), LLM_LEVEL_SCHEMA);
    /* a dialect of the other format is refused */
    llm_config_section(reg, "provider a", "structured", "vllm", err, sizeof err);
    ck_assert_int_eq(llm_registry_finish(reg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "[provider a] structured") && strstr(err, "'vllm'"), "%s", err);
    llm_registry_free(reg);
}
END_TEST

/* ---- chat history ---- */

START_TEST(test_chat_replays_replies)
{
    struct spec *s = svm_spec("{\"history\": \"chat\", \"reasoning\": true}");
    struct tl_history t;
    tl_history_init(&t);
    static const char r0[] = "Start in the middle of the range.\n{\"C\": 1.0, \"kernel\": "
                             "\"rbf\", \"shrinking\": true}";
    static const char r2[] = "<think>maybe {\"C\": 777}</think>\nTry poly.\n{\"C\": 3.5, "
                             "\"kernel\": \"poly\", \"degree\": 3, \"shrinking\": false}";
    tl_history_done(&t, 0, "{\"C\": 1.0, \"kernel\": \"rbf\", \"shrinking\": true}", OBS_COMPLETED,
                    0.05, NULL, -1);
    tl_history_done(&t, 1, "{\"C\": 42.0, \"kernel\": \"linear\", \"shrinking\": true}",
                    OBS_COMPLETED, 0.09, NULL, -1);
    tl_history_done(&t, 2,
                    "{\"C\": 3.5, \"kernel\": \"poly\", \"degree\": 3, \"shrinking\": false}",
                    OBS_COMPLETED, 0.03, NULL, -1);
    t.done[0].origin = LLM_ORIGIN_LLM;
    t.done[0].reply = r0;
    t.done[1].origin = LLM_ORIGIN_OTHER;
    t.done[2].origin = LLM_ORIGIN_LLM;
    t.done[2].reply = r2;
    t.h.rejected_reason = "C: 5000 is out of range [0.001, 1000]";
    struct llm_prompt_opts o;
    char err[256];
    ck_assert_int_eq(llm_prompt_opts_parse(s->llm, &o, err, sizeof err), 0);
    json_t *m = llm_prompt_build(s, &o, &t.h, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    /* system, user, assistant r0, user (#0 and the user's #1), assistant r2, user */
    ck_assert_int_eq(json_array_size(m), 6);
    ck_assert_str_eq(json_str(json_array_get(m, 2), "role", ""), "assistant");
    ck_assert_str_eq(json_str(json_array_get(m, 2), "content", ""), r0);
    const char *u3 = json_str(json_array_get(m, 3), "content", "");
    ck_assert_msg(strstr(u3, "Trial #0") && strstr(u3, "A result added by the user") &&
                      strstr(u3, "42") && strstr(u3, "trial #1"),
                  "%s", u3);
    ck_assert_str_eq(json_str(json_array_get(m, 4), "role", ""), "assistant");
    const char *a4 = json_str(json_array_get(m, 4), "content", "");
    ck_assert_str_eq(a4, "Try poly.\n{\"C\": 3.5, \"kernel\": \"poly\", \"degree\": 3, "
                         "\"shrinking\": false}");
    /* no assistant turn holds the user's trial or the thought-only draft */
    for (size_t i = 0; i < json_array_size(m); i++) {
        if (strcmp(json_str(json_array_get(m, i), "role", ""), "assistant"))
            continue;
        const char *c = json_str(json_array_get(m, i), "content", "");
        ck_assert_msg(!strstr(c, "42") && !strstr(c, "777"), "%s", c);
    }
    const char *last = json_str(json_array_get(m, 5), "content", "");
    ck_assert_msg(strstr(last, "Trial #2") &&
                      strstr(last, "could not be used: C: 5000 is out of range"),
                  "%s", last);
    json_decref(m);

    /* compressed history tells the rejection too */
    o.history = LLM_HISTORY_COMPRESSED;
    m = llm_prompt_build(s, &o, &t.h, err, sizeof err);
    ck_assert_int_eq(json_array_size(m), 2);
    ck_assert_ptr_nonnull(
        strstr(json_str(json_array_get(m, 1), "content", ""), "could not be used: C: 5000"));
    json_decref(m);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

/* With the answer constrained by the schema, the format puts the analysis in
 * the "reasoning" field, and its example is a valid answer. */
START_TEST(test_prompt_schema_answer)
{
    static const size_t batches[] = {1, 3};
    for (size_t k = 0; k < 2; k++) {
        struct spec *s = svm_spec(NULL);
        struct llm_prompt_opts o;
        char err[256];
        ck_assert_int_eq(llm_prompt_opts_parse(NULL, &o, err, sizeof err), 0);
        o.reasoning = true;
        o.batch = batches[k];
        o.schema_answer = true;
        struct tl_history t;
        tl_history_init(&t);
        json_t *m = llm_prompt_build(s, &o, &t.h, err, sizeof err);
        tl_history_release(&t);
        const char *u = json_str(json_array_get(m, 1), "content", "");
        ck_assert_msg(strstr(u, "in the \"reasoning\" field") && !strstr(u, "line of analysis "
                                                                            "of the results so "
                                                                            "far, then"),
                      "%s", u);
        const char *ex = strstr(u, "illustrate it):\n");
        ck_assert_ptr_nonnull(ex);
        ex += strlen("illustrate it):\n");
        json_error_t e;
        json_t *j = json_loadb(ex, strcspn(ex, "\n"), 0, &e);
        ck_assert_msg(j != NULL, "example '%.*s': %s", (int)strcspn(ex, "\n"), ex, e.text);
        ck_assert(json_is_string(json_object_get(j, "reasoning")));
        if (batches[k] > 1)
            ck_assert_int_eq(json_array_size(json_object_get(j, "configs")), 2);
        else
            ck_assert_ptr_nonnull(json_object_get(j, "kernel"));
        json_decref(j);
        json_decref(m);
        tl_spec_free(s);
    }
}
END_TEST

/* ---- several objectives and constraints ---- */

static const char net_params[] =
    "[{\"name\": \"width\", \"type\": \"int\", \"low\": 8, \"high\": 512, \"log\": true},"
    " {\"name\": \"lr\", \"type\": \"float\", \"low\": 0.0001, \"high\": 0.1, \"log\": true}]";

/* Two objectives (accuracy up, latency down) and a memory limit. */
static struct spec *net_spec(const char *llm, bool constrained)
{
    struct spec *s = tl_spec("net-pareto", "A small network: accuracy against latency.", "acc",
                             true, 20, net_params, llm);
    s->n_objectives = 2;
    s->objectives[0] = (struct spec_objective){strdup("acc"), true};
    s->objectives[1] = (struct spec_objective){strdup("latency_ms"), false};
    if (constrained) {
        s->n_constraints = 1;
        s->constraints[0] = (struct spec_constraint){strdup("mem_gb"), false, true, 0, 8};
    }
    return s;
}

static void net_spec_free(struct spec *s)
{
    for (size_t i = 0; i < s->n_objectives; i++)
        free(s->objectives[i].name);
    for (size_t i = 0; i < s->n_constraints; i++)
        free(s->constraints[i].name);
    tl_spec_free(s);
}

static void net_done(struct tl_history *t, long number, int width, double acc, const char *values)
{
    char params[128];
    snprintf(params, sizeof params, "{\"width\": %d, \"lr\": 0.01}", width);
    tl_history_done(t, number, params, OBS_COMPLETED, acc, NULL, -1);
    tl_history_values(t, values);
}

/* #0 and #3 form the front; #1 is beaten by #0; #2 breaks the memory limit;
 * #4 failed; #5 reports no memory (infeasible) though it beats all. */
static void net_history(struct tl_history *t)
{
    tl_history_init(t);
    net_done(t, 0, 64, 0.90, "{\"acc\": 0.90, \"latency_ms\": 20, \"mem_gb\": 4}");
    net_done(t, 1, 32, 0.80, "{\"acc\": 0.80, \"latency_ms\": 30, \"mem_gb\": 4}");
    net_done(t, 2, 512, 0.95, "{\"acc\": 0.95, \"latency_ms\": 50, \"mem_gb\": 9.5}");
    net_done(t, 3, 16, 0.85, "{\"acc\": 0.85, \"latency_ms\": 10, \"mem_gb\": 2}");
    tl_history_done(t, 4, "{\"width\": 256, \"lr\": 0.1}", OBS_FAILED, NAN, "diverged", -1);
    net_done(t, 5, 128, 0.99, "{\"acc\": 0.99, \"latency_ms\": 5}");
    tl_history_pending(t, 6, "{\"width\": 100, \"lr\": 0.001}");
}

/* The line of trial #n in text (up to its end), for assertions; "" if none. */
static char *line_of(const char *text, long n)
{
    char key[32];
    snprintf(key, sizeof key, "\n#%ld ", n);
    const char *at = strstr(text, key);
    if (!at)
        return strdup("");
    at++;
    const char *end = strchr(at, '\n');
    return strndup(at, end ? (size_t)(end - at) : strlen(at));
}

START_TEST(test_prompt_multi)
{
    struct spec *s = net_spec(NULL, true);
    struct tl_history t;
    net_history(&t);
    ck_assert(llm_prompt_multi(s));
    json_t *m = build(s, &t.h);
    const char *u = last_content(m);
    /* the objectives with their directions, the constraint with its bound */
    ck_assert_ptr_nonnull(strstr(u, "reports 2 objectives"));
    ck_assert_ptr_nonnull(strstr(u, "- \"acc\": higher is better (maximize)"));
    ck_assert_ptr_nonnull(strstr(u, "- \"latency_ms\": lower is better (minimize)"));
    ck_assert_ptr_nonnull(strstr(u, "- \"mem_gb\" <= 8"));
    ck_assert_ptr_nonnull(strstr(u, "the goal is the Pareto front"));
    /* each trial with all its objectives, feasibility and front membership */
    char *l0 = line_of(u, 0), *l1 = line_of(u, 1), *l2 = line_of(u, 2), *l5 = line_of(u, 5);
    ck_assert_ptr_nonnull(strstr(l0, "acc = 0.9, latency_ms = 20, mem_gb = 4 (completed, "
                                     "feasible, on the front)"));
    ck_assert_ptr_nonnull(strstr(l1, "(completed, feasible)"));
    ck_assert_ptr_null(strstr(l1, "front"));
    ck_assert_ptr_nonnull(
        strstr(l2, "acc = 0.95, latency_ms = 50, mem_gb = 9.5 (violates <= 8) (completed, "
                   "infeasible)"));
    ck_assert_ptr_nonnull(strstr(l5, "mem_gb = not reported (violates <= 8) (completed, "
                                     "infeasible)"));
    char *l3 = line_of(u, 3);
    ck_assert_ptr_nonnull(strstr(l3, "on the front"));
    free(l3);
    free(l0);
    free(l1);
    free(l2);
    free(l5);
    /* the front in place of the best trial: #0 and #3 only */
    const char *front = strstr(u, "The current Pareto front (2 trials");
    ck_assert_ptr_nonnull(front);
    ck_assert_ptr_nonnull(strstr(front, "- #0 acc = 0.9, latency_ms = 20: {\"width\": 64"));
    ck_assert_ptr_nonnull(strstr(front, "- #3 acc = 0.85, latency_ms = 10: {\"width\": 16"));
    ck_assert_ptr_null(strstr(front, "- #2 "));
    ck_assert_ptr_null(strstr(front, "- #5 "));
    ck_assert_ptr_null(strstr(u, "Best so far"));
    /* asked to extend the front, with the trade-off aimed at */
    ck_assert_ptr_nonnull(strstr(u, "extends the front"));
    ck_assert_ptr_nonnull(strstr(u, "has an \"aim\" key"));
    ck_assert_ptr_nonnull(strstr(u, "{\"aim\": \"<the trade-off this configuration aims at>\", "
                                    "\"width\": "));
    ck_assert_ptr_nonnull(strstr(u, "Being evaluated now"));
    char *all = messages_text(m);
    tl_golden("tests/unit/golden/llm-multi.txt", all);
    free(all);
    json_decref(m);

    /* the chat form tells the same outcomes turn by turn, then the front */
    struct spec *c = net_spec("{\"history\": \"chat\"}", true);
    m = build(c, &t.h);
    all = messages_text(m);
    ck_assert_ptr_nonnull(strstr(all, "Trial #0: acc = 0.9, latency_ms = 20, mem_gb = 4 "
                                      "(completed, feasible, on the front)."));
    ck_assert_ptr_nonnull(strstr(all, "Trial #2: acc = 0.95, latency_ms = 50, mem_gb = 9.5 "
                                      "(violates <= 8) (completed, infeasible)."));
    ck_assert_ptr_nonnull(strstr(last_content(m), "The current Pareto front (2 trials"));
    free(all);
    json_decref(m);
    net_spec_free(c);

    /* without the constraint, #5 and #2 join the front and #0 is beaten by #5 */
    struct spec *f = net_spec(NULL, false);
    m = build(f, &t.h);
    u = last_content(m);
    ck_assert_ptr_nonnull(strstr(u, "The current Pareto front (1 trial: completed, and dominated"));
    ck_assert_ptr_nonnull(strstr(u, "- #5 acc = 0.99, latency_ms = 5"));
    ck_assert_ptr_null(strstr(u, "feasible"));
    ck_assert_ptr_null(strstr(u, "mem_gb"));
    json_decref(m);
    net_spec_free(f);

    /* a schema-constrained answer names the field too, batch or not */
    struct llm_prompt_opts o;
    char err[256];
    ck_assert_int_eq(llm_prompt_opts_parse(s->llm, &o, err, sizeof err), 0);
    o.schema_answer = true;
    o.batch = 2;
    m = llm_prompt_build(s, &o, &t.h, err, sizeof err);
    ck_assert_ptr_nonnull(strstr(last_content(m), "each configuration's \"aim\" field"));
    json_decref(m);
    tl_history_release(&t);
    net_spec_free(s);

    /* a one-objective study is untouched */
    struct spec *one = svm_spec(NULL);
    ck_assert(!llm_prompt_multi(one));
    tl_spec_free(one);
}
END_TEST

/* No trial completed: the front is said to be empty. A constrained study
 * with one objective asks for the best feasible configuration. */
START_TEST(test_prompt_multi_empty)
{
    struct spec *s = net_spec(NULL, true);
    struct tl_history t;
    tl_history_init(&t);
    tl_history_done(&t, 0, "{\"width\": 8, \"lr\": 0.1}", OBS_FAILED, NAN, "oom", -1);
    net_done(&t, 1, 9, 0.5, "{\"acc\": 0.5, \"latency_ms\": 1, \"mem_gb\": 12}");
    json_t *m = build(s, &t.h);
    ck_assert_ptr_nonnull(
        strstr(last_content(m), "The front is empty: no feasible trial has completed yet."));
    json_decref(m);
    net_spec_free(s);

    s = tl_spec("one-c", "", "loss", false, 10, net_params, NULL);
    s->n_objectives = 1;
    s->objectives[0] = (struct spec_objective){strdup("loss"), false};
    s->n_constraints = 1;
    s->constraints[0] = (struct spec_constraint){strdup("mem_gb"), true, true, 1, 8};
    m = build(s, &t.h);
    const char *u = last_content(m);
    ck_assert_ptr_nonnull(strstr(u, "- \"loss\": lower is better (minimize)"));
    ck_assert_ptr_nonnull(strstr(u, "- \"mem_gb\" in [1, 8]"));
    ck_assert_ptr_nonnull(strstr(u, "best feasible configuration"));
    ck_assert_ptr_nonnull(strstr(u, "mem_gb = 12 (violates in [1, 8])"));
    ck_assert_ptr_nonnull(strstr(u, "No feasible trial has completed yet."));
    ck_assert_ptr_nonnull(strstr(u, "the trade-off between the objective and the constraints"));
    ck_assert_ptr_nonnull(strstr(u, "Stay within the constraints"));
    ck_assert_ptr_null(strstr(u, "Pareto"));
    ck_assert_ptr_null(strstr(u, "front"));
    json_decref(m);
    /* once one is feasible, it is the best feasible so far */
    net_done(&t, 2, 10, 0.5, "{\"loss\": 0.5, \"mem_gb\": 3}");
    m = build(s, &t.h);
    u = last_content(m);
    ck_assert_ptr_nonnull(strstr(u, "Best feasible so far:\n- #2 loss = 0.5: {\"width\": 10"));
    json_decref(m);
    net_spec_free(s);
    tl_history_release(&t);
}
END_TEST

/* On a long study the front trials are the ones kept among the old. */
START_TEST(test_prompt_multi_keeps_front)
{
    struct spec *s = net_spec("{\"keep_best\": 1, \"keep_recent\": 2}", true);
    struct tl_history t;
    tl_history_init(&t);
    /* #0 is the only front trial (fast, accurate enough); the others are worse
     * on latency, and #1 to #3 more accurate on the first objective only
     * because they break the memory limit */
    net_done(&t, 0, 20, 0.7, "{\"acc\": 0.7, \"latency_ms\": 1, \"mem_gb\": 1}");
    net_done(&t, 1, 21, 0.6, "{\"acc\": 0.6, \"latency_ms\": 9, \"mem_gb\": 1}");
    net_done(&t, 2, 22, 0.99, "{\"acc\": 0.99, \"latency_ms\": 9, \"mem_gb\": 20}");
    net_done(&t, 3, 23, 0.5, "{\"acc\": 0.5, \"latency_ms\": 9, \"mem_gb\": 1}");
    net_done(&t, 4, 24, 0.4, "{\"acc\": 0.4, \"latency_ms\": 9, \"mem_gb\": 1}");
    net_done(&t, 5, 25, 0.3, "{\"acc\": 0.3, \"latency_ms\": 9, \"mem_gb\": 1}");
    json_t *m = build(s, &t.h);
    const char *u = last_content(m);
    char *l0 = line_of(u, 0), *l2 = line_of(u, 2);
    ck_assert_ptr_nonnull(strstr(l0, "on the front"));
    ck_assert_str_eq(l2, ""); /* the most accurate but infeasible one is not kept */
    free(l0);
    free(l2);
    json_decref(m);
    tl_history_release(&t);
    net_spec_free(s);
}
END_TEST

/* The schema of a multi-objective answer: an "aim" string, required, first. */
START_TEST(test_schema_aim)
{
    char err[256];
    json_t *params = tl_json(net_params);
    struct space *sp = space_parse(params, err, sizeof err);
    ck_assert_msg(sp != NULL, "%s", err);
    bool strict = false;
    struct llm_schema_opts o = {.batch = 1, .reasoning = false, .aim = true};
    json_t *sc = llm_schema_build(sp, &o, &strict);
    ck_assert(strict); /* still fits strict mode: every property required */
    void *it = json_object_iter(json_object_get(sc, "properties"));
    ck_assert_str_eq(json_object_iter_key(it), "aim");
    ck_assert_str_eq(json_str(prop(sc, "aim"), "type", ""), "string");
    ck_assert_ptr_nonnull(strstr(json_str(prop(sc, "aim"), "description", ""), "trade-off"));
    ck_assert(has_str(json_object_get(sc, "required"), "aim"));
    ck_assert(has_str(json_object_get(sc, "required"), "width"));
    json_decref(sc);

    /* with reasoning, the analysis first, then the aim */
    o.reasoning = true;
    sc = llm_schema_build(sp, &o, NULL);
    it = json_object_iter(json_object_get(sc, "properties"));
    ck_assert_str_eq(json_object_iter_key(it), "reasoning");
    it = json_object_iter_next(json_object_get(sc, "properties"), it);
    ck_assert_str_eq(json_object_iter_key(it), "aim");
    json_decref(sc);

    /* a batch: each configuration carries its own aim */
    o.batch = 3;
    sc = llm_schema_build(sp, &o, NULL);
    json_t *items = json_object_get(prop(sc, "configs"), "items");
    ck_assert(has_str(json_object_get(items, "required"), "aim"));
    ck_assert_ptr_null(prop(sc, "aim"));
    json_decref(sc);

    /* one objective: no aim */
    o.aim = false;
    o.batch = 1;
    o.reasoning = false;
    sc = llm_schema_build(sp, &o, NULL);
    ck_assert_ptr_null(prop(sc, "aim"));
    ck_assert(!has_str(json_object_get(sc, "required"), "aim"));
    json_decref(sc);
    space_free(sp);
    json_decref(params);
}
END_TEST

/* The aim of each configuration is read as a note, not a parameter. */
START_TEST(test_reply_aim)
{
    struct spec *s = net_spec(NULL, true);
    json_t *configs = NULL;
    char err[256];
    int n = llm_reply_parse(s->space,
                            "{\"aim\": \"faster at a small cost in accuracy\", \"width\": 12, "
                            "\"lr\": 0.01}",
                            1, NULL, &configs, err, sizeof err);
    ck_assert_msg(n == 1, "%s", err);
    json_t *c = json_array_get(configs, 0);
    ck_assert_ptr_null(json_object_get(c, "aim"));
    ck_assert_int_eq(json_integer_value(json_object_get(c, "width")), 12);
    json_decref(configs);
    n = llm_reply_parse(s->space,
                        "Analysis: the front has a gap at 15 ms.\n{\"configs\": [{\"aim\": "
                        "\"the gap\", \"width\": 40, \"lr\": 0.002}, {\"trade_off\": \"accuracy\", "
                        "\"width\": 300, \"lr\": 0.003}]}",
                        2, NULL, &configs, err, sizeof err);
    ck_assert_msg(n == 2, "%s", err);
    ck_assert_uint_eq(json_object_size(json_array_get(configs, 0)), 2);
    ck_assert_uint_eq(json_object_size(json_array_get(configs, 1)), 2);
    json_decref(configs);
    /* an aim that is not a string is still an unknown parameter */
    n = llm_reply_parse(s->space, "{\"aim\": 3, \"width\": 12, \"lr\": 0.01}", 1, NULL, &configs,
                        err, sizeof err);
    ck_assert_int_eq(n, -1);
    ck_assert_ptr_nonnull(strstr(err, "aim"));
    net_spec_free(s);
}
END_TEST

static Suite *llm_suite(void)
{
    Suite *s = suite_create("llm");
    TCase *tc = tcase_create("prompt");
    tcase_add_test(tc, test_prompt_golden_compressed);
    tcase_add_test(tc, test_prompt_golden_chat);
    tcase_add_test(tc, test_prompt_golden_batch_reasoning);
    tcase_add_test(tc, test_prompt_contents);
    tcase_add_test(tc, test_prompt_failed_error_cut);
    tcase_add_test(tc, test_prompt_bounded_compressed);
    tcase_add_test(tc, test_prompt_bounded_chat);
    tcase_add_test(tc, test_prompt_chat_shortened_keeps_best);
    tcase_add_test(tc, test_prompt_template);
    tcase_add_test(tc, test_prompt_code_param);
    tcase_add_test(tc, test_prompt_opts_errors);
    tcase_add_test(tc, test_prompt_reask);
    tcase_add_test(tc, test_history_from_obs);
    tcase_add_test(tc, test_prompt_code_history);
    tcase_add_test(tc, test_prompt_code_long_error);
    tcase_add_test(tc, test_prompt_code_batch_reask);
    tcase_add_test(tc, test_prompt_code_bounded);
    suite_add_tcase(s, tc);
    tc = tcase_create("reply");
    tcase_add_test(tc, test_reply_forms);
    tcase_add_test(tc, test_reply_invalid);
    tcase_add_test(tc, test_reply_duplicates);
    tcase_add_test(tc, test_reply_batch);
    tcase_add_test(tc, test_reply_grid_snap);
    tcase_add_test(tc, test_reply_code_forms);
    tcase_add_test(tc, test_reply_code_invalid);
    suite_add_tcase(s, tc);
    tc = tcase_create("provider");
    tcase_add_test(tc, test_provider_env);
    tcase_add_test(tc, test_provider_config);
    tcase_add_test(tc, test_provider_redact);
    tcase_add_test(tc, test_redact_whole_token);
    tcase_add_test(tc, test_short_key_refused);
    tcase_add_test(tc, test_price_prefix);
    tcase_add_test(tc, test_structured_config);
    suite_add_tcase(s, tc);
    tc = tcase_create("structured");
    tcase_add_test(tc, test_schema_types);
    tcase_add_test(tc, test_reply_reasoning_field);
    tcase_add_test(tc, test_split_reasoning);
    tcase_add_test(tc, test_chat_replays_replies);
    tcase_add_test(tc, test_prompt_schema_answer);
    tcase_add_test(tc, test_prompt_multi);
    tcase_add_test(tc, test_prompt_multi_empty);
    tcase_add_test(tc, test_prompt_multi_keeps_front);
    tcase_add_test(tc, test_schema_aim);
    tcase_add_test(tc, test_reply_aim);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(llm_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
