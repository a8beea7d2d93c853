#include <config.h>
#include "worker_prep.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "jsonutil.h"
#include "sandbox.h"
#include "template.h"

extern char **environ;

void worker_prep_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static int mkdir_p(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    int rc = mkdir(copy, 0755) < 0 && errno != EEXIST ? -1 : 0;
    free(copy);
    return rc;
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    int rc = fclose(f);
    return n == len && rc == 0 ? 0 : -1;
}

static const json_t *spec_param(const json_t *params_spec, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(params_spec, i, p)
    {
        const char *n = json_str(p, "name", NULL);
        if (n && strcmp(n, name) == 0)
            return p;
    }
    return NULL;
}

const char *worker_prep_code_param(const json_t *params_spec, const json_t *params)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)params, key, value)
    {
        const json_t *p = spec_param(params_spec, key);
        if (p && strcmp(json_str(p, "type", ""), "code") == 0)
            return key;
    }
    return NULL;
}

char **worker_prep_cmd(char *const *words, int n_cmd)
{
    char **cmd = calloc((size_t)n_cmd + 1, sizeof *cmd);
    char cwd[PATH_MAX];
    if (!cmd || !getcwd(cwd, sizeof cwd)) {
        free(cmd);
        return NULL;
    }
    for (int i = 0; i < n_cmd; i++) {
        const char *a = words[i];
        struct stat st;
        bool file = a[0] != '/' && a[0] != '-' && !strchr(a, '{') && (i > 0 || strchr(a, '/')) &&
                    stat(a, &st) == 0 && S_ISREG(st.st_mode);
        struct buf b;
        buf_init(&b);
        if (file)
            buf_printf(&b, "%s/%s", cwd, a);
        else
            buf_puts(&b, a);
        cmd[i] = buf_steal(&b);
    }
    return cmd;
}

char *worker_prep_study_dir(const char *work_dir, const char *study, char *err, size_t errlen)
{
    if (mkdir_p(work_dir) < 0) {
        snprintf(err, errlen, "cannot make work directory \"%s\": %s", work_dir, strerror(errno));
        return NULL;
    }
    char *abs = realpath(work_dir, NULL);
    if (!abs) {
        snprintf(err, errlen, "cannot resolve \"%s\": %s", work_dir, strerror(errno));
        return NULL;
    }
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", abs, study);
    free(abs);
    char *dir = buf_steal(&b);
    if (dir && mkdir(dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make \"%s\": %s", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    return dir;
}

static char *make_trial_dir(const char *study_dir, long long number)
{
    struct buf b;
    buf_init(&b);
    for (int attempt = 1; attempt < 10000; attempt++) {
        buf_reset(&b);
        if (attempt == 1)
            buf_printf(&b, "%s/trial-%lld", study_dir, number);
        else
            buf_printf(&b, "%s/trial-%lld-%d", study_dir, number, attempt);
        if (mkdir(b.data, 0755) == 0)
            return buf_steal(&b);
        if (errno != EEXIST)
            break;
    }
    buf_release(&b);
    return NULL;
}

static int add_env(char ***env, size_t *n, const char *name, const char *value)
{
    char **grown = realloc(*env, (*n + 2) * sizeof *grown);
    if (!grown)
        return -1;
    *env = grown;
    struct buf b;
    buf_init(&b);
    if (buf_printf(&b, "%s=%s", name, value) < 0)
        return -1;
    (*env)[(*n)++] = buf_steal(&b);
    (*env)[*n] = NULL;
    return 0;
}

static bool env_overridden(const char *entry, const struct worker_prep_trial *t)
{
    /* untrusted code gets no credential of the worker */
    if (t->confined && strncmp(entry, "HPO_TOKEN=", 10) == 0)
        return true;
    static const char *const ours[] = {
        "HPO_SERVER",      "HPO_STUDY",     "HPO_TRIAL_ID", "HPO_TRIAL_NUMBER", "HPO_PARAMS",
        "HPO_PARAMS_FILE", "HPO_TRIAL_DIR", "HPO_WORKER",   "HPO_REPORT_FILE",  NULL};
    if (strncmp(entry, "HPO_PARAM_", 10) == 0)
        return true;
    if (t->gpu && strncmp(entry, "CUDA_VISIBLE_DEVICES=", 21) == 0)
        return true;
    for (int i = 0; ours[i]; i++) {
        size_t n = strlen(ours[i]);
        if (strncmp(entry, ours[i], n) == 0 && entry[n] == '=')
            return true;
    }
    return false;
}

int worker_prep_trial(const struct worker_prep *wp, const struct worker_prep_trial *t,
                      struct worker_prep_out *out, char *err, size_t errlen)
{
    out->dir = NULL;
    out->report_fd = -1;
    out->argv = NULL;
    out->env = NULL;
    int rc = -1;
    char **argv = NULL, **env = NULL;
    size_t n_env = 0;
    json_t *files = json_object(), *vars = NULL;
    struct buf path;
    buf_init(&path);
    char *params_text = json_dumps(t->params, JSON_COMPACT);
    out->dir = make_trial_dir(wp->study_dir, t->number);
    if (!out->dir || !files || !params_text) {
        snprintf(err, errlen, "cannot make a trial directory in \"%s\": %s", wp->study_dir,
                 strerror(errno));
        goto out;
    }
    /* params.json */
    buf_printf(&path, "%s/params.json", out->dir);
    if (json_dump_file(t->params, path.data, JSON_INDENT(2)) < 0) {
        snprintf(err, errlen, "cannot write \"%s\"", path.data);
        goto out;
    }
    char *params_file = buf_steal(&path);
    /* code parameters become files */
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)t->params, key, value)
    {
        const json_t *p = spec_param(wp->params_spec, key);
        if (!p || strcmp(json_str(p, "type", ""), "code") != 0 || !json_is_string(value))
            continue;
        char *fname = template_code_file_name(key, json_str(p, "language", NULL));
        buf_reset(&path);
        buf_printf(&path, "%s/%s", out->dir, fname);
        free(fname);
        if (write_file(path.data, json_string_value(value), json_string_length(value)) < 0) {
            snprintf(err, errlen, "cannot write \"%s\": %s", path.data, strerror(errno));
            free(params_file);
            goto out;
        }
        json_object_set_new(files, key, json_string(path.data));
    }
    vars = template_vars_new(wp->params_spec, t->params, files, params_file, out->dir);
    /* argv */
    argv = calloc((size_t)wp->n_cmd + 1, sizeof *argv);
    for (int i = 0; argv && i < wp->n_cmd; i++)
        argv[i] = template_expand(wp->cmd[i], vars);
    /* environment: ours replace inherited ones of the same name */
    for (char **e = environ; e && *e; e++) {
        if (env_overridden(*e, t))
            continue;
        char **grown = realloc(env, (n_env + 2) * sizeof *grown);
        if (!grown)
            break;
        env = grown;
        env[n_env++] = strdup(*e);
        env[n_env] = NULL;
    }
    char num[32];
    snprintf(num, sizeof num, "%lld", t->number);
    buf_reset(&path);
    buf_printf(&path, "%s/%s", out->dir, WORKER_REPORT_FILE);
    add_env(&env, &n_env, "HPO_SERVER", wp->server);
    add_env(&env, &n_env, "HPO_STUDY", wp->study);
    add_env(&env, &n_env, "HPO_TRIAL_ID", t->id);
    add_env(&env, &n_env, "HPO_TRIAL_NUMBER", num);
    add_env(&env, &n_env, "HPO_PARAMS", params_text);
    add_env(&env, &n_env, "HPO_PARAMS_FILE", params_file);
    add_env(&env, &n_env, "HPO_TRIAL_DIR", out->dir);
    add_env(&env, &n_env, "HPO_WORKER", t->worker_id);
    add_env(&env, &n_env, "HPO_REPORT_FILE", path.data);
    if (t->gpu)
        add_env(&env, &n_env, "CUDA_VISIBLE_DEVICES", t->gpu);
    json_object_foreach((json_t *)t->params, key, value)
    {
        char *name = template_env_name(key);
        const char *text = json_str(vars, key, "");
        if (name)
            add_env(&env, &n_env, name, text);
        free(name);
    }
    free(params_file);
    /* the report file, read as `hpo report` appends to it */
    int wfd = open(path.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (wfd >= 0)
        close(wfd);
    out->report_fd = open(path.data, O_RDONLY | O_CLOEXEC);
    if (!argv || !env || !vars) {
        snprintf(err, errlen, "out of memory preparing the command");
        goto out;
    }
    for (int i = 0; i < wp->n_cmd; i++) {
        if (!argv[i]) {
            snprintf(err, errlen, "out of memory preparing the command");
            goto out;
        }
    }
    if (t->use_bwrap) {
        char **wrapped = sandbox_command(wp->bwrap, out->dir, wp->ro_paths, argv);
        if (!wrapped) {
            snprintf(err, errlen, "out of memory preparing the command");
            goto out;
        }
        worker_prep_strv_free(argv);
        argv = wrapped;
    }
    out->argv = argv;
    out->env = env;
    argv = NULL;
    env = NULL;
    rc = 0;
out:
    worker_prep_strv_free(argv);
    worker_prep_strv_free(env);
    json_decref(files);
    json_decref(vars);
    free(params_text);
    buf_release(&path);
    return rc;
}

void worker_prep_out_release(struct worker_prep_out *out)
{
    worker_prep_strv_free(out->argv);
    worker_prep_strv_free(out->env);
    out->argv = NULL;
    out->env = NULL;
}
