#ifndef CONNS_H
#define CONNS_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The open HTTP connections and their deadlines. libmicrohttpd's own timeout
 * is an inactivity timer that every byte restarts, so that a client trickling
 * a byte now and then would hold a connection for ever; here each connection
 * has a deadline that traffic does not move, set as its request goes on:
 *
 *   opened                       header_timeout_s for the request line and headers
 *   request line (kept alive)    header_timeout_s again, from there
 *   headers in                   body_timeout_s for the body
 *   body in (being answered)     none: an answer, or a long-poll, takes its time
 *   answered                     idle_timeout_s for the next request line
 *
 * A sweeper thread shuts down the sockets past their deadline every 250 ms;
 * libmicrohttpd then reads an end of stream and closes them on its own
 * thread. The records also count the connections of each client address for
 * max_connections_per_address. The callbacks below are libmicrohttpd's;
 * conns_headers_in(), conns_answering() and conns_answered() are called by
 * http.c as a request moves. */

/* Set the timeouts (seconds) and the limit per address (0: none); before
 * the daemon starts. */
void conns_configure(unsigned header_s, unsigned body_s, unsigned idle_s, unsigned per_address);
/* Raise the soft limit on open files to the hard one, and return want, or
 * the connections that fit under the limit with room for the rest of the
 * daemon (logged). */
unsigned conns_fit(unsigned want);
/* MHD_AcceptPolicyCallback: refuse an address that holds its share. */
enum MHD_Result conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* MHD_NotifyConnectionCallback: make and drop the records. */
void conns_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                  enum MHD_ConnectionNotificationCode code);
/* MHD_OPTION_URI_LOG_CALLBACK: a request line came. Returns NULL. */
void *conns_uri(void *cls, const char *uri, struct MHD_Connection *mc);
/* The request's headers are in: its body is due. */
void conns_headers_in(struct MHD_Connection *mc);
/* The request is complete and being answered: no deadline. */
void conns_answering(struct MHD_Connection *mc);
/* The request was answered (or ended): the next one is due. */
void conns_answered(struct MHD_Connection *mc);
/* Start the sweeper; also(now) runs after each sweep (http.c resumes the
 * long-polls past their deadline there). 0 or -1. */
int conns_sweeper_start(void (*also)(int64_t now_mono_ms));
void conns_sweeper_stop(void);
/* Connections open now. */
size_t conns_open(void);

#endif
