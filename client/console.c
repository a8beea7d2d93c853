#include <config.h>
#include "console.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;
static bool console_live;
static bool progress_shown;
static char progress_text[256];

void console_init(bool live)
{
    console_live = live;
}

static void progress_erase(void)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = false;
    }
}

static void progress_draw(void)
{
    if (console_live && progress_text[0]) {
        fputs(progress_text, stderr);
        progress_shown = true;
    }
    fflush(stderr);
}

void console_line(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&console_lock);
    progress_erase();
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
    progress_draw();
    pthread_mutex_unlock(&console_lock);
    va_end(ap);
}

void console_progress(const char *text)
{
    pthread_mutex_lock(&console_lock);
    if (strcmp(text, progress_text) != 0 || !progress_shown) {
        snprintf(progress_text, sizeof progress_text, "%s", text);
        if (console_live) {
            progress_erase();
            progress_draw();
        }
    }
    pthread_mutex_unlock(&console_lock);
}

void console_done(void)
{
    pthread_mutex_lock(&console_lock);
    progress_erase();
    progress_text[0] = '\0';
    fflush(stderr);
    pthread_mutex_unlock(&console_lock);
}
