#ifndef HEARTBEATS_H
#define HEARTBEATS_H

#include <stdint.h>

/* Lease extensions from heartbeats, kept in memory. A heartbeat is the most
 * frequent request of a long study and changes nothing but a deadline, so it
 * writes nothing to the database: the deadline lives here, the reaper asks
 * here before it expires a lease the database thinks is over, and answers
 * that show a lease take the later of the two. A restart loses these
 * deadlines; the daemon then gives every running trial a full lease from
 * the moment it starts (store_lease_grace()). Thread-safe. */

/* Trial id's lease now runs until expires_ms (kept if later than the one held). */
void heartbeats_extend(long long id, int64_t expires_ms);
/* The deadline held for trial id, 0 when none. */
int64_t heartbeats_deadline(long long id);
/* Drop trial id (finished, reaped or leased anew). */
void heartbeats_forget(long long id);
/* Drop every deadline before now_ms; the number dropped. */
long heartbeats_prune(int64_t now_ms);
/* Free everything (at exit). */
void heartbeats_clear(void);

#endif
