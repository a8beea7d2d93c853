#include <config.h>
#include "wake.h"

#include <stddef.h>

static void (*registered)(uint64_t seq);

void wake_register(void (*waker)(uint64_t seq))
{
    registered = waker;
}

void wake_due(uint64_t seq)
{
    if (registered)
        registered(seq);
}
