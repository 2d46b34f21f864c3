/* SPDX-License-Identifier: Apache-2.0 */
#include "sealutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t su_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t su_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n decimal digits. */
static bool digits(const char **s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return false;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return true;
}

static int days_in_month(int y, int m) {
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

bool su_parse_time(const char *s, int64_t *out) {
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (s == NULL || !digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
        !digits(&s, 2, &d))
        return false;
    if (*s == 'T' || *s == 't') {
        s++;
        if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' ||
            !digits(&s, 2, &sec))
            return false;
        if (*s != 'Z' && *s != 'z')
            return false;
        s++;
    }
    if (*s != '\0')
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return false;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *out = (int64_t)t;
    return true;
}

void su_format_time(int64_t t, char *out) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        strcpy(out, "1970-01-01T00:00:00Z");
}

void su_format_time_ms(int64_t ms, char *out) {
    time_t tt = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];
    if (gmtime_r(&tt, &tm) == NULL || strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        strcpy(base, "1970-01-01T00:00:00");
    snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

/* Positive decimal integer followed by the rest of the string in *end. */
static bool number(const char *s, uint64_t max, uint64_t *v, const char **end) {
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *e;
    unsigned long long n = strtoull(s, &e, 10);
    if (errno != 0 || n == 0 || n > max)
        return false;
    *v = n;
    *end = e;
    return true;
}

bool su_parse_duration(const char *s, uint64_t *out) {
    uint64_t n, mult;
    const char *unit;
    if (s == NULL || !number(s, UINT32_MAX, &n, &unit))
        return false;
    if (strcmp(unit, "s") == 0)
        mult = 1;
    else if (strcmp(unit, "m") == 0)
        mult = 60;
    else if (strcmp(unit, "h") == 0)
        mult = 3600;
    else if (strcmp(unit, "d") == 0)
        mult = 86400;
    else
        return false;
    *out = n * mult;
    return true;
}

bool su_parse_rate(const char *s, uint32_t *count, uint32_t *period) {
    uint64_t n;
    const char *rest;
    if (s == NULL || !number(s, UINT32_MAX, &n, &rest) || *rest++ != '/')
        return false;
    static const struct {
        const char *name;
        uint32_t secs;
    } units[] = {{"sec", 1},     {"s", 1},    {"min", 60},    {"m", 60},
                 {"hour", 3600}, {"h", 3600}, {"day", 86400}, {"d", 86400}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(rest, units[i].name) == 0) {
            *count = (uint32_t)n;
            *period = units[i].secs;
            return true;
        }
    }
    return false;
}

void su_format_duration(uint64_t secs, char *out, size_t outlen) {
    if (secs % 86400 == 0)
        snprintf(out, outlen, "%llud", (unsigned long long)(secs / 86400));
    else if (secs % 3600 == 0)
        snprintf(out, outlen, "%lluh", (unsigned long long)(secs / 3600));
    else if (secs % 60 == 0)
        snprintf(out, outlen, "%llum", (unsigned long long)(secs / 60));
    else
        snprintf(out, outlen, "%llus", (unsigned long long)secs);
}

void su_format_rate(uint32_t count, uint32_t period, char *out, size_t outlen) {
    const char *unit = period == 86400  ? "day"
                       : period == 3600 ? "hour"
                       : period == 60   ? "min"
                                        : "sec";
    snprintf(out, outlen, "%u/%s", count, unit);
}
