#include <config.h>
#include "propose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "reply.h"
#include "schema.h"

void llm_propose_opts_init(struct llm_propose_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_reasks = 2;
}

static void audit_release(struct llm_audit *a)
{
    free(a->provider);
    free(a->model);
    free(a->model_requested);
    json_decref(a->messages);
    free(a->request);
    json_decref(a->params);
    free(a->reply);
    free(a->reasoning);
    free(a->error);
}

void llm_proposal_release(struct llm_proposal *out)
{
    json_decref(out->configs);
    for (size_t i = 0; i < out->n_audits; i++)
        audit_release(&out->audits[i]);
    free(out->audits);
    free(out->error);
    memset(out, 0, sizeof *out);
}

static struct llm_audit *audit_add(struct llm_proposal *out, const struct llm_provider *p,
                                   const json_t *messages)
{
    struct llm_audit *v = realloc(out->audits, (out->n_audits + 1) * sizeof *v);
    if (!v)
        return NULL;
    out->audits = v;
    struct llm_audit *a = &v[out->n_audits++];
    memset(a, 0, sizeof *a);
    a->provider = strdup(p->name);
    a->messages = json_deep_copy(messages);
    a->attempt = (int)out->n_audits;
    a->structured = "none";
    return a;
}

static void set_error(struct llm_proposal *out, const struct llm_provider *p, const char *msg)
{
    free(out->error);
    out->error = strdup(msg);
    llm_provider_redact(p, out->error);
}

int llm_propose(struct llm_provider *p, const struct spec *spec, const struct llm_history *h,
                const struct llm_propose_opts *o, struct llm_proposal *out)
{
    struct llm_propose_opts defaults;
    if (!o) {
        llm_propose_opts_init(&defaults);
        o = &defaults;
    }
    memset(out, 0, sizeof *out);
    out->configs = json_array();
    char err[1024] = "";

    struct llm_prompt_opts po;
    if (llm_prompt_opts_parse(spec->llm, &po, err, sizeof err) < 0) {
        set_error(out, p, err);
        return -1;
    }
    size_t want = o->want ? o->want : po.batch;
    po.batch = want;
    struct llm_call_opts co;
    llm_call_opts_init(&co);
    co.model = json_str(spec->llm, "model", NULL);
    co.temperature = json_num(spec->llm, "temperature", 0);
    /* code comes in fenced blocks after the JSON: not a pure JSON reply */
    bool code = false;
    for (size_t i = 0; i < spec->space->n; i++)
        code = code || spec->space->params[i].type == PARAM_CODE;
    co.cancel = o->cancel;
    /* Code comes in fenced blocks after the JSON (models write it there
     * without escaping errors): no constraint for such studies. Otherwise the
     * answer is constrained to the space's schema where the provider takes
     * one, the analysis of a reasoning study then in its "reasoning" field;
     * JSON mode alone would lose that line, so such studies are then asked
     * with the prompt alone. */
    bool schema_level = !code && llm_provider_level(p) == LLM_LEVEL_SCHEMA;
    po.schema_answer = schema_level;
    co.json_mode = schema_level || (!code && !po.reasoning);
    json_t *schema = NULL;
    if (!code) {
        struct llm_schema_opts so = {
            .batch = want, .reasoning = po.reasoning, .aim = llm_prompt_multi(spec)};
        schema = llm_schema_build(spec->space, &so, &co.schema_strict);
        co.schema = schema;
    }

    json_t *messages = llm_prompt_build(spec, &po, h, err, sizeof err);
    if (!messages) {
        json_decref(schema);
        set_error(out, p, err);
        return -1;
    }
    int rc = -1;
    for (int round = 0; round <= o->max_reasks; round++) {
        struct llm_response resp;
        int crc = llm_call(p, messages, &co, &resp);
        struct llm_audit *a = NULL;
        for (size_t i = 0; i < resp.n_ex; i++) {
            struct llm_exchange *x = &resp.ex[i];
            a = audit_add(out, p, messages);
            if (!a)
                break;
            a->model = x->model;
            x->model = NULL;
            a->model_requested = x->model_requested;
            x->model_requested = NULL;
            a->request = x->request;
            x->request = NULL;
            a->params = x->params;
            x->params = NULL;
            a->reply = x->reply;
            x->reply = NULL;
            a->reasoning = x->reasoning;
            x->reasoning = NULL;
            a->error = x->error;
            x->error = NULL;
            a->structured = x->structured;
            a->tokens_in = x->tokens_in;
            a->tokens_out = x->tokens_out;
            a->tokens_estimated = x->tokens_estimated;
            a->at_ms = x->at_ms;
            a->latency_ms = x->latency_ms;
            a->http_status = x->http_status;
        }
        out->tokens_in += resp.tokens_in;
        out->tokens_out += resp.tokens_out;
        out->tokens_estimated = out->tokens_estimated || resp.tokens_estimated;
        out->retry_after_s = resp.retry_after_s;
        if (!a) {
            set_error(out, p, resp.error ? resp.error : "out of memory");
            llm_response_release(&resp);
            break;
        }
        if (crc < 0) {
            /* the call itself failed after its own retries: no re-ask */
            snprintf(err, sizeof err, "llm call failed: %s", resp.error);
            if (!a->error)
                a->error = strdup(resp.error);
            set_error(out, p, err);
            llm_response_release(&resp);
            break;
        }
        json_t *configs = NULL;
        int n = llm_reply_parse(spec->space, resp.text, want, h, &configs, err, sizeof err);
        if (n > 0) {
            json_array_extend(out->configs, configs);
            json_decref(configs);
            a->n_configs = (size_t)n;
            if (err[0])
                a->error = strdup(err);
            rc = n;
            llm_response_release(&resp);
            break;
        }
        char reason[1200];
        snprintf(reason, sizeof reason, "invalid reply: %s", err);
        a->error = strdup(reason);
        set_error(out, p, reason);
        long spent = out->tokens_in + out->tokens_out;
        bool stop = round == o->max_reasks || (o->tokens_left > 0 && spent >= o->tokens_left) ||
                    (o->cancel && atomic_load(o->cancel));
        if (!stop && llm_prompt_reask(messages, spec, &po, resp.text, err) < 0) {
            set_error(out, p, "out of memory");
            stop = true;
        }
        llm_response_release(&resp);
        if (stop)
            break;
    }
    json_decref(schema);
    json_decref(messages);
    if (rc > 0) {
        free(out->error);
        out->error = NULL;
    }
    for (size_t i = 0; i < out->n_audits; i++) {
        llm_provider_redact(p, out->audits[i].reply);
        llm_provider_redact(p, out->audits[i].reasoning);
        llm_provider_redact(p, out->audits[i].error);
    }
    return rc;
}
