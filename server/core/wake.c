#include <config.h>
#include "wake.h"

#include <stddef.h>

static void (*registered)(long long study_id, int n);

void wake_register(void (*waker)(long long study_id, int n))
{
    registered = waker;
}

void wake_study(long long study_id, int n)
{
    if (registered)
        registered(study_id, n);
}
