#include <config.h>
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"

/* The options that make the sandbox, before the per-trial binds. */
static const char *const base_args[] = {"--ro-bind",
                                        "/",
                                        "/",
                                        "--dev",
                                        "/dev",
                                        "--tmpfs",
                                        "/dev/shm",
                                        "--proc",
                                        "/proc",
                                        "--tmpfs",
                                        "/tmp",
                                        "--unshare-net",
                                        "--unshare-pid",
                                        "--unshare-ipc",
                                        "--unshare-uts",
                                        "--unshare-cgroup-try",
                                        "--die-with-parent",
                                        "--cap-drop",
                                        "ALL",
                                        NULL};

char *sandbox_find_bwrap(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *found = NULL, *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        if (*dir != '/')
            continue;
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "%s/bwrap", dir);
        struct stat st;
        if (b.data && stat(b.data, &st) == 0 && S_ISREG(st.st_mode) && access(b.data, X_OK) == 0)
            found = buf_steal(&b);
        else
            buf_release(&b);
    }
    free(copy);
    return found;
}

static int push(char ***v, size_t *n, const char *s)
{
    char **grown = realloc(*v, (*n + 2) * sizeof *grown);
    if (!grown)
        return -1;
    *v = grown;
    grown[*n] = strdup(s);
    if (!grown[*n])
        return -1;
    (*n)++;
    grown[*n] = NULL;
    return 0;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

char **sandbox_command(const char *bwrap, const char *dir, char *const ro[], char *const argv[])
{
    char **v = NULL;
    size_t n = 0;
    int rc = push(&v, &n, bwrap);
    for (size_t i = 0; rc == 0 && base_args[i]; i++)
        rc = push(&v, &n, base_args[i]);
    for (size_t i = 0; rc == 0 && ro && ro[i]; i++) {
        rc = push(&v, &n, "--ro-bind");
        if (rc == 0)
            rc = push(&v, &n, ro[i]);
        if (rc == 0)
            rc = push(&v, &n, ro[i]);
    }
    if (dir) {
        const char *bind[] = {"--bind", dir, dir, "--chdir", dir, NULL};
        for (size_t i = 0; rc == 0 && bind[i]; i++)
            rc = push(&v, &n, bind[i]);
    }
    if (rc == 0)
        rc = push(&v, &n, "--");
    for (size_t i = 0; rc == 0 && argv[i]; i++)
        rc = push(&v, &n, argv[i]);
    if (rc < 0) {
        free_strv(v);
        return NULL;
    }
    return v;
}

int sandbox_probe(const char *bwrap, char *err, size_t errlen)
{
    char *const cmd[] = {"true", NULL};
    char **argv = sandbox_command(bwrap, NULL, NULL, cmd);
    int pipefd[2] = {-1, -1};
    if (!argv || pipe(pipefd) < 0) {
        snprintf(err, errlen, "cannot run \"%s\": %s", bwrap, strerror(errno));
        free_strv(argv);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        free_strv(argv);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        execv(argv[0], argv);
        dprintf(2, "cannot run \"%s\": %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    struct buf out;
    buf_init(&out);
    char chunk[512];
    ssize_t got;
    while ((got = read(pipefd[0], chunk, sizeof chunk)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        if (out.len < 2048)
            buf_append(&out, chunk, (size_t)got);
    }
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    free_strv(argv);
    int rc = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        while (out.len > 0 && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == ' '))
            out.data[--out.len] = '\0';
        if (out.len)
            snprintf(err, errlen, "%s", out.data);
        else
            snprintf(err, errlen, "bwrap failed with wait status %d", status);
        rc = -1;
    }
    buf_release(&out);
    return rc;
}

unsigned long sandbox_user_tasks(void)
{
    uid_t uid = getuid();
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    unsigned long n = 0;
    struct dirent *e;
    while ((e = readdir(proc))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300];
        struct stat st;
        snprintf(path, sizeof path, "/proc/%s", e->d_name);
        if (stat(path, &st) < 0 || st.st_uid != uid)
            continue;
        snprintf(path, sizeof path, "/proc/%s/task", e->d_name);
        DIR *tasks = opendir(path);
        if (!tasks) {
            n++;
            continue;
        }
        struct dirent *t;
        while ((t = readdir(tasks)))
            if (t->d_name[0] >= '0' && t->d_name[0] <= '9')
                n++;
        closedir(tasks);
    }
    closedir(proc);
    return n;
}

bool sandbox_hidden_path(const char *path)
{
    static const char *const hidden[] = {"/tmp", "/dev/shm", NULL};
    for (size_t i = 0; hidden[i]; i++) {
        size_t n = strlen(hidden[i]);
        if (strncmp(path, hidden[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
            return true;
    }
    return false;
}
