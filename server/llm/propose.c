#include <config.h>
#include "propose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "reply.h"

void llm_propose_opts_init(struct llm_propose_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_reasks = 2;
}

static void audit_release(struct llm_audit *a)
{
    free(a->provider);
    free(a->model);
    json_decref(a->messages);
    free(a->request);
    free(a->reply);
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
    co.json_mode = !po.reasoning && !code;
    co.cancel = o->cancel;

    json_t *messages = llm_prompt_build(spec, &po, h, err, sizeof err);
    if (!messages) {
        set_error(out, p, err);
        return -1;
    }
    int rc = -1;
    for (int round = 0; round <= o->max_reasks; round++) {
        struct llm_audit *a = audit_add(out, p, messages);
        if (!a) {
            set_error(out, p, "out of memory");
            break;
        }
        struct llm_response resp;
        int crc = llm_call(p, messages, &co, &resp);
        a->model = resp.model ? strdup(resp.model) : NULL;
        a->request = resp.request;
        resp.request = NULL;
        a->tokens_in = resp.tokens_in;
        a->tokens_out = resp.tokens_out;
        a->latency_ms = resp.latency_ms;
        a->http_status = resp.http_status;
        a->attempts = resp.attempts;
        out->tokens_in += resp.tokens_in;
        out->tokens_out += resp.tokens_out;
        if (crc < 0) {
            /* the call itself failed after its own retries: no re-ask */
            snprintf(err, sizeof err, "llm call failed: %s", resp.error);
            a->error = strdup(resp.error);
            set_error(out, p, err);
            llm_response_release(&resp);
            break;
        }
        a->reply = strdup(resp.text);
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
        a->error = strdup(err);
        char reason[1200];
        snprintf(reason, sizeof reason, "invalid reply: %s", err);
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
    json_decref(messages);
    if (rc > 0) {
        free(out->error);
        out->error = NULL;
    }
    for (size_t i = 0; i < out->n_audits; i++) {
        llm_provider_redact(p, out->audits[i].reply);
        llm_provider_redact(p, out->audits[i].error);
    }
    return rc;
}
