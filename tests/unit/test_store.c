#include <config.h>

#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "test_db.h"
#include "dump.h"
#include "timeutil.h"

static int64_t fake_now = 1700000000000LL;

static int64_t fake_clock(void)
{
    return fake_now;
}

static const struct worker_limits limits = {3, 60};

/* Create n trials of st leased to worker (through the suggest path's
 * transaction); their ids go to ids. */
static void lease_new(struct db *db, const struct study *st, const char *worker, size_t n,
                      long long *ids)
{
    json_t *configs[8];
    char *sources[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        configs[i] = json_pack("{sf}", "x", 0.125 * (double)(i + 1));
        sources[i] = "test";
    }
    struct trial_list out = {0};
    struct serr e;
    ck_assert_msg(
        store_trials_create(db, st, worker, 0, configs, sources, n, NULL, NULL, &out, &e) == 0,
        "%s", e.msg);
    ck_assert_uint_eq(out.n, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(out.v[i].state, TRIAL_RUNNING);
        ck_assert_str_eq(out.v[i].worker, worker);
        ck_assert_int_eq(out.v[i].attempts, 1);
        ids[i] = out.v[i].id;
        json_decref(configs[i]);
    }
    store_trial_list_release(&out);
}

static int complete(struct db *db, long long id, const char *worker, enum trial_state state,
                    double value, struct trial_detail *out, bool *already, struct serr *e)
{
    struct completion c = {
        .trial_id = id, .worker = worker, .state = state, .value = value, .limits = limits};
    bool dummy;
    return store_complete(db, &c, out, already ? already : &dummy, e);
}

static enum trial_state state_of(struct db *db, long long id)
{
    struct trial_detail d;
    struct serr e;
    ck_assert_msg(store_trial_get(db, id, &d, &e) == 0, "%s", e.msg);
    enum trial_state s = d.trial.state;
    store_trial_detail_release(&d);
    return s;
}

START_TEST(studies)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "s1", "\"budget\": {\"max_trials\": 2}", &st);
    ck_assert_int_eq(st.state, STUDY_RUNNING);
    ck_assert_int_eq(st.spec->max_trials, 2);

    /* the same spec again: 200, not a second study; another spec: 409 */
    json_t *in = tdb_json("{\"name\": \"s1\", \"sampler\": {\"name\": \"random\"}, \"params\": "
                          "[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1}], "
                          "\"budget\": {\"max_trials\": 2}}");
    char err[256];
    struct spec *sp = spec_parse(in, err, sizeof err);
    struct study_info info;
    bool created = true;
    struct serr e;
    ck_assert_int_eq(store_study_create(db, in, sp, &info, &created, &e), 0);
    ck_assert(!created);
    ck_assert_str_eq(info.name, "s1");
    store_study_info_release(&info);
    json_object_set_new(in, "description", json_string("other"));
    spec_free(sp);
    sp = spec_parse(in, err, sizeof err);
    ck_assert_int_eq(store_study_create(db, in, sp, &info, &created, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "name_taken");
    spec_free(sp);
    json_decref(in);

    struct study st2;
    tdb_study(db, "s2", NULL, &st2);
    struct study_list list;
    ck_assert_int_eq(store_study_list(db, &list, &e), 0);
    ck_assert_uint_eq(list.n, 2);
    ck_assert_str_eq(list.v[0].name, "s1");
    ck_assert_str_eq(list.v[1].name, "s2");
    ck_assert_ptr_null(list.v[0].best);
    store_study_list_release(&list);

    /* states: paused, running, finished; finished for good once the budget is spent */
    ck_assert_int_eq(store_study_set_state(db, "s1", STUDY_PAUSED, &info, &e), 0);
    ck_assert_int_eq(info.state, STUDY_PAUSED);
    store_study_info_release(&info);
    ck_assert_int_eq(store_study_set_state(db, "s1", STUDY_RUNNING, &info, &e), 0);
    store_study_info_release(&info);
    long long ids[2];
    lease_new(db, &st, "w:0", 2, ids);
    ck_assert_int_eq(complete(db, ids[0], "w:0", TRIAL_COMPLETED, 0.5, NULL, NULL, &e), 0);
    ck_assert_int_eq(complete(db, ids[1], "w:0", TRIAL_COMPLETED, 0.25, NULL, NULL, &e), 0);
    ck_assert_int_eq(store_study_get(db, "s1", &info, &e), 0);
    ck_assert_int_eq(info.state, STUDY_FINISHED); /* max_trials reached */
    ck_assert_int_eq(info.counts.completed, 2);
    ck_assert_ptr_nonnull(info.best);
    ck_assert(info.best->value == 0.25);
    ck_assert(info.finished_at != STORE_NO_TIME);
    store_study_info_release(&info);
    ck_assert_int_eq(store_study_set_state(db, "s1", STUDY_RUNNING, &info, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "budget_spent");

    /* delete: gone, and 404 after */
    ck_assert_int_eq(store_study_delete(db, "s2", &e), 0);
    ck_assert_int_eq(store_study_delete(db, "s2", &e), -1);
    ck_assert_int_eq(e.status, 404);
    ck_assert_int_eq(store_study_get(db, "s2", &info, &e), -1);
    ck_assert_int_eq(e.status, 404);
    store_study_release(&st);
    store_study_release(&st2);
    tdb_down(db);
}
END_TEST

START_TEST(spec_cache_references)
{
    /* one clock tick: the study made again gets the same id and creation time */
    time_set_clock(fake_clock);
    struct db *db = tdb_up();
    struct study held;
    tdb_study(db, "old", "\"budget\": {\"max_trials\": 7}", &held);
    struct serr e;
    ck_assert_int_eq(store_study_delete(db, "old", &e), 0);
    /* the holder still reads the spec of the deleted study */
    ck_assert_str_eq(held.spec->name, "old");
    ck_assert_int_eq(held.spec->max_trials, 7);
    /* a study of the same name made later gets its own spec, not the old one */
    struct study again;
    tdb_study(db, "old", "\"budget\": {\"max_trials\": 9}", &again);
    ck_assert_int_eq(again.id, held.id);
    ck_assert_int_eq(again.spec->max_trials, 9);
    ck_assert_ptr_ne(again.spec, held.spec);
    store_study_release(&held);
    ck_assert_ptr_null(held.spec);
    /* loading twice shares one parsed spec */
    struct study twice;
    ck_assert_int_eq(store_study_load(db, "old", &twice, &e), 0);
    ck_assert_ptr_eq(twice.spec, again.spec);
    store_study_release(&twice);
    store_study_release(&again);
    tdb_down(db);
    time_set_clock(NULL);
}
END_TEST

START_TEST(enqueue_pages_best)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "e", NULL, &st);
    struct serr e;
    struct trial_detail d;
    for (int i = 0; i < 5; i++) {
        json_t *p = json_pack("{sf}", "x", 0.1 * i);
        ck_assert_int_eq(store_enqueue(db, "e", p, "manual", &d, &e), 0);
        json_decref(p);
        ck_assert_int_eq(d.trial.number, i);
        ck_assert_int_eq(d.trial.state, TRIAL_PENDING);
        ck_assert_str_eq(d.trial.source, "manual");
        ck_assert_str_eq(d.study, "e");
        ck_assert_uint_eq(d.n_reports, 0);
        ck_assert(fabs(json_real_value(json_object_get(d.trial.params, "x")) - 0.1 * i) < 1e-12);
        store_trial_detail_release(&d);
    }
    json_t *p = json_pack("{sf}", "x", 0.5);
    ck_assert_int_eq(store_enqueue(db, "nope", p, "manual", &d, &e), -1);
    ck_assert_int_eq(e.status, 404);

    struct trial_page page;
    ck_assert_int_eq(
        store_trials_page(db, "e", NULL, NULL, false, -1, 2, STORE_ORDER_NUMBER, false, &page, &e),
        0);
    ck_assert_uint_eq(page.trials.n, 2);
    ck_assert(page.more);
    ck_assert_int_eq(page.next_after, 1);
    ck_assert_int_eq(page.total, 5);
    store_trial_page_release(&page);
    ck_assert_int_eq(
        store_trials_page(db, "e", NULL, NULL, false, 3, 2, STORE_ORDER_NUMBER, false, &page, &e),
        0);
    ck_assert_uint_eq(page.trials.n, 1);
    ck_assert(!page.more);
    ck_assert_int_eq(page.trials.v[0].number, 4);
    store_trial_page_release(&page);
    ck_assert_int_eq(store_trials_page(db, "e", NULL, NULL, false, -1, 10, STORE_ORDER_NUMBER_DESC,
                                       false, &page, &e),
                     0);
    ck_assert_int_eq(page.trials.v[0].number, 4);
    store_trial_page_release(&page);
    enum trial_state running = TRIAL_RUNNING;
    ck_assert_int_eq(store_trials_page(db, "e", &running, NULL, false, -1, 10, STORE_ORDER_NUMBER,
                                       false, &page, &e),
                     0);
    ck_assert_uint_eq(page.trials.n, 0);
    ck_assert_int_eq(page.total, 0);
    store_trial_page_release(&page);

    struct trial_list all;
    ck_assert_int_eq(store_trials_all(db, st.id, &all, &e), 0);
    ck_assert_uint_eq(all.n, 5);
    for (size_t i = 0; i < all.n; i++)
        ck_assert_int_eq(all.v[i].number, (long long)i);
    store_trial_list_release(&all);

    ck_assert_int_eq(store_best(db, "e", &(struct trial){0}, &e), -1);
    ck_assert_int_eq(e.status, 404);
    ck_assert_str_eq(e.code, "no_trials");

    /* lease the pending ones: oldest first */
    struct lease_plan plan;
    ck_assert_int_eq(store_suggest_lease(db, &st, "w:0", 0, 2, &plan, &e), 0);
    ck_assert_uint_eq(plan.trials.n, 2);
    ck_assert_int_eq(plan.trials.v[0].number, 0);
    ck_assert_int_eq(plan.trials.v[1].number, 1);
    ck_assert_uint_eq(plan.want, 0);
    long long a = plan.trials.v[0].id, b = plan.trials.v[1].id;
    store_lease_plan_release(&plan);
    ck_assert_int_eq(complete(db, a, "w:0", TRIAL_COMPLETED, 3.0, NULL, NULL, &e), 0);
    ck_assert_int_eq(complete(db, b, "w:0", TRIAL_COMPLETED, 2.0, NULL, NULL, &e), 0);
    struct trial best;
    ck_assert_int_eq(store_best(db, "e", &best, &e), 0);
    ck_assert_int_eq(best.id, b);
    ck_assert(best.value == 2.0);
    store_trial_release(&best);

    /* a finished study takes no more trials */
    struct study_info info;
    ck_assert_int_eq(store_study_set_state(db, "e", STUDY_FINISHED, &info, &e), 0);
    store_study_info_release(&info);
    ck_assert_int_eq(store_enqueue(db, "e", p, "manual", &d, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "study_finished");
    json_decref(p);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

static int prune_calls;

static bool prune_at_3(struct db *db, long long study_id, long long trial_id, long long step,
                       double value)
{
    (void)study_id;
    (void)value;
    prune_calls++;
    if (step < 3)
        return false;
    long long number;
    ck_assert_int_eq(store_prune_mark(db, trial_id, step, "test", &number), 0);
    return true;
}

/* A study named name (heartbeat 10 s) with one trial leased to "w:0". */
static long long leased_trial(struct db *db, const char *name, struct study *st)
{
    tdb_study(db, name, "\"lease\": {\"heartbeat_s\": 10, \"stale_after\": 3}", st);
    long long id;
    lease_new(db, st, "w:0", 1, &id);
    return id;
}

START_TEST(heartbeat_and_report)
{
    struct db *db = tdb_up();
    struct study st;
    long long id = leased_trial(db, "r", &st);
    struct serr e;
    enum trial_action action;
    int64_t ms;
    ck_assert_int_eq(store_heartbeat(db, id, "w:0", NULL, &action, &ms, &e), 0);
    ck_assert_int_eq(action, ACTION_CONTINUE);
    ck_assert_int_eq(ms, 30000);
    ck_assert_int_eq(store_heartbeat(db, id, "w:1", NULL, &action, &ms, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "lease_lost");
    ck_assert_int_eq(store_heartbeat(db, id + 100, "w:0", NULL, &action, &ms, &e), -1);
    ck_assert_int_eq(e.status, 404);

    prune_calls = 0;
    json_t *values = json_pack("{sf}", "acc", 0.5);
    struct report_in r = {id, "w:0", 1, 0.9, values, {0, false}};
    ck_assert_int_eq(store_report(db, &r, prune_at_3, &action, &e), 0);
    ck_assert_int_eq(action, ACTION_CONTINUE);
    r.step = 2;
    r.value = 0.8;
    ck_assert_int_eq(store_report(db, &r, prune_at_3, &action, &e), 0);
    ck_assert_int_eq(action, ACTION_CONTINUE);
    r.step = 3;
    r.value = 0.7;
    ck_assert_int_eq(store_report(db, &r, prune_at_3, &action, &e), 0);
    ck_assert_int_eq(action, ACTION_PRUNE);
    ck_assert_int_eq(prune_calls, 3);
    /* the decision sticks without asking the pruner again */
    r.step = 4;
    r.value = 0.1;
    ck_assert_int_eq(store_report(db, &r, prune_at_3, &action, &e), 0);
    ck_assert_int_eq(action, ACTION_PRUNE);
    ck_assert_int_eq(prune_calls, 3);
    ck_assert_int_eq(store_heartbeat(db, id, "w:0", NULL, &action, &ms, &e), 0);
    ck_assert_int_eq(action, ACTION_PRUNE);
    /* a late report of an earlier step is kept, the last step does not go back */
    r.step = 2;
    r.value = 0.75;
    ck_assert_int_eq(store_report(db, &r, NULL, &action, &e), 0);
    r.worker = "w:1";
    ck_assert_int_eq(store_report(db, &r, NULL, &action, &e), -1);
    ck_assert_int_eq(e.status, 409);
    json_decref(values);

    struct trial_detail d;
    ck_assert_int_eq(store_trial_get(db, id, &d, &e), 0);
    ck_assert_uint_eq(d.n_reports, 4);
    ck_assert_int_eq(d.reports[1].step, 2);
    ck_assert(d.reports[1].value == 0.75);
    ck_assert(json_real_value(json_object_get(d.reports[1].values, "acc")) == 0.5);
    ck_assert(d.trial.has_last_step);
    ck_assert_int_eq(d.trial.last_step, 4);
    ck_assert(d.trial.last_value == 0.1);
    ck_assert_uint_eq(d.n_attempts, 1);
    ck_assert_str_eq(d.attempts[0].worker, "w:0");
    ck_assert_ptr_null(d.attempts[0].outcome);
    store_trial_detail_release(&d);

    /* pruned with no value keeps the last reported one */
    ck_assert_int_eq(complete(db, id, "w:0", TRIAL_PRUNED, NAN, &d, NULL, &e), 0);
    ck_assert_int_eq(d.trial.state, TRIAL_PRUNED);
    ck_assert(d.trial.value == 0.1);
    ck_assert_str_eq(d.attempts[0].outcome, "pruned");
    store_trial_detail_release(&d);
    ck_assert_int_eq(store_heartbeat(db, id, "w:0", NULL, &action, &ms, &e), -1);
    ck_assert_str_eq(e.code, "not_running");
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

/* The pruner judges once the report is committed: no transaction is open and
 * another connection writes at once, so a slow pruner holds up no one. */
static struct db *other_db;
static int outside_calls;

static bool prune_outside(struct db *db, long long study_id, long long trial_id, long long step,
                          double value)
{
    (void)study_id;
    (void)step;
    (void)value;
    outside_calls++;
    ck_assert(sqlite3_get_autocommit(db_handle(db)));
    /* the report is there to read */
    ck_assert_int_eq(tdb_int(db, "SELECT last_step FROM trials ORDER BY id DESC LIMIT 1"), step);
    db_set_patience(other_db, 0);
    ck_assert_int_eq(db_begin(other_db), 0);
    ck_assert_int_eq(
        sqlite3_exec(db_handle(other_db), "UPDATE studies SET name = name", NULL, NULL, NULL),
        SQLITE_OK);
    ck_assert_int_eq(db_commit(other_db), 0);
    long long number;
    ck_assert_int_eq(store_prune_mark(db, trial_id, step, "outside", &number), 0);
    ck_assert_int_ge(number, 0);
    return true;
}

START_TEST(prune_after_commit)
{
    struct db *db = tdb_up();
    char err[256];
    other_db = db_open(tdb_path, err, sizeof err);
    ck_assert_msg(other_db != NULL, "%s", err);
    struct study st;
    long long id = leased_trial(db, "o", &st);
    struct serr e;
    enum trial_action action;
    struct report_in r = {id, "w:0", 2, 0.9, NULL, {0, false}};
    outside_calls = 0;
    ck_assert_int_eq(store_report(db, &r, prune_outside, &action, &e), 0);
    ck_assert_int_eq(outside_calls, 1);
    ck_assert_int_eq(action, ACTION_PRUNE);
    ck_assert_int_eq(tdb_int(db, "SELECT prune_step FROM trials WHERE id = (SELECT max(id) FROM "
                                 "trials)"),
                     2);
    /* a second mark (a report sent twice) keeps the first and says so */
    long long number;
    ck_assert_int_eq(store_prune_mark(db, id, 3, "again", &number), 0);
    ck_assert_int_eq(number, -1);
    ck_assert_int_eq(tdb_int(db, "SELECT prune_step FROM trials WHERE id = (SELECT max(id) FROM "
                                 "trials)"),
                     2);
    /* a trial no longer running is not marked */
    long long other;
    lease_new(db, &st, "w:1", 1, &other);
    ck_assert_int_eq(sqlite3_exec(db_handle(db),
                                  "UPDATE trials SET state = 'pending', worker = "
                                  "NULL, lease_expires_at = NULL WHERE prune_step "
                                  "IS NULL",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(store_prune_mark(db, other, 1, "late", &number), 0);
    ck_assert_int_eq(number, -1);
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trials WHERE prune_step IS NOT NULL"), 1);
    store_study_release(&st);
    db_close(other_db);
    tdb_down(db);
}
END_TEST

START_TEST(complete_rules)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "c", "\"budget\": {\"max_trials\": 3, \"max_failures\": 5}", &st);
    long long ids[3];
    lease_new(db, &st, "w:0", 3, ids);
    struct serr e;
    struct trial_detail d;
    bool already;
    /* the lease holder only */
    ck_assert_int_eq(complete(db, ids[0], "w:1", TRIAL_COMPLETED, 1.0, &d, &already, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "lease_lost");
    ck_assert_int_eq(state_of(db, ids[0]), TRIAL_RUNNING);
    ck_assert_int_eq(complete(db, ids[0], "w:0", TRIAL_COMPLETED, NAN, &d, &already, &e), -1);
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.code, "bad_value");
    ck_assert_int_eq(complete(db, ids[0], "w:0", TRIAL_RUNNING, 1.0, &d, &already, &e), -1);
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.code, "bad_state");

    json_t *values = json_pack("{sf}", "loss", 1.5);
    struct completion c = {.trial_id = ids[0],
                           .worker = "w:0",
                           .state = TRIAL_COMPLETED,
                           .value = 1.0,
                           .values = values,
                           .sandbox = "bwrap",
                           .limits = limits};
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), 0);
    ck_assert(!already);
    ck_assert_int_eq(d.trial.state, TRIAL_COMPLETED);
    ck_assert(d.trial.value == 1.0);
    ck_assert(json_real_value(json_object_get(d.trial.values, "loss")) == 1.5);
    ck_assert_str_eq(d.trial.sandbox, "bwrap");
    ck_assert(d.trial.finished_at != STORE_NO_TIME);
    ck_assert(d.trial.lease_expires_at == STORE_NO_TIME);
    ck_assert_str_eq(d.attempts[0].outcome, "completed");
    store_trial_detail_release(&d);
    /* sent again: recorded before, nothing changes */
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), 0);
    ck_assert(already);
    ck_assert(d.trial.value == 1.0);
    store_trial_detail_release(&d);
    /* ... but another value is a conflict, not a silent drop */
    c.value = 2.0;
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "already_completed");
    ck_assert_ptr_nonnull(strstr(e.msg, "another result"));
    c.value = 1.0;
    json_t *other = json_pack("{sf}", "loss", 9.5);
    c.values = other;
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), -1);
    ck_assert_str_eq(e.code, "already_completed");
    c.values = values;
    json_decref(other);
    /* ... and so is another outcome */
    c.state = TRIAL_FAILED;
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "already_completed");
    ck_assert_int_eq(store_trial_get(db, ids[0], &d, &e), 0);
    ck_assert(d.trial.value == 1.0 && d.trial.state == TRIAL_COMPLETED);
    store_trial_detail_release(&d);
    json_decref(values);

    /* failed keeps no value but its error */
    struct completion f = {.trial_id = ids[1],
                           .worker = "w:0",
                           .state = TRIAL_FAILED,
                           .value = 3.0,
                           .error = "exit status 1",
                           .limits = limits};
    ck_assert_int_eq(store_complete(db, &f, &d, &already, &e), 0);
    ck_assert(isnan(d.trial.value));
    ck_assert_str_eq(d.trial.error, "exit status 1");
    store_trial_detail_release(&d);
    ck_assert_int_eq(tdb_int(db, "SELECT consecutive_failures FROM workers"), 1);
    /* a success resets the count of consecutive failures */
    ck_assert_int_eq(complete(db, ids[2], "w:0", TRIAL_COMPLETED, 0.5, NULL, NULL, &e), 0);
    ck_assert_int_eq(tdb_int(db, "SELECT consecutive_failures FROM workers"), 0);
    /* three trials finished: the study is */
    ck_assert_int_eq(tdb_int(db, "SELECT state = 'finished' FROM studies"), 1);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

/* Complete trial id of a study of err (minimised) and acc (maximised) with mem
 * (a constraint: at most 5). */
static int complete_mo(struct db *db, long long id, double err, double acc, double mem,
                       struct serr *e)
{
    json_t *v = json_pack("{sf sf sf}", "err", err, "acc", acc, "mem", mem);
    struct completion c = {.trial_id = id,
                           .worker = "w",
                           .state = TRIAL_COMPLETED,
                           .value = NAN,
                           .values = v,
                           .limits = limits};
    bool already;
    struct trial_detail d;
    int rc = store_complete(db, &c, &d, &already, e);
    if (rc == 0) {
        ck_assert(d.trial.multi);
        ck_assert_double_eq(d.trial.value, err); /* the first objective */
        ck_assert_double_eq(json_real_value(json_array_get(d.trial.objs, 1)), acc);
        ck_assert_int_eq(d.trial.feasible, mem <= 5);
        store_trial_detail_release(&d);
    }
    json_decref(v);
    return rc;
}

static long long pareto_of(struct db *db, long long id)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pareto FROM trials WHERE id = %lld", id);
    return tdb_int(db, sql);
}

START_TEST(several_objectives)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "mo",
              "\"objectives\": [{\"name\": \"err\"}, {\"name\": \"acc\", \"direction\": "
              "\"maximize\"}], \"constraints\": [{\"name\": \"mem\", \"max\": 5}], "
              "\"budget\": {\"max_trials\": 30}",
              &st);
    ck_assert_int_eq(tdb_int(db, "SELECT n_objectives * 10 + n_constraints FROM studies"), 21);
    long long ids[8];
    struct serr e;
    lease_new(db, &st, "w", 4, ids);

    /* a completion without an objective or a constraint's metric changes nothing */
    json_t *v = json_pack("{sf sf}", "err", 0.5, "mem", 1.0);
    struct completion c = {
        .trial_id = ids[0], .worker = "w", .state = TRIAL_COMPLETED, .value = NAN, .values = v};
    bool already;
    ck_assert_int_eq(store_complete(db, &c, NULL, &already, &e), -1);
    ck_assert_uint_eq(e.status, 400);
    ck_assert_str_eq(e.msg, "values.acc: required: an objective of this study (a finite number)");
    json_decref(v);
    ck_assert_int_eq(state_of(db, ids[0]), TRIAL_RUNNING);

    /* the front follows completions; an infeasible trial never joins it */
    ck_assert_msg(complete_mo(db, ids[0], 0.5, 0.5, 1, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(pareto_of(db, ids[0]), 1);
    ck_assert_msg(complete_mo(db, ids[1], 0.1, 0.9, 9, &e) == 0, "%s", e.msg); /* infeasible */
    ck_assert_int_eq(pareto_of(db, ids[1]), 0);
    ck_assert_int_eq(pareto_of(db, ids[0]), 1);
    ck_assert_msg(complete_mo(db, ids[2], 0.2, 0.4, 1, &e) == 0, "%s", e.msg); /* a trade-off */
    ck_assert_int_eq(pareto_of(db, ids[2]), 1);
    ck_assert_msg(complete_mo(db, ids[3], 0.2, 0.6, 1, &e) == 0, "%s", e.msg); /* beats #0, #2 */
    ck_assert_int_eq(pareto_of(db, ids[3]), 1);
    ck_assert_int_eq(pareto_of(db, ids[0]), 0);
    ck_assert_int_eq(pareto_of(db, ids[2]), 0);
    ck_assert_int_eq(tdb_int(db, "SELECT feasible FROM trials WHERE number = 1"), 0);
    ck_assert_int_eq(tdb_int(db, "SELECT violation FROM trials WHERE number = 1"), 4);

    struct front_rows f;
    ck_assert_msg(store_front(db, st.id, &f, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(f.trials.n, 1);
    ck_assert_int_eq(f.trials.v[0].id, ids[3]);
    ck_assert_int_eq(f.n_completed, 4);
    ck_assert_int_eq(f.n_feasible, 3);
    store_front_release(&f);
    struct trial_page page;
    ck_assert_int_eq(
        store_trials_page(db, "mo", NULL, NULL, true, -1, 10, STORE_ORDER_NUMBER, false, &page, &e),
        0);
    ck_assert_uint_eq(page.trials.n, 1);
    ck_assert_int_eq(page.total, 1);
    store_trial_page_release(&page);

    /* the reference point is derived from the first 10 feasible trials, once */
    ck_assert_int_eq(tdb_int(db, "SELECT reference IS NULL FROM studies"), 1);
    for (int i = 0; i < 7; i++) {
        lease_new(db, &st, "w", 1, ids);
        ck_assert_msg(complete_mo(db, ids[0], 0.3 + 0.01 * i, 0.3, 1, &e) == 0, "%s", e.msg);
    }
    ck_assert_int_eq(tdb_int(db, "SELECT reference IS NULL FROM studies"), 0);
    struct study_info info;
    ck_assert_msg(store_study_get(db, "mo", &info, &e) == 0, "%s", e.msg);
    ck_assert(info.reference_derived);
    /* the infeasible #1 does not count: err 0.2 .. 0.5, acc 0.3 .. 0.6 */
    ck_assert_double_eq_tol(info.reference[0], 0.5 + 0.03, 1e-12);
    ck_assert_double_eq_tol(info.reference[1], 0.3 - 0.03, 1e-12);
    ck_assert_int_eq(info.pareto_size, 1);
    store_study_info_release(&info);
    lease_new(db, &st, "w", 1, ids);
    ck_assert_msg(complete_mo(db, ids[0], 5.0, -3.0, 1, &e) == 0, "%s", e.msg);
    ck_assert_msg(store_study_get(db, "mo", &info, &e) == 0, "%s", e.msg);
    ck_assert_double_eq_tol(info.reference[0], 0.53, 1e-12); /* never moves */
    store_study_info_release(&info);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

START_TEST(worker_cut_off)
{
    time_set_clock(fake_clock);
    struct db *db = tdb_up();
    struct study st, code;
    tdb_study(db, "w", NULL, &st);
    long long ids[3];
    lease_new(db, &st, "bad:0", 3, ids);
    struct serr e;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(complete(db, ids[i], "bad:0", TRIAL_FAILED, NAN, NULL, NULL, &e), 0);
    struct lease_plan plan;
    ck_assert_int_eq(store_suggest_lease(db, &st, "bad:0", 0, 1, &plan, &e), 0);
    ck_assert_int_eq(plan.blocked_until, fake_now + 60000);
    ck_assert_uint_eq(plan.trials.n, 0);
    ck_assert_uint_eq(plan.want, 0);
    store_lease_plan_release(&plan);
    /* another worker is not cut off */
    ck_assert_int_eq(store_suggest_lease(db, &st, "good:0", 0, 1, &plan, &e), 0);
    ck_assert_int_eq(plan.blocked_until, 0);
    ck_assert_uint_eq(plan.want, 1);
    store_lease_plan_release(&plan);
    /* after the cool-down it is back */
    fake_now += 61000;
    ck_assert_int_eq(store_suggest_lease(db, &st, "bad:0", 0, 1, &plan, &e), 0);
    ck_assert_int_eq(plan.blocked_until, 0);
    store_lease_plan_release(&plan);

    /* a study with a code parameter: failures are the code's, not the worker's */
    json_t *in = tdb_json("{\"name\": \"code\", \"sampler\": {\"name\": \"random\"}, \"params\": "
                          "[{\"name\": \"m\", \"type\": \"code\", \"language\": \"python\", "
                          "\"contract\": \"f\", \"baseline\": \"pass\"}]}");
    char err[256];
    struct spec *sp = spec_parse(in, err, sizeof err);
    ck_assert_msg(sp != NULL, "%s", err);
    struct study_info info;
    bool created;
    ck_assert_int_eq(store_study_create(db, in, sp, &info, &created, &e), 0);
    store_study_info_release(&info);
    spec_free(sp);
    json_decref(in);
    ck_assert_int_eq(store_study_load(db, "code", &code, &e), 0);
    lease_new(db, &code, "bad:0", 3, ids);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(complete(db, ids[i], "bad:0", TRIAL_FAILED, NAN, NULL, NULL, &e), 0);
    ck_assert_int_eq(store_suggest_lease(db, &code, "bad:0", 0, 1, &plan, &e), 0);
    ck_assert_int_eq(plan.blocked_until, 0);
    store_lease_plan_release(&plan);
    store_study_release(&code);
    store_study_release(&st);
    tdb_down(db);
    time_set_clock(NULL);
}
END_TEST

static int64_t held_until;

static int64_t held(long long id)
{
    (void)id;
    return held_until;
}

/* A lease is bound to the token that took it: another worker token that
 * knows the worker's name may not heartbeat, report, complete or take it
 * back; an admin token may complete it. */
START_TEST(lease_bound_to_token)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "tok", NULL, &st);
    struct lease_plan plan;
    struct serr e;
    ck_assert_int_eq(store_suggest_lease(db, &st, "w:0", 7, 2, &plan, &e), 0);
    ck_assert_uint_eq(plan.trials.n, 0);
    ck_assert_uint_eq(plan.want, 2);
    store_lease_plan_release(&plan);
    json_t *configs[2] = {tdb_json("{\"x\": 0.5}"), tdb_json("{\"x\": 0.75}")};
    char *sources[2] = {"random", "random"};
    struct trial_list out = {0};
    ck_assert_int_eq(
        store_trials_create(db, &st, "w:0", 7, configs, sources, 2, NULL, NULL, &out, &e), 0);
    long long id = out.v[0].id, id2 = out.v[1].id;
    store_trial_list_release(&out);
    json_decref(configs[0]);
    json_decref(configs[1]);

    struct caller mine = {7, false}, thief = {8, false}, admin = {9, true};
    enum trial_action action;
    int64_t ms;
    ck_assert_int_eq(store_heartbeat(db, id, "w:0", &thief, &action, &ms, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_ptr_null(strstr(e.msg, "w:0"));
    ck_assert_int_eq(store_heartbeat(db, id, "w:0", &mine, &action, &ms, &e), 0);
    struct report_in r = {id, "w:0", 1, 0.9, NULL, thief};
    ck_assert_int_eq(store_report(db, &r, NULL, &action, &e), -1);
    ck_assert_int_eq(e.status, 409);
    r.who = mine;
    ck_assert_int_eq(store_report(db, &r, NULL, &action, &e), 0);
    /* the thief asking under the same worker name gets nothing back */
    ck_assert_int_eq(store_suggest_lease(db, &st, "w:0", 8, 1, &plan, &e), 0);
    ck_assert(!plan.redelivered);
    for (size_t i = 0; i < plan.trials.n; i++)
        ck_assert(plan.trials.v[i].id != id && plan.trials.v[i].id != id2);
    store_lease_plan_release(&plan);
    struct trial_detail d;
    bool already;
    struct completion c = {.trial_id = id,
                           .worker = "w:0",
                           .state = TRIAL_COMPLETED,
                           .value = -1e300,
                           .limits = limits,
                           .who = thief};
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_int_eq(state_of(db, id), TRIAL_RUNNING);
    c.who = mine;
    c.value = 0.25;
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), 0);
    ck_assert(!already && d.trial.value == 0.25);
    store_trial_detail_release(&d);
    /* a resend by the thief is no resend */
    c.who = thief;
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), -1);
    ck_assert_int_eq(e.status, 409);
    /* an admin token may finish any trial */
    c.trial_id = id2;
    c.who = admin;
    c.state = TRIAL_FAILED;
    c.error = "stopped by an admin";
    ck_assert_int_eq(store_complete(db, &c, &d, &already, &e), 0);
    store_trial_detail_release(&d);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

START_TEST(reap_and_grace)
{
    time_set_clock(fake_clock);
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "x",
              "\"lease\": {\"heartbeat_s\": 1, \"stale_after\": 2, \"max_retries\": 1}, "
              "\"budget\": {\"max_failures\": 1}",
              &st);
    long long id, reaped[4];
    lease_new(db, &st, "w:0", 1, &id);
    int64_t t0 = fake_now;
    ck_assert_int_eq(store_reap(db, t0 + 1500, NULL, reaped, 4), 0);
    /* past the stored lease, but the heartbeats in memory hold it */
    held_until = t0 + 5000;
    ck_assert_int_eq(store_reap(db, t0 + 2500, held, reaped, 4), 0);
    ck_assert_int_eq(state_of(db, id), TRIAL_RUNNING);
    /* first expiry: requeued */
    ck_assert_int_eq(store_reap(db, t0 + 2500, NULL, reaped, 4), 1);
    ck_assert_int_eq(reaped[0], id);
    ck_assert_int_eq(state_of(db, id), TRIAL_PENDING);
    struct serr e;
    struct lease_plan plan;
    ck_assert_int_eq(store_suggest_lease(db, &st, "w:1", 0, 1, &plan, &e), 0);
    ck_assert_uint_eq(plan.trials.n, 1);
    ck_assert_int_eq(plan.trials.v[0].id, id);
    ck_assert_int_eq(plan.trials.v[0].attempts, 2);
    store_lease_plan_release(&plan);
    /* second expiry: past max_retries, failed; max_failures 1 finishes the study */
    fake_now = t0 + 10000;
    ck_assert_int_eq(store_reap(db, fake_now + 2500, NULL, reaped, 4), 1);
    struct trial_detail d;
    ck_assert_int_eq(store_trial_get(db, id, &d, &e), 0);
    ck_assert_int_eq(d.trial.state, TRIAL_FAILED);
    ck_assert_msg(strstr(d.trial.error, "lease expired 2 times") != NULL, "%s", d.trial.error);
    ck_assert_uint_eq(d.n_attempts, 2);
    ck_assert_str_eq(d.attempts[0].outcome, "stale");
    ck_assert_str_eq(d.attempts[1].outcome, "stale");
    ck_assert_str_eq(d.attempts[1].worker, "w:1");
    store_trial_detail_release(&d);
    ck_assert_int_eq(tdb_int(db, "SELECT state = 'finished' FROM studies WHERE name = 'x'"), 1);

    /* a trial the pruner stopped ends pruned, with its last value */
    struct study p;
    tdb_study(db, "p", "\"lease\": {\"heartbeat_s\": 1, \"stale_after\": 1}", &p);
    lease_new(db, &p, "w:0", 1, &id);
    enum trial_action action;
    struct report_in r = {id, "w:0", 1, 0.5, NULL, {0, false}};
    ck_assert_int_eq(store_report(db, &r, prune_at_3, &action, &e), 0);
    r.step = 3;
    ck_assert_int_eq(store_report(db, &r, prune_at_3, &action, &e), 0);
    ck_assert_int_eq(action, ACTION_PRUNE);
    ck_assert_int_eq(store_reap(db, fake_now + 5000, NULL, reaped, 4), 1);
    ck_assert_int_eq(store_trial_get(db, id, &d, &e), 0);
    ck_assert_int_eq(d.trial.state, TRIAL_PRUNED);
    ck_assert(d.trial.value == 0.5);
    store_trial_detail_release(&d);

    /* grace at start-up: every running trial gets a full lease from now */
    long long g;
    lease_new(db, &p, "w:2", 1, &g);
    fake_now += 100000;
    ck_assert_int_eq(store_lease_grace(db, fake_now), 1);
    ck_assert_int_eq(store_trial_get(db, g, &d, &e), 0);
    ck_assert_int_eq(d.trial.lease_expires_at, fake_now + 1000);
    store_trial_detail_release(&d);
    ck_assert_int_eq(store_reap(db, fake_now + 500, NULL, reaped, 4), 0);
    store_study_release(&p);
    store_study_release(&st);
    tdb_down(db);
    time_set_clock(NULL);
}
END_TEST

static int fail_second(struct db *db, void *arg, size_t i, long long number)
{
    (void)db;
    (void)number;
    int *calls = arg;
    (*calls)++;
    return i == 1 ? -1 : 0;
}

START_TEST(create_is_all_or_nothing)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "a", NULL, &st);
    json_t *configs[3] = {json_pack("{sf}", "x", 0.1), json_pack("{sf}", "x", 0.2),
                          json_pack("{sf}", "x", 0.3)};
    char *sources[3] = {"random", "random", "random"};
    struct trial_list out = {0};
    struct serr e;
    int calls = 0;
    ck_assert_int_eq(
        store_trials_create(db, &st, "w:0", 0, configs, sources, 3, fail_second, &calls, &out, &e),
        -1);
    ck_assert_int_eq(calls, 2);
    ck_assert_uint_eq(out.n, 0);
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trials"), 0);
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trial_attempts"), 0);
    ck_assert_int_eq(tdb_int(db, "SELECT next_number FROM studies"), 0);
    ck_assert_int_eq(
        store_trials_create(db, &st, "w:0", 0, configs, sources, 3, NULL, NULL, &out, &e), 0);
    ck_assert_uint_eq(out.n, 3);
    ck_assert_int_eq(out.v[2].number, 2);
    store_trial_list_release(&out);
    for (int i = 0; i < 3; i++)
        json_decref(configs[i]);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

/* Another process holding the write lock: a raw connection in a write
 * transaction. */
static sqlite3 *hold_write_lock(void)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(tdb_path, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h,
                                  "BEGIN IMMEDIATE; INSERT INTO workers (study_id, worker, "
                                  "last_seen, consecutive_failures) VALUES (1, 'other', 0, 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    return h;
}

/* Overwrite 200 bytes in the middle of a leaf page of the trials table (the
 * middle child of its root), as a disk or a failed copy might. */
static void corrupt_trials_page(void)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(tdb_path, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(h,
                                        "SELECT (SELECT page_size FROM pragma_page_size), "
                                        "rootpage FROM sqlite_schema WHERE name = 'trials'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    long ps = sqlite3_column_int(q, 0), root = sqlite3_column_int(q, 1);
    sqlite3_finalize(q);
    sqlite3_close(h);
    FILE *f = fopen(tdb_path, "r+b");
    ck_assert_ptr_nonnull(f);
    unsigned char *page = malloc((size_t)ps);
    ck_assert_int_eq(fseek(f, (root - 1) * ps, SEEK_SET), 0);
    ck_assert_int_eq(fread(page, 1, (size_t)ps, f), (size_t)ps);
    ck_assert_int_eq(page[0], 5); /* an interior table page: the table spans pages */
    int cells = page[3] << 8 | page[4];
    int at = page[12 + 2 * (cells / 2)] << 8 | page[13 + 2 * (cells / 2)];
    long leaf = (long)page[at] << 24 | page[at + 1] << 16 | page[at + 2] << 8 | page[at + 3];
    memset(page, 0xee, 200);
    ck_assert_int_eq(fseek(f, (leaf - 1) * ps + ps / 2, SEEK_SET), 0);
    ck_assert_int_eq(fwrite(page, 1, 200, f), 200);
    fclose(f);
    free(page);
}

/* Reads of a damaged table fail with SQLite's own message: no page of trials
 * comes back short, no export is missing rows, and the message is never
 * "not an error" (read after another call reset the connection's error). */
START_TEST(damaged_reads_fail_loudly)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "big", "\"budget\": {\"max_trials\": 1000}", &st);
    ck_assert_int_eq(
        sqlite3_exec(db_handle(db),
                     "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < "
                     "299) INSERT INTO trials (study_id, number, state, params, value, source, "
                     "created_at, finished_at, error) SELECT 1, i, 'completed', "
                     "'{\"x\": 0.5}', i, 'random', 1, 2, printf('%.*c', 60, 'e') FROM n; "
                     "UPDATE studies SET next_number = 300",
                     NULL, NULL, NULL),
        SQLITE_OK);
    store_study_release(&st);
    db_close(db);
    corrupt_trials_page();
    /* the thread's connection, as a request handler has: SQLite's error log
     * reaches it */
    db = db_thread();
    ck_assert_ptr_nonnull(db);
    struct serr e;
    ck_assert_int_eq(store_study_load(db, "big", &st, &e), 0);

    struct trial_page page;
    for (enum store_order o = STORE_ORDER_NUMBER; o <= STORE_ORDER_VALUE_DESC; o++) {
        memset(&page, 0, sizeof page);
        int rc = store_trials_page(db, "big", NULL, NULL, false, -1, 1000, o, false, &page, &e);
        ck_assert_msg(rc == -1, "order %d: a page of %zu trials from a damaged table", (int)o,
                      page.trials.n);
        ck_assert_int_ge(e.status, 500);
        ck_assert_msg(strstr(e.msg, "malformed") != NULL, "%s", e.msg);
        store_trial_page_release(&page);
    }

    struct dump d;
    ck_assert_int_eq(dump_read(db, "big", &d, &e), -1);
    ck_assert_msg(strstr(e.msg, "malformed") != NULL, "%s", e.msg);

    struct trial_outcome *outs = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_outcomes(db, st.id, false, &outs, &n), -1);
    ck_assert_msg(strstr(db_errmsg(db), "malformed") != NULL, "%s", db_errmsg(db));
    /* a call that works in between (a cleanup) leaves the message as it was */
    sqlite3_stmt *ok = db_stmt(db, "SELECT 1");
    ck_assert_int_eq(sqlite3_step(ok), SQLITE_ROW);
    sqlite3_reset(ok);
    ck_assert_msg(strstr(db_errmsg(db), "malformed") != NULL, "%s", db_errmsg(db));

    struct lease_plan plan;
    int rc = store_suggest_lease(db, &st, "w:0", 0, 1, &plan, &e);
    if (rc < 0)
        ck_assert_msg(strstr(e.msg, "not an error") == NULL, "%s", e.msg);
    store_lease_plan_release(&plan);
    store_study_release(&st);
    db_thread_close();
    tdb_down(NULL);
}
END_TEST

START_TEST(busy_fails_cleanly)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "b", NULL, &st);
    sqlite3_busy_timeout(db_handle(db), 20);
    sqlite3 *h = hold_write_lock();
    json_t *p = json_pack("{sf}", "x", 0.5);
    struct trial_detail d;
    struct serr e;
    ck_assert_int_eq(store_enqueue(db, "b", p, "manual", &d, &e), -1);
    ck_assert_int_eq(e.status, 503);
    ck_assert_str_eq(e.code, "storage_unavailable");
    ck_assert_int_ge(e.retry_after_s, 1);
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trials"), 0);
    ck_assert_int_eq(tdb_int(db, "SELECT next_number FROM studies"), 0);
    /* and the connection works afterwards */
    ck_assert_msg(store_enqueue(db, "b", p, "manual", &d, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(d.trial.number, 0);
    store_trial_detail_release(&d);
    json_decref(p);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

static int busy_calls;

/* SQLite's busy handler: the other process commits, and this attempt gives up
 * (so that db_run has to run the transaction again). */
static int let_go(void *arg, int n)
{
    (void)n;
    busy_calls++;
    sqlite3 *h = arg;
    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    return 0;
}

START_TEST(busy_runs_again)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "b", NULL, &st);
    sqlite3 *h = hold_write_lock();
    sqlite3_busy_handler(db_handle(db), let_go, h);
    busy_calls = 0;
    long long ids[2];
    lease_new(db, &st, "w:0", 2, ids);
    ck_assert_int_eq(busy_calls, 1);
    sqlite3_close(h);
    /* run once, not twice: two trials, numbered 0 and 1, and the other's row */
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trials"), 2);
    ck_assert_int_eq(tdb_int(db, "SELECT max(number) FROM trials"), 1);
    ck_assert_int_eq(tdb_int(db, "SELECT next_number FROM studies"), 2);
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM workers WHERE worker = 'other'"), 1);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

START_TEST(full_disk)
{
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "f", NULL, &st);
    long long ids[2];
    lease_new(db, &st, "w:0", 2, ids);
    struct serr e;
    ck_assert_int_eq(complete(db, ids[0], "w:0", TRIAL_COMPLETED, 0.5, NULL, NULL, &e), 0);
    /* cap the file where it is now: a write that needs another page fails */
    sqlite3_exec(db_handle(db), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    long pages = (long)tdb_int(db, "PRAGMA page_count");
    db_set_max_pages(pages);
    char err[256];
    struct db *full = db_open(tdb_path, err, sizeof err);
    ck_assert_msg(full != NULL, "%s", err);
    db_set_max_pages(0);
    char *big = malloc(200001);
    memset(big, 'y', 200000);
    big[200000] = 0;
    json_t *p = json_pack("{sfss}", "x", 0.5, "note", big);
    struct trial_detail d;
    ck_assert_int_eq(store_enqueue(full, "f", p, "manual", &d, &e), -1);
    ck_assert_int_eq(e.status, 503);
    ck_assert_str_eq(e.code, "storage_unavailable");
    ck_assert_msg(strstr(e.msg, "full") != NULL, "%s", e.msg);
    /* the number taken in the same transaction went back with the insert */
    ck_assert_int_eq(tdb_int(db, "SELECT next_number FROM studies"), 2);
    /* a completion that needs room fails whole: the trial is still running */
    struct completion c = {.trial_id = ids[1],
                           .worker = "w:0",
                           .state = TRIAL_FAILED,
                           .value = NAN,
                           .error = big,
                           .limits = limits};
    bool already;
    ck_assert_int_eq(store_complete(full, &c, &d, &already, &e), -1);
    ck_assert_int_eq(e.status, 503);
    ck_assert_int_eq(state_of(db, ids[1]), TRIAL_RUNNING);
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trial_attempts WHERE ended_at IS NULL"), 1);
    /* nothing acknowledged before is lost */
    ck_assert_int_eq(state_of(db, ids[0]), TRIAL_COMPLETED);
    db_close(full);
    /* with room again, the same calls succeed */
    ck_assert_msg(store_enqueue(db, "f", p, "manual", &d, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(d.trial.number, 2);
    store_trial_detail_release(&d);
    ck_assert_msg(store_complete(db, &c, &d, &already, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(d.trial.state, TRIAL_FAILED);
    ck_assert_uint_eq(strlen(d.trial.error), 200000);
    store_trial_detail_release(&d);
    json_decref(p);
    free(big);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("transactions");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, studies);
    tcase_add_test(tc, spec_cache_references);
    tcase_add_test(tc, enqueue_pages_best);
    tcase_add_test(tc, heartbeat_and_report);
    tcase_add_test(tc, prune_after_commit);
    tcase_add_test(tc, complete_rules);
    tcase_add_test(tc, several_objectives);
    tcase_add_test(tc, worker_cut_off);
    tcase_add_test(tc, reap_and_grace);
    tcase_add_test(tc, lease_bound_to_token);
    tcase_add_test(tc, create_is_all_or_nothing);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("errors");
    tcase_set_timeout(te, 60);
    tcase_add_test(te, busy_fails_cleanly);
    tcase_add_test(te, busy_runs_again);
    tcase_add_test(te, full_disk);
    tcase_add_test(te, damaged_reads_fail_loudly);
    suite_add_tcase(s, te);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
