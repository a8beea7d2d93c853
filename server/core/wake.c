#include <config.h>
#include "wake.h"

#include <stddef.h>

static void (*registered)(long long key, int n);

void wake_register(void (*waker)(long long key, int n))
{
    registered = waker;
}

void wake_study(long long study_id, int n)
{
    if (registered)
        registered(wake_key_suggest(study_id), n);
}

void wake_importance(long long study_id)
{
    if (registered)
        registered(wake_key_importance(study_id), -1);
}
