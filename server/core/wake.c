#include <config.h>
#include "wake.h"

#include <stddef.h>

#include "store.h"

static void (*registered)(uint64_t seq);

void wake_register(void (*waker)(uint64_t seq))
{
    registered = waker;
}

void wake_due(void)
{
    if (registered)
        registered(store_event_seq());
}
