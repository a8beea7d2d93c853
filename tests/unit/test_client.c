#include <config.h>

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "metricline.h"
#include "outbox.h"
#include "rest.h"
#include "runner.h"
#include "table.h"
#include "tail.h"
#include "template.h"
#include "worker.h"
#include "worker_prep.h"

extern char **environ;

/* ---- @hpo lines ---- */

START_TEST(test_metricline_step)
{
    struct metricline m;
    metricline_init(&m);
    char err[256];
    ck_assert_int_eq(metricline_parse("@hpo step=3 val_error=0.125 acc=0.9\n", &m, err, sizeof err),
                     1);
    ck_assert(!m.final);
    ck_assert(m.has_step);
    ck_assert_int_eq(m.step, 3);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_str_eq(m.names[0], "val_error");
    ck_assert_str_eq(m.names[1], "acc");
    ck_assert(m.values[0] == 0.125);
    double v;
    const char *name;
    ck_assert(metricline_objective(&m, "acc", &v, &name));
    ck_assert(v == 0.9);
    ck_assert_str_eq(name, "acc");
    /* the objective missing: the first value */
    ck_assert(metricline_objective(&m, "loss", &v, &name));
    ck_assert(v == 0.125);
    ck_assert_str_eq(name, "val_error");
    ck_assert(metricline_objective(&m, NULL, &v, NULL));
    ck_assert(v == 0.125);
    metricline_release(&m);
}
END_TEST

START_TEST(test_metricline_final)
{
    struct metricline m;
    metricline_init(&m);
    char err[256];
    ck_assert_int_eq(metricline_parse("  @hpo final val_error=0.118\r\n", &m, err, sizeof err), 1);
    ck_assert(m.final);
    ck_assert(!m.has_step);
    ck_assert_uint_eq(m.n, 1);
    ck_assert(m.values[0] == 0.118);
    /* a name given twice keeps its last value, in its first place */
    ck_assert_int_eq(metricline_parse("@hpo a=1 b=2 a=3e-2", &m, err, sizeof err), 1);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_str_eq(m.names[0], "a");
    ck_assert(m.values[0] == 0.03);
    json_t *o = metricline_values_json(&m);
    ck_assert(json_real_value(json_object_get(o, "b")) == 2);
    const char *first = json_object_iter_key(json_object_iter(o));
    ck_assert_str_eq(first, "a");
    json_decref(o);
    metricline_release(&m);
}
END_TEST

START_TEST(test_metricline_other_lines)
{
    struct metricline m;
    metricline_init(&m);
    char err[256];
    const char *lines[] = {"", "hello", "epoch 3 loss=0.1", "@hpox a=1", "x @hpo a=1", "@HPO a=1"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        ck_assert_int_eq(metricline_parse(lines[i], &m, err, sizeof err), 0);
        ck_assert_uint_eq(m.n, 0);
    }
    metricline_release(&m);
}
END_TEST

START_TEST(test_metricline_malformed)
{
    static const struct {
        const char *line; /* input */
        const char *msg;  /* part of the message */
    } cases[] = {
        {"@hpo", "no name=value"},
        {"@hpo final", "no name=value"},
        {"@hpo step=4", "no name=value"},
        {"@hpo loss", "expected name=value, got \"loss\""},
        {"@hpo step=x a=1", "step must be a non-negative integer, got \"x\""},
        {"@hpo step=-1 a=1", "step must be a non-negative integer"},
        {"@hpo step=1.5 a=1", "step must be"},
        {"@hpo a=abc", "value of \"a\" is not a finite number: \"abc\""},
        {"@hpo a=", "bad value in \"a=\""},
        {"@hpo =1", "bad metric name in \"=1\""},
        {"@hpo a=nan", "not a finite number"},
        {"@hpo a=inf", "not a finite number"},
        {"@hpo a=1e999", "not a finite number"},
        {"@hpo a=0.5x", "not a finite number"},
        {"@hpo b\"ad=1", "bad metric name"},
    };
    struct metricline m;
    metricline_init(&m);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        ck_assert_msg(metricline_parse(cases[i].line, &m, err, sizeof err) == -1, "%s",
                      cases[i].line);
        ck_assert_msg(strstr(err, cases[i].msg) != NULL, "%s: got \"%s\"", cases[i].line, err);
        ck_assert_uint_eq(m.n, 0);
        ck_assert(!m.final);
    }
    metricline_release(&m);
}
END_TEST

START_TEST(test_metricline_format)
{
    char num[40];
    metricline_format_number(0.1, num, sizeof num);
    ck_assert_str_eq(num, "0.1");
    metricline_format_number(1e-05, num, sizeof num);
    ck_assert_str_eq(num, "1e-05");
    metricline_format_number(3, num, sizeof num);
    ck_assert_str_eq(num, "3");
    metricline_format_number(1.0 / 3, num, sizeof num);
    ck_assert(strtod(num, NULL) == 1.0 / 3);

    struct metricline m, back;
    metricline_init(&m);
    metricline_init(&back);
    char err[256];
    ck_assert_int_eq(
        metricline_parse("@hpo final step=7 loss=0.30000000000000004 acc=1", &m, err, sizeof err),
        1);
    char *text = metricline_format(&m);
    ck_assert_str_eq(text, "@hpo final step=7 loss=0.30000000000000004 acc=1");
    ck_assert_int_eq(metricline_parse(text, &back, err, sizeof err), 1);
    ck_assert(back.values[0] == m.values[0]);
    free(text);
    metricline_release(&m);
    metricline_release(&back);
}
END_TEST

/* ---- templating ---- */

START_TEST(test_template_env_name)
{
    static const char *const cases[][2] = {
        {"lr", "HPO_PARAM_LR"},
        {"learning-rate", "HPO_PARAM_LEARNING_RATE"},
        {"a.b_c9", "HPO_PARAM_A_B_C9"},
        {"Model", "HPO_PARAM_MODEL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *name = template_env_name(cases[i][0]);
        ck_assert_str_eq(name, cases[i][1]);
        free(name);
    }
}
END_TEST

START_TEST(test_template_value_text)
{
    static const struct {
        const char *json; /* value */
        const char *text; /* expected */
    } cases[] = {
        {"3", "3"},     {"-12", "-12"},     {"0.001", "0.001"}, {"1e-05", "1e-05"},
        {"2.5", "2.5"}, {"true", "true"},   {"false", "false"}, {"\"rbf\"", "rbf"},
        {"null", ""},   {"[1,2]", "[1,2]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        char *text = template_value_text(v);
        ck_assert_str_eq(text, cases[i].text);
        free(text);
        json_decref(v);
    }
}
END_TEST

static json_t *sample_vars(void)
{
    json_t *spec = json_loads("[{\"name\": \"lr\", \"type\": \"float\"},"
                              " {\"name\": \"kernel\", \"type\": \"categorical\"},"
                              " {\"name\": \"degree\", \"type\": \"int\"},"
                              " {\"name\": \"model\", \"type\": \"code\"}]",
                              0, NULL);
    json_t *params =
        json_loads("{\"lr\": 0.01, \"kernel\": \"rbf\", \"model\": \"def f(): pass\"}", 0, NULL);
    json_t *files = json_pack("{s:s}", "model", "/t/trial-1/model.py");
    json_t *vars = template_vars_new(spec, params, files, "/t/trial-1/params.json", "/t/trial-1");
    json_decref(spec);
    json_decref(params);
    json_decref(files);
    return vars;
}

START_TEST(test_template_expand)
{
    json_t *vars = sample_vars();
    static const char *const cases[][2] = {
        {"{lr}", "0.01"},
        {"--lr={lr}", "--lr=0.01"},
        {"{kernel}-{kernel}", "rbf-rbf"},
        {"--degree={degree}", "--degree="}, /* inactive: empty */
        {"{model}", "/t/trial-1/model.py"}, /* code: its file */
        {"{params_file}", "/t/trial-1/params.json"},
        {"{trial_dir}/out", "/t/trial-1/out"},
        {"{unknown}", "{unknown}"}, /* left as is */
        {"${HOME}", "${HOME}"},
        {"awk '{print $1}'", "awk '{print $1}'"},
        {"{{lr}}", "{0.01}"},
        {"{lr", "{lr"},
        {"{}", "{}"},
        {"lr}", "lr}"},
        {"", ""},
        {"plain", "plain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = template_expand(cases[i][0], vars);
        ck_assert_msg(strcmp(out, cases[i][1]) == 0, "%s -> %s", cases[i][0], out);
        free(out);
    }
    json_decref(vars);
}
END_TEST

START_TEST(test_template_builtin_wins)
{
    json_t *params = json_pack("{s:s}", "trial_dir", "param value");
    json_t *vars = template_vars_new(NULL, params, NULL, "/p.json", "/dir");
    char *out = template_expand("{trial_dir}", vars);
    ck_assert_str_eq(out, "/dir");
    free(out);
    json_decref(vars);
    json_decref(params);
}
END_TEST

START_TEST(test_template_code_file)
{
    char *a = template_code_file_name("model", "python");
    char *b = template_code_file_name("prompt", "text");
    char *c = template_code_file_name("x", NULL);
    ck_assert_str_eq(a, "model.py");
    ck_assert_str_eq(b, "prompt.txt");
    ck_assert_str_eq(c, "x.txt");
    free(a);
    free(b);
    free(c);
}
END_TEST

/* ---- stderr tail ---- */

START_TEST(test_tail_small)
{
    struct tail t;
    tail_init(&t);
    tail_append(&t, "line one\n", 9);
    tail_append(&t, "line two\n\n", 10);
    char *text = tail_text(&t);
    ck_assert_str_eq(text, "line one\nline two");
    free(text);
    struct tail empty;
    tail_init(&empty);
    text = tail_text(&empty);
    ck_assert_str_eq(text, "");
    free(text);
}
END_TEST

START_TEST(test_tail_wraps)
{
    struct tail t;
    tail_init(&t);
    char line[64];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(line, sizeof line, "stderr line %04d\n", i);
        tail_append(&t, line, (size_t)n);
    }
    ck_assert_uint_eq(t.len, TAIL_SIZE);
    char *text = tail_text(&t);
    /* ends with the last line, starts at a whole line */
    ck_assert(strlen(text) < TAIL_SIZE);
    ck_assert_str_eq(text + strlen(text) - 16, "stderr line 0999");
    ck_assert(strncmp(text, "stderr line ", 12) == 0);
    free(text);
}
END_TEST

START_TEST(test_tail_big_write)
{
    struct tail t;
    tail_init(&t);
    tail_append(&t, "head\n", 5);
    size_t n = TAIL_SIZE * 3;
    char *big = malloc(n);
    memset(big, 'x', n);
    big[n - 1] = 'y';
    big[10] = '\0';
    tail_append(&t, big, n);
    free(big);
    char *text = tail_text(&t);
    /* no newline to cut at: everything kept */
    ck_assert_uint_eq(strlen(text), TAIL_SIZE);
    ck_assert_int_eq(text[TAIL_SIZE - 1], 'y');
    ck_assert(strchr(text, 'h') == NULL);
    free(text);
    /* NUL bytes do not cut the text short */
    struct tail z;
    tail_init(&z);
    tail_append(&z, "a\0b", 3);
    text = tail_text(&z);
    ck_assert_str_eq(text, "a?b");
    free(text);
}
END_TEST

/* ---- backoff and the outbox ---- */

START_TEST(test_backoff_schedule)
{
    struct backoff b;
    backoff_init(&b, 0.2, 10.0);
    const double want[] = {0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10, 10};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert(fabs(backoff_next(&b) - want[i]) < 1e-9);
    backoff_reset(&b);
    ck_assert(fabs(backoff_next(&b) - 0.2) < 1e-9);
}
END_TEST

struct fake_daemon {
    bool up;          /* answers */
    bool refuse;      /* answers 409 */
    char sent[64][8]; /* trial ids received, in order */
    int n_sent;       /* count */
    int calls;        /* attempts, including failed ones */
};

static enum outbox_result fake_send(void *ctx, struct outbox_item *it)
{
    struct fake_daemon *d = ctx;
    d->calls++;
    if (!d->up)
        return OUTBOX_RETRY;
    if (d->refuse)
        return OUTBOX_DROP;
    snprintf(d->sent[d->n_sent++], 8, "%s", it->trial_id);
    return OUTBOX_SENT;
}

START_TEST(test_outbox_keeps_order_while_down)
{
    struct outbox o;
    outbox_init(&o, 0);
    struct fake_daemon d = {0};
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "r%d", i);
        ck_assert_int_eq(outbox_push(&o, OUTBOX_REPORT, "/x/report", json_object(), id), 0);
    }
    ck_assert_int_eq(outbox_push(&o, OUTBOX_COMPLETE, "/x/complete", json_object(), "c"), 0);
    int64_t now = 1000;
    ck_assert_uint_eq(outbox_flush(&o, now, fake_send, &d), 0);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(o.head->attempts, 1);
    /* not before the backoff delay */
    ck_assert(!outbox_due(&o, now + 199));
    ck_assert_uint_eq(outbox_flush(&o, now + 199, fake_send, &d), 0);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(outbox_wait_ms(&o, now + 100), 100);
    ck_assert(outbox_due(&o, now + 200));
    outbox_flush(&o, now + 200, fake_send, &d);
    ck_assert_int_eq(d.calls, 2);
    ck_assert_int_eq(outbox_wait_ms(&o, now + 200), 400); /* doubled */
    ck_assert_uint_eq(o.n, 6);
    /* back up: everything in order */
    d.up = true;
    ck_assert_uint_eq(outbox_flush(&o, now + 600, fake_send, &d), 6);
    ck_assert_int_eq(d.n_sent, 6);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "r%d", i);
        ck_assert_str_eq(d.sent[i], id);
    }
    ck_assert_str_eq(d.sent[5], "c");
    ck_assert_uint_eq(o.n, 0);
    ck_assert_int_eq(outbox_wait_ms(&o, now), -1);
    /* the schedule starts over after a success */
    d.up = false;
    outbox_push(&o, OUTBOX_REPORT, "/x/report", json_object(), "again");
    outbox_flush(&o, now + 1000, fake_send, &d);
    ck_assert_int_eq(outbox_wait_ms(&o, now + 1000), 200);
    outbox_release(&o);
}
END_TEST

START_TEST(test_outbox_drop)
{
    struct outbox o;
    outbox_init(&o, 0);
    struct fake_daemon d = {.up = true, .refuse = true};
    outbox_push(&o, OUTBOX_COMPLETE, "/x/complete", json_object(), "late");
    ck_assert_uint_eq(outbox_flush(&o, 0, fake_send, &d), 1);
    ck_assert_uint_eq(o.n, 0);
    ck_assert_int_eq(d.n_sent, 0);
    outbox_release(&o);
}
END_TEST

START_TEST(test_outbox_cap)
{
    struct outbox o;
    outbox_init(&o, 3);
    outbox_push(&o, OUTBOX_COMPLETE, "/c", json_object(), "c0");
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        outbox_push(&o, OUTBOX_REPORT, "/r", json_object(), id);
    }
    /* three reports kept, the newest; the completion never dropped */
    ck_assert_uint_eq(o.n, 4);
    ck_assert_uint_eq(o.n_reports, 3);
    ck_assert_uint_eq(o.lost_reports, 2);
    ck_assert_str_eq(o.head->trial_id, "c0");
    ck_assert_str_eq(o.head->next->trial_id, "r2");
    ck_assert_str_eq(o.tail->trial_id, "r4");
    outbox_release(&o);
}
END_TEST

/* ---- worker options ---- */

START_TEST(test_worker_parse)
{
    char *argv[] = {"worker",    "--study",      "s",    "--gpus", "0,1,3",
                    "--grace=2", "--max-trials", "5",    "--",     "python3",
                    "train.py",  "--lr",         "{lr}", NULL};
    struct worker_opts o = {.server = "http://x"};
    char err[256];
    ck_assert_int_eq(worker_parse(&o, 13, argv, err, sizeof err), 0);
    ck_assert_str_eq(o.study, "s");
    ck_assert_int_eq(o.n_gpus, 3);
    ck_assert_str_eq(o.gpus[2], "3");
    ck_assert_int_eq(o.slots, 3); /* one slot per GPU */
    ck_assert(o.grace_s == 2);
    ck_assert_int_eq(o.max_trials, 5);
    ck_assert(o.wait_s == 20);
    ck_assert_str_eq(o.work_dir, "hpo-trials");
    ck_assert_int_eq(o.n_cmd, 4);
    ck_assert_str_eq(o.cmd[0], "python3");
    ck_assert_str_eq(o.cmd[3], "{lr}");
    ck_assert_str_eq(o.server, "http://x");
    worker_opts_release(&o);

    char *two[] = {"worker", "--study", "s", "--slots", "2", "--", "true", NULL};
    ck_assert_int_eq(worker_parse(&o, 7, two, err, sizeof err), 0);
    ck_assert_int_eq(o.slots, 2);
    ck_assert_int_eq(o.n_gpus, 0);
    worker_opts_release(&o);
}
END_TEST

START_TEST(test_worker_parse_errors)
{
    static const struct {
        int argc;            /* words */
        const char *argv[8]; /* the words */
        const char *msg;     /* part of the message */
    } cases[] = {
        {3, {"worker", "--", "true"}, "--study NAME is required"},
        {3, {"worker", "--study", "s"}, "no command given"},
        {5, {"worker", "--study", "s", "--slots", "0"}, "--slots must be 1 to 1024, got \"0\""},
        {6, {"worker", "--study", "s", "--bogus", "--", "x"}, "unknown option \"--bogus\""},
        {4, {"worker", "--study", "s", "cmd"}, "the command goes after \"--\""},
        {7, {"worker", "--study", "s", "--gpus", ",", "--", "x"}, "bad --gpus \",\""},
        {7, {"worker", "--study", "s", "--wait", "-1", "--", "x"}, "--wait must be"},
        {2, {"worker", "--study"}, "needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct worker_opts o = {0};
        char err[256] = "";
        ck_assert_int_eq(worker_parse(&o, cases[i].argc, (char **)cases[i].argv, err, sizeof err),
                         -1);
        ck_assert_msg(strstr(err, cases[i].msg) != NULL, "case %zu: %s", i, err);
        worker_opts_release(&o);
    }
}
END_TEST

START_TEST(test_worker_parse_help)
{
    char *argv[] = {"worker", "--study", "s", "--help", NULL};
    struct worker_opts o = {0};
    char err[256] = "";
    ck_assert_int_eq(worker_parse(&o, 4, argv, err, sizeof err), 0);
    ck_assert(o.help);
    worker_opts_release(&o);
    char *short_form[] = {"worker", "-h", NULL};
    ck_assert_int_eq(worker_parse(&o, 2, short_form, err, sizeof err), 0);
    ck_assert(o.help);
    worker_opts_release(&o);
    /* after "--" it belongs to the command */
    char *cmd[] = {"worker", "--study", "s", "--", "prog", "--help", NULL};
    ck_assert_int_eq(worker_parse(&o, 6, cmd, err, sizeof err), 0);
    ck_assert(!o.help);
    ck_assert_str_eq(o.cmd[1], "--help");
    worker_opts_release(&o);
}
END_TEST

START_TEST(test_worker_long_poll)
{
    /* the HTTP timeout outlasts the daemon's wait by a margin */
    ck_assert_int_ge(worker_poll_timeout_ms(20), 20000 + 10000);
    ck_assert_int_ge(worker_poll_timeout_ms(180), 180000 + 10000);
    ck_assert_int_gt(worker_poll_timeout_ms(0), 5000);
    /* a running study whose long-poll ran out: again at once, whatever the advice */
    ck_assert_int_eq(worker_retry_ms("running", 20, 20004, 2), 0);
    ck_assert_int_eq(worker_retry_ms("running", 20, 1500, 30), 0); /* the daemon's cap was lower */
    ck_assert_int_eq(worker_retry_ms("running", 0.5, 460, 2), 0);
    /* answered at once: the daemon's advice, within 0.2 to 60 s */
    ck_assert_int_eq(worker_retry_ms("running", 20, 30, 2), 2000);
    ck_assert_int_eq(worker_retry_ms("running", 0, 0, 0), 200);
    ck_assert_int_eq(worker_retry_ms("running", 0, 0, 600), 60000);
    /* a paused study waits as told, even after a long-poll */
    ck_assert_int_eq(worker_retry_ms("paused", 20, 20000, 5), 5000);
}
END_TEST

/* The value of NAME in a NULL-terminated environment, or NULL. */
static const char *env_value(char **env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

START_TEST(test_worker_prep_trial)
{
    char tmpl[] = "/tmp/hpo-prep-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    char err[512] = "";
    char *dir = worker_prep_study_dir(tmpl, "st", err, sizeof err);
    ck_assert_msg(dir != NULL, "%s", err);
    json_t *spec = json_loads("[{\"name\": \"lr\", \"type\": \"float\"}, {\"name\": \"model\", "
                              "\"type\": \"code\", \"language\": \"python\"}]",
                              0, NULL);
    json_t *params = json_loads("{\"lr\": 0.5, \"model\": \"print(1)\\n\"}", 0, NULL);
    char *words[] = {"prog", "--lr={lr}", "{params_file}", NULL};
    char **cmd = worker_prep_cmd(words, 3);
    ck_assert_ptr_nonnull(cmd);
    struct worker_prep wp = {.server = "http://d",
                             .study = "st",
                             .study_dir = dir,
                             .params_spec = spec,
                             .cmd = cmd,
                             .n_cmd = 3};
    struct worker_prep_trial t = {.id = "41",
                                  .number = 7,
                                  .params = params,
                                  .worker_id = "h:0",
                                  .gpu = "1",
                                  .confined = true};
    setenv("HPO_TOKEN", "secret-of-the-worker", 1);
    setenv("HPO_PARAM_STALE", "x", 1);
    struct worker_prep_out out;
    ck_assert_int_eq(worker_prep_trial(&wp, &t, &out, err, sizeof err), 0);
    unsetenv("HPO_TOKEN");
    unsetenv("HPO_PARAM_STALE");
    char want[600];
    snprintf(want, sizeof want, "%s/trial-7", dir);
    ck_assert_str_eq(out.dir, want);
    ck_assert_int_ge(out.report_fd, 0);
    ck_assert_str_eq(out.argv[0], "prog");
    ck_assert_str_eq(out.argv[1], "--lr=0.5");
    snprintf(want, sizeof want, "%s/trial-7/params.json", dir);
    ck_assert_str_eq(out.argv[2], want);
    ck_assert_ptr_null(out.argv[3]);
    json_t *written = json_load_file(want, 0, NULL);
    ck_assert(json_equal(written, params));
    json_decref(written);
    ck_assert_str_eq(env_value(out.env, "HPO_PARAMS_FILE"), want);
    ck_assert_str_eq(env_value(out.env, "HPO_TRIAL_ID"), "41");
    ck_assert_str_eq(env_value(out.env, "HPO_TRIAL_NUMBER"), "7");
    ck_assert_str_eq(env_value(out.env, "HPO_WORKER"), "h:0");
    ck_assert_str_eq(env_value(out.env, "HPO_STUDY"), "st");
    ck_assert_str_eq(env_value(out.env, "CUDA_VISIBLE_DEVICES"), "1");
    ck_assert_str_eq(env_value(out.env, "HPO_PARAM_LR"), "0.5");
    ck_assert_ptr_null(env_value(out.env, "HPO_TOKEN"));       /* confined: no credential */
    ck_assert_ptr_null(env_value(out.env, "HPO_PARAM_STALE")); /* not a parameter of this trial */
    const char *code = env_value(out.env, "HPO_PARAM_MODEL");
    ck_assert_ptr_nonnull(code);
    ck_assert_ptr_nonnull(strstr(code, "/trial-7/"));
    FILE *f = fopen(code, "r");
    ck_assert_ptr_nonnull(f);
    char text[32] = "";
    ck_assert_ptr_nonnull(fgets(text, sizeof text, f));
    fclose(f);
    ck_assert_str_eq(text, "print(1)\n");
    snprintf(want, sizeof want, "%s/trial-7/" WORKER_REPORT_FILE, dir);
    ck_assert_str_eq(env_value(out.env, "HPO_REPORT_FILE"), want);
    close(out.report_fd);
    free(out.dir);
    worker_prep_out_release(&out);
    ck_assert_ptr_null(out.argv);

    /* the same number again (a retried trial) gets a directory of its own */
    t.confined = false;
    setenv("HPO_TOKEN", "secret-of-the-worker", 1);
    ck_assert_int_eq(worker_prep_trial(&wp, &t, &out, err, sizeof err), 0);
    unsetenv("HPO_TOKEN");
    snprintf(want, sizeof want, "%s/trial-7-2", dir);
    ck_assert_str_eq(out.dir, want);
    ck_assert_str_eq(env_value(out.env, "HPO_TOKEN"), "secret-of-the-worker");
    close(out.report_fd);
    free(out.dir);
    worker_prep_out_release(&out);

    /* a study directory that cannot be made */
    ck_assert_ptr_null(worker_prep_study_dir("/proc/no-such-dir/x", "st", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "cannot make work directory \"/proc/no-such-dir/x\""));

    worker_prep_strv_free(cmd);
    json_decref(spec);
    json_decref(params);
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmpl);
    ck_assert_int_eq(system(rm), 0);
    free(dir);
}
END_TEST

/* ---- command-line helpers ---- */

START_TEST(test_cli_parse_value)
{
    json_t *v = cli_parse_value("3");
    ck_assert(json_is_integer(v) && json_integer_value(v) == 3);
    json_decref(v);
    v = cli_parse_value("0.5");
    ck_assert(json_is_real(v) && json_real_value(v) == 0.5);
    json_decref(v);
    v = cli_parse_value("true");
    ck_assert(json_is_true(v));
    json_decref(v);
    v = cli_parse_value("rbf");
    ck_assert_str_eq(json_string_value(v), "rbf");
    json_decref(v);
    v = cli_parse_value("\"3\"");
    ck_assert_str_eq(json_string_value(v), "3");
    json_decref(v);
    v = cli_parse_value("[1, 2]");
    ck_assert(json_is_array(v));
    json_decref(v);
    v = cli_parse_value("");
    ck_assert_str_eq(json_string_value(v), "");
    json_decref(v);
}
END_TEST

START_TEST(test_table_text)
{
    json_t *params = json_loads("{\"C\": 12.345678, \"kernel\": \"rbf\", \"degree\": 3,"
                                " \"model\": \"import torch\\nclass M: pass\"}",
                                0, NULL);
    char *text = table_params_text(params, 40);
    ck_assert_str_eq(text, "C=12.3457 kernel=rbf degree=3 model=<26 bytes>");
    free(text);
    json_decref(params);
    char num[40];
    json_t *v = json_real(0.123456789);
    table_number(v, num, sizeof num);
    ck_assert_str_eq(num, "0.123457");
    json_decref(v);
    table_number(json_null(), num, sizeof num);
    ck_assert_str_eq(num, "-");

    static const char *const head[] = {"A", "LONGER", "C"};
    struct table *t = table_new(3, head);
    static const char *const row[] = {"wide cell", NULL, "last"};
    table_add(t, row);
    ck_assert_uint_eq(table_rows(t), 1);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    table_print(t, f);
    fclose(f);
    ck_assert_str_eq(out, "A          LONGER  C\nwide cell  -       last\n");
    free(out);
    table_free(t);
}
END_TEST

START_TEST(test_rest_escape)
{
    struct buf b;
    buf_init(&b);
    rest_escape(&b, "svm-digits_1.0");
    ck_assert_str_eq(b.data, "svm-digits_1.0");
    buf_reset(&b);
    rest_escape(&b, "a b/c?");
    ck_assert_str_eq(b.data, "a%20b%2Fc%3F");
    buf_release(&b);
}
END_TEST

/* ---- the child process ---- */

struct lines {
    struct buf out; /* stdout lines joined by '|' */
    struct buf err; /* stderr lines joined by '|' */
};

static void collect(void *ctx, const char *line, bool is_stderr)
{
    struct lines *l = ctx;
    buf_printf(is_stderr ? &l->err : &l->out, "%s|", line);
}

static void run_to_end(struct runner *r, struct lines *l)
{
    for (int i = 0; i < 1000 && !runner_reap(r); i++) {
        struct pollfd fds[3];
        int n = runner_pollfds(r, fds);
        poll(fds, (nfds_t)n, 20);
        runner_pump(r, collect, l);
    }
    runner_finish(r, collect, l);
}

START_TEST(test_runner_exit_status)
{
    char *argv[] = {"sh", "-c", "echo one; echo two >&2; printf 'no newline'; pwd >&2; exit 3",
                    NULL};
    struct runner r;
    runner_init(&r);
    char err[256];
    ck_assert_int_eq(runner_start(&r, argv, environ, "/", err, sizeof err), 0);
    struct lines l;
    buf_init(&l.out);
    buf_init(&l.err);
    run_to_end(&r, &l);
    ck_assert(r.exited);
    char why[64];
    runner_status_text(r.status, why, sizeof why);
    ck_assert_str_eq(why, "exit status 3");
    ck_assert_str_eq(l.out.data, "one|no newline|");
    ck_assert_str_eq(l.err.data, "two|/|");
    char *tail = tail_text(&r.err_tail);
    ck_assert_str_eq(tail, "two\n/");
    free(tail);
    runner_release(&r);
    buf_release(&l.out);
    buf_release(&l.err);
}
END_TEST

START_TEST(test_runner_kill_group)
{
    /* the shell's child sleeps too: the whole group must go */
    char *argv[] = {"sh", "-c", "sleep 30 & sleep 30; echo survived", NULL};
    struct runner r;
    runner_init(&r);
    char err[256];
    ck_assert_int_eq(runner_start(&r, argv, environ, "/", err, sizeof err), 0);
    usleep(100000);
    runner_kill(&r, SIGTERM);
    struct lines l;
    buf_init(&l.out);
    buf_init(&l.err);
    run_to_end(&r, &l);
    ck_assert(r.exited);
    char why[64];
    runner_status_text(r.status, why, sizeof why);
    ck_assert_str_eq(why, "killed by signal 15");
    ck_assert_ptr_null(l.out.data);
    runner_release(&r);
    buf_release(&l.out);
    buf_release(&l.err);
}
END_TEST

START_TEST(test_runner_bad_command)
{
    char *argv[] = {"/nonexistent/command", NULL};
    struct runner r;
    runner_init(&r);
    char err[256];
    ck_assert_int_eq(runner_start(&r, argv, environ, "/", err, sizeof err), 0);
    struct lines l;
    buf_init(&l.out);
    buf_init(&l.err);
    run_to_end(&r, &l);
    char why[64];
    runner_status_text(r.status, why, sizeof why);
    ck_assert_str_eq(why, "exit status 127");
    char *tail = tail_text(&r.err_tail);
    ck_assert(strstr(tail, "cannot run \"/nonexistent/command\"") != NULL);
    free(tail);
    runner_release(&r);
    buf_release(&l.out);
    buf_release(&l.err);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_metricline_step);
    tcase_add_test(tc, test_metricline_final);
    tcase_add_test(tc, test_metricline_other_lines);
    tcase_add_test(tc, test_metricline_malformed);
    tcase_add_test(tc, test_metricline_format);
    tcase_add_test(tc, test_template_env_name);
    tcase_add_test(tc, test_template_value_text);
    tcase_add_test(tc, test_template_expand);
    tcase_add_test(tc, test_template_builtin_wins);
    tcase_add_test(tc, test_template_code_file);
    tcase_add_test(tc, test_tail_small);
    tcase_add_test(tc, test_tail_wraps);
    tcase_add_test(tc, test_tail_big_write);
    tcase_add_test(tc, test_backoff_schedule);
    tcase_add_test(tc, test_outbox_keeps_order_while_down);
    tcase_add_test(tc, test_outbox_drop);
    tcase_add_test(tc, test_outbox_cap);
    tcase_add_test(tc, test_worker_parse);
    tcase_add_test(tc, test_worker_parse_errors);
    tcase_add_test(tc, test_worker_parse_help);
    tcase_add_test(tc, test_worker_prep_trial);
    tcase_add_test(tc, test_worker_long_poll);
    tcase_add_test(tc, test_cli_parse_value);
    tcase_add_test(tc, test_table_text);
    tcase_add_test(tc, test_rest_escape);
    tcase_add_test(tc, test_runner_exit_status);
    tcase_add_test(tc, test_runner_kill_group);
    tcase_add_test(tc, test_runner_bad_command);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
