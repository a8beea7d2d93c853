#include <config.h>
#include "schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"

/* The schema of one parameter's value. */
static json_t *param_schema(const struct param *p)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    struct buf d;
    buf_init(&d);
    switch (p->type) {
    case PARAM_FLOAT:
    case PARAM_INT:
        json_object_set_new(o, "type", json_string(p->type == PARAM_INT ? "integer" : "number"));
        if (p->type == PARAM_INT) {
            json_object_set_new(o, "minimum", json_integer((json_int_t)ceil(p->low)));
            json_object_set_new(o, "maximum", json_integer((json_int_t)floor(p->high)));
        } else {
            json_object_set_new(o, "minimum", json_real(p->low));
            json_object_set_new(o, "maximum", json_real(p->high));
        }
        if (p->log)
            buf_puts(&d, "log scale");
        if (p->step > 0 && !(p->type == PARAM_INT && p->step == 1))
            buf_printf(&d, "%son the grid low + k * %g", d.len ? ", " : "", p->step);
        break;
    case PARAM_CATEGORICAL:
        json_object_set(o, "enum", p->choices);
        break;
    case PARAM_CODE:
        json_object_set_new(o, "type", json_string("string"));
        json_object_set_new(o, "maxLength", json_integer((json_int_t)p->max_bytes));
        buf_printf(&d, "the complete %s source, not a placeholder", p->language ? p->language : "");
        if (p->contract)
            buf_printf(&d, ": %s", p->contract);
        break;
    }
    if (d.len)
        json_object_set_new(o, "description", json_string(d.data));
    buf_release(&d);
    return o;
}

/* The schema of one configuration, with an "aim" string first when aim. */
static json_t *config_schema(const struct space *s, bool aim, bool *strict_ok)
{
    json_t *props = json_object(), *required = json_array(), *all = json_array();
    json_t *o = json_object();
    if (!props || !required || !all || !o)
        goto out_fail;
    if (aim && !space_find(s, "aim", NULL)) {
        json_t *a = json_pack("{s:s, s:s}", "type", "string", "description",
                              "one short sentence: the trade-off between the objectives this "
                              "configuration aims at (which objective it favours, or which gap "
                              "in the current front it fills)");
        if (!a || json_object_set_new(props, "aim", a) < 0 ||
            json_array_append_new(required, json_string("aim")) < 0)
            goto out_fail;
    }
    bool conditional = false;
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        json_t *ps = param_schema(p);
        if (!ps || json_object_set_new(props, p->name, ps) < 0)
            goto out_fail;
        if (p->parent < 0 || !p->when_values) {
            json_array_append_new(required, json_string(p->name));
            continue;
        }
        conditional = true;
        const char *parent = s->params[p->parent].name;
        json_t *clause = json_pack("{s:{s:{s:{s:O}}, s:[s]}, s:{s:[s]}, s:{s:{s:[s]}}}", "if",
                                   "properties", parent, "enum", p->when_values, "required", parent,
                                   "then", "required", p->name, "else", "not", "required", p->name);
        if (!clause || json_array_append_new(all, clause) < 0)
            goto out_fail;
    }
    json_object_set_new(o, "type", json_string("object"));
    json_object_set_new(o, "properties", props);
    json_object_set_new(o, "required", required);
    json_object_set_new(o, "additionalProperties", json_false());
    if (json_array_size(all))
        json_object_set_new(o, "allOf", all);
    else
        json_decref(all);
    if (strict_ok)
        *strict_ok = !conditional;
    return o;

out_fail:
    json_decref(props);
    json_decref(required);
    json_decref(all);
    json_decref(o);
    return NULL;
}

json_t *llm_schema_build(const struct space *s, const struct llm_schema_opts *o, bool *strict_ok)
{
    size_t batch = o && o->batch > 1 ? o->batch : 1;
    bool reasoning = o && o->reasoning;
    json_t *cfg = config_schema(s, o && o->aim, strict_ok);
    if (!cfg)
        return NULL;
    json_t *reason = json_pack("{s:s, s:s}", "type", "string", "description",
                               "a short analysis of the results so far and of what to try next");
    if (batch == 1 && !reasoning) {
        json_decref(reason);
        return cfg;
    }
    if (batch == 1) {
        /* the reasoning joins the configuration's own properties, first */
        json_t *props = json_object();
        json_object_set(props, "reasoning", reason);
        json_object_update(props, json_object_get(cfg, "properties"));
        json_object_set_new(cfg, "properties", props);
        json_array_insert_new(json_object_get(cfg, "required"), 0, json_string("reasoning"));
        json_decref(reason);
        return cfg;
    }
    json_t *list = json_pack("{s:s, s:o, s:I, s:I}", "type", "array", "items", cfg, "minItems",
                             (json_int_t)batch, "maxItems", (json_int_t)batch);
    json_t *props = json_object(), *required = json_array();
    if (reasoning) {
        json_object_set(props, "reasoning", reason);
        json_array_append_new(required, json_string("reasoning"));
    }
    json_object_set_new(props, "configs", list);
    json_array_append_new(required, json_string("configs"));
    json_decref(reason);
    return json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props, "required",
                     required, "additionalProperties", 0);
}
