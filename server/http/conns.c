#include <config.h>
#include "conns.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "locks.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

/* One open connection (libmicrohttpd's socket context). */
struct conn {
    struct MHD_Connection *mc;   /* borrowed */
    int fd;                      /* its socket (open while the record is listed) */
    struct addr_count *addr;     /* its address's count, or NULL */
    _Atomic int64_t deadline_ms; /* monotonic ms when it is cut, 0 for none */
    bool served;                 /* a request of it was answered (its HTTP thread only) */
    struct conn *prev, *next;    /* list links */
};

/* The connections of one client address. */
struct addr_count {
    unsigned char key[17];   /* family, then the address (an IPv6 one cut to its /64) */
    unsigned n;              /* open connections from it */
    struct addr_count *next; /* hash chain */
};
#define ADDR_BUCKETS 1024

static struct lock conn_lock = LOCK_INITIALIZER(LOCK_HTTP_CONN);
static struct conn *conns;
static size_t n_conns;
static struct addr_count *addrs[ADDR_BUCKETS];
static int64_t header_ms = 10000, body_ms = 60000, idle_ms = 120000;
static unsigned per_address = 512;

/* The sweeper: sleeps on sweep_cond under conn_lock. */
#define SWEEP_MS 250
static pthread_cond_t sweep_cond;
static pthread_t sweep_thread;
static bool sweep_running;
static void (*sweep_also)(int64_t now);

void conns_configure(unsigned header_s, unsigned body_s, unsigned idle_s, unsigned per_addr)
{
    header_ms = 1000LL * header_s;
    body_ms = 1000LL * body_s;
    idle_ms = 1000LL * idle_s;
    per_address = per_addr;
}

static int64_t deadline_in(int64_t ms)
{
    return time_mono_ms() + ms;
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The counting key of an address: IPv4 whole (an IPv4-mapped IPv6 address
 * too), IPv6 by its /64, the block one host is given. */
static void addr_key(const struct sockaddr *sa, unsigned char key[17])
{
    memset(key, 0, 17);
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key[0] = 4;
            memcpy(key + 1, a->s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a->s6_addr, 8);
        }
    }
}

static struct addr_count **addr_bucket(const unsigned char key[17])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    return &addrs[h % ADDR_BUCKETS];
}

/* The count of key, made when absent and make is set (conn_lock held). */
static struct addr_count *addr_find(const unsigned char key[17], bool make)
{
    struct addr_count **head = addr_bucket(key);
    for (struct addr_count *a = *head; a; a = a->next)
        if (memcmp(a->key, key, 17) == 0)
            return a;
    if (!make)
        return NULL;
    struct addr_count *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    memcpy(a->key, key, 17);
    a->next = *head;
    *head = a;
    return a;
}

/* Drop an address that has no connection left (conn_lock held). */
static void addr_forget(struct addr_count *gone)
{
    for (struct addr_count **pa = addr_bucket(gone->key); *pa; pa = &(*pa)->next)
        if (*pa == gone) {
            *pa = gone->next;
            free(gone);
            return;
        }
}

enum MHD_Result conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)cls;
    (void)addrlen;
    if (per_address == 0)
        return MHD_YES;
    unsigned char key[17];
    addr_key(addr, key);
    lock_take(&conn_lock);
    struct addr_count *a = addr_find(key, false);
    bool full = a && a->n >= per_address;
    lock_drop(&conn_lock);
    if (!full)
        return MHD_YES;
    metrics_count("connections_refused", 1);
    return MHD_NO;
}

void conns_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                  enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
            return; /* not tracked: libmicrohttpd's own timeout alone */
        c->mc = mc;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        unsigned char key[17];
        addr_key(ci ? ci->client_addr : NULL, key);
        atomic_store(&c->deadline_ms, deadline_in(header_ms));
        lock_take(&conn_lock);
        c->addr = addr_find(key, true);
        if (c->addr)
            c->addr->n++;
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        n_conns++;
        lock_drop(&conn_lock);
        *socket_context = c;
        return;
    }
    struct conn *c = *socket_context;
    if (!c)
        return;
    /* libmicrohttpd closes the socket after this: c->fd is not cut again */
    lock_take(&conn_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n_conns--;
    if (c->addr && --c->addr->n == 0)
        addr_forget(c->addr);
    lock_drop(&conn_lock);
    free(c);
    *socket_context = NULL;
}

void *conns_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    (void)uri;
    struct conn *c = conn_of(mc);
    if (c && c->served)
        atomic_store(&c->deadline_ms, deadline_in(header_ms));
    return NULL;
}

/* Cut the connections past their deadline: shutdown() makes libmicrohttpd
 * read an end of stream and close it on its own thread. The list holds only
 * open sockets (a record leaves it before its socket is closed). */
static void cut_slow(int64_t now)
{
    int cut = 0;
    lock_take(&conn_lock);
    for (struct conn *c = conns; c; c = c->next) {
        int64_t d = atomic_load(&c->deadline_ms);
        if (d && now >= d && c->fd >= 0) {
            atomic_store(&c->deadline_ms, 0);
            shutdown(c->fd, SHUT_RDWR);
            cut++;
        }
    }
    lock_drop(&conn_lock);
    if (cut) {
        metrics_count("connections_cut", cut);
        log_debug("%d slow connection(s) cut: request not complete in time", cut);
    }
}

/* Room kept for the database, the log, the LLM calls: 256 descriptors. */
unsigned conns_fit(unsigned want)
{
    const rlim_t reserve = 256;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < want + reserve) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want + reserve) {
        unsigned fit = rl.rlim_cur > reserve + 16 ? (unsigned)(rl.rlim_cur - reserve) : 16;
        log_warn("open files limited to %llu: at most %u connections (max_connections = %u); "
                 "raise the limit (ulimit -n, LimitNOFILE=) for more",
                 (unsigned long long)rl.rlim_cur, fit, want);
        return fit;
    }
    return want;
}

void conns_headers_in(struct MHD_Connection *mc)
{
    struct conn *c = conn_of(mc);
    if (c)
        atomic_store(&c->deadline_ms, deadline_in(body_ms));
}

void conns_answering(struct MHD_Connection *mc)
{
    struct conn *c = conn_of(mc);
    if (c)
        atomic_store(&c->deadline_ms, 0);
}

void conns_answered(struct MHD_Connection *mc)
{
    struct conn *c = conn_of(mc);
    if (c) {
        c->served = true;
        atomic_store(&c->deadline_ms, deadline_in(idle_ms));
    }
}

size_t conns_open(void)
{
    lock_take(&conn_lock);
    size_t n = n_conns;
    lock_drop(&conn_lock);
    return n;
}

static void *sweeper(void *arg)
{
    (void)arg;
    lock_take(&conn_lock);
    while (sweep_running) {
        lock_drop(&conn_lock);
        int64_t now = time_mono_ms();
        cut_slow(now);
        if (sweep_also)
            sweep_also(now);
        lock_take(&conn_lock);
        if (!sweep_running)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += SWEEP_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        lock_wait_until(&sweep_cond, &conn_lock, &ts);
    }
    lock_drop(&conn_lock);
    return NULL;
}

int conns_sweeper_start(void (*also)(int64_t now_mono_ms))
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sweep_cond, &ca);
    pthread_condattr_destroy(&ca);
    sweep_also = also;
    sweep_running = true;
    if (pthread_create(&sweep_thread, NULL, sweeper, NULL) != 0) {
        sweep_running = false;
        return -1;
    }
    return 0;
}

void conns_sweeper_stop(void)
{
    lock_take(&conn_lock);
    bool was = sweep_running;
    sweep_running = false;
    pthread_cond_signal(&sweep_cond);
    lock_drop(&conn_lock);
    if (was)
        pthread_join(sweep_thread, NULL);
}
