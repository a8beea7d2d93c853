#include <config.h>
#include "render.h"

#include <math.h>

#include "heartbeats.h"
#include "jsonutil.h"
#include "timeutil.h"

static json_t *time_json(int64_t ms)
{
    if (ms == STORE_NO_TIME)
        return json_null();
    char s[40];
    time_format_rfc3339(ms, s, sizeof s);
    return json_string(s);
}

static json_t *real_json(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *text_json(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *ref_json(json_t *v)
{
    return v ? json_incref(v) : json_null();
}

json_t *render_trial(const struct trial *t)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(t->id));
    json_object_set_new(j, "number", json_integer(t->number));
    json_object_set_new(j, "state", json_string(trial_state_name(t->state)));
    json_object_set_new(j, "params", ref_json(t->params));
    json_object_set_new(j, "value", real_json(t->value));
    json_object_set_new(j, "values", ref_json(t->values));
    json_object_set_new(j, "source", text_json(t->source));
    json_object_set_new(j, "worker", text_json(t->worker));
    json_object_set_new(j, "attempts", json_integer(t->attempts));
    json_object_set_new(j, "created_at", time_json(t->created_at));
    json_object_set_new(j, "started_at", time_json(t->started_at));
    json_object_set_new(j, "finished_at", time_json(t->finished_at));
    json_object_set_new(j, "error", text_json(t->error));
    json_object_set_new(j, "last_step",
                        t->has_last_step ? json_integer(t->last_step) : json_null());
    json_object_set_new(j, "last_value", real_json(t->last_value));
    int64_t lease = t->lease_expires_at;
    if (lease != STORE_NO_TIME) {
        int64_t held = heartbeats_deadline(t->id);
        if (held > lease)
            lease = held;
    }
    json_object_set_new(j, "lease_expires_at", time_json(lease));
    json_object_set_new(j, "sandbox", text_json(t->sandbox));
    if (t->multi) {
        json_object_set_new(j, "objectives", ref_json(t->objs));
        json_object_set_new(j, "feasible",
                            t->feasible < 0 ? json_null() : json_boolean(t->feasible));
    }
    return j;
}

json_t *render_trial_detail(const struct trial_detail *d)
{
    json_t *j = render_trial(&d->trial);
    json_object_set_new(j, "study", json_string(d->study));
    json_t *reports = json_array();
    for (size_t i = 0; i < d->n_reports; i++) {
        const struct trial_report *r = &d->reports[i];
        json_array_append_new(reports,
                              json_pack("{sI so so so so}", "step", (json_int_t)r->step, "value",
                                        real_json(r->value), "values", ref_json(r->values), "at",
                                        time_json(r->at), "prune_p", real_json(r->prune_p)));
    }
    json_object_set_new(j, "reports", reports);
    json_t *attempts = json_array();
    for (size_t i = 0; i < d->n_attempts; i++) {
        const struct trial_attempt *a = &d->attempts[i];
        json_array_append_new(attempts,
                              json_pack("{sI so so so so}", "attempt", (json_int_t)a->attempt,
                                        "worker", text_json(a->worker), "started_at",
                                        time_json(a->started_at), "ended_at",
                                        time_json(a->ended_at), "outcome", text_json(a->outcome)));
    }
    json_object_set_new(j, "attempt_log", attempts);
    json_object_set_new(j, "prune_reason", text_json(d->prune_reason));
    return j;
}

json_t *render_lease(const struct trial *t, const struct study *st)
{
    json_t *j = render_trial(t);
    json_object_set_new(j, "heartbeat_s", json_real(st->spec->heartbeat_s));
    json_object_set_new(j, "study", json_string(st->name));
    return j;
}

static json_t *counts_json(const struct counts *c)
{
    return json_pack("{sI sI sI sI sI}", "pending", (json_int_t)c->pending, "running",
                     (json_int_t)c->running, "completed", (json_int_t)c->completed, "failed",
                     (json_int_t)c->failed, "pruned", (json_int_t)c->pruned);
}

json_t *render_study(const struct study_info *s, bool full)
{
    const json_t *spec = s->spec;
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(s->name));
    json_object_set_new(j, "state", json_string(study_state_name(s->state)));
    json_object_set_new(j, "description", json_string(json_str(spec, "description", "")));
    const json_t *first = json_object_get(spec, "objective");
    if (!first) /* several objectives: the first one's */
        first = json_array_get(json_object_get(spec, "objectives"), 0);
    json_object_set_new(j, "objective", json_string(json_str(first, "name", "value")));
    json_object_set_new(j, "direction", json_string(s->direction > 0 ? "minimize" : "maximize"));
    json_object_set_new(j, "sampler",
                        json_string(json_str(json_object_get(spec, "sampler"), "name", "auto")));
    json_object_set_new(j, "max_trials",
                        json_integer(json_int(json_object_get(spec, "budget"), "max_trials", 0)));
    json_object_set_new(j, "counts", counts_json(&s->counts));
    bool several = s->n_objectives > 1;
    json_object_set_new(j, "best_value",
                        s->best && !several ? real_json(s->best->value) : json_null());
    if (several) {
        json_t *names = json_array();
        const json_t *objs = json_object_get(spec, "objectives");
        for (size_t i = 0; i < json_array_size(objs); i++)
            json_array_append_new(names,
                                  json_string(json_str(json_array_get(objs, i), "name", "")));
        json_object_set_new(j, "objectives", names);
        json_object_set_new(j, "pareto_size", json_integer(s->pareto_size));
    }
    json_object_set_new(j, "llm",
                        json_pack("{sI sI sf}", "tokens_in", (json_int_t)s->tokens_in, "tokens_out",
                                  (json_int_t)s->tokens_out, "cost_usd", s->cost_usd));
    json_object_set_new(j, "created_at", time_json(s->created_at));
    json_object_set_new(j, "finished_at", time_json(s->finished_at));
    if (full) {
        json_object_set_new(j, "best", s->best && !several ? render_trial(s->best) : json_null());
        json_object_set_new(j, "spec", ref_json(s->spec));
    }
    return j;
}

json_t *render_study_list(const struct study_list *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(arr, render_study(&l->v[i], false));
    return json_pack("{so}", "studies", arr);
}

json_t *render_trial_page(const struct trial_page *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->trials.n; i++) {
        json_t *t = render_trial(&p->trials.v[i]);
        if (p->curves) {
            json_t *curve = json_array();
            const struct trial_curve *c = &p->curves[i];
            for (size_t k = 0; k < c->n; k++)
                json_array_append_new(
                    curve,
                    json_pack("[Io]", (json_int_t)c->v[k].step,
                              isfinite(c->v[k].value) ? json_real(c->v[k].value) : json_null()));
            json_object_set_new(t, "curve", curve);
        }
        json_array_append_new(arr, t);
    }
    return json_pack("{so so sI}", "trials", arr, "next_after",
                     p->more ? json_integer(p->next_after) : json_null(), "total",
                     (json_int_t)p->total);
}

static json_t *reference_json(const struct front *f, size_t m)
{
    if (f->ref_source == FRONT_REF_NONE)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; i < m; i++)
        json_array_append_new(a, json_real(f->reference[i]));
    return a;
}

void render_front_summary(json_t *study, const struct front *f)
{
    size_t m = f->st.spec->n_objectives;
    json_object_set_new(study, "hypervolume", real_json(f->hypervolume));
    json_object_set_new(study, "reference_point", reference_json(f, m));
    json_object_set_new(study, "reference_source", text_json(front_reference_name(f->ref_source)));
    json_object_set_new(study, "pareto_size", json_integer((json_int_t)f->trials.n));
}

json_t *render_front(const struct front *f)
{
    const struct spec *sp = f->st.spec;
    json_t *objectives = json_array();
    for (size_t i = 0; i < sp->n_objectives; i++)
        json_array_append_new(objectives,
                              json_pack("{ss ss}", "name", sp->objectives[i].name, "direction",
                                        sp->objectives[i].maximize ? "maximize" : "minimize"));
    json_t *trials = json_array();
    for (size_t i = 0; i < f->trials.n; i++)
        json_array_append_new(trials, render_trial(&f->trials.v[i]));
    json_t *j = json_object();
    json_object_set_new(j, "study", json_string(f->st.name));
    json_object_set_new(j, "objectives", objectives);
    json_object_set_new(j, "reference_point", reference_json(f, sp->n_objectives));
    json_object_set_new(j, "reference_source", text_json(front_reference_name(f->ref_source)));
    json_object_set_new(j, "hypervolume", real_json(f->hypervolume));
    json_object_set_new(j, "pareto", json_true());
    json_object_set_new(j, "trials", trials);
    json_object_set_new(j, "n_completed", json_integer(f->n_completed));
    json_object_set_new(j, "n_feasible", json_integer(f->n_feasible));
    if (f->history) {
        json_t *h = json_array();
        for (size_t i = 0; i < f->n_hv; i++)
            json_array_append_new(
                h, json_pack("[Io]", (json_int_t)f->hv_numbers[i], real_json(f->hv_values[i])));
        json_object_set_new(j, "hypervolume_history", h);
    }
    return j;
}
