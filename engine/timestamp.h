/* strata_timestamp: the times of images and layers. Accepted: RFC 3339
 * ("2024-01-02T03:04:05Z", "+hh:mm" offsets; fractions dropped, as tar and
 * configs keep seconds) or a decimal epoch, within 1970-01-01T00:00:00Z and
 * 9999-12-31T23:59:59Z: clients parse four-digit years only and tar cannot
 * hold times before the epoch.
 *
 * Threads: reentrant. */
#ifndef STRATA_TIMESTAMP_H
#define STRATA_TIMESTAMP_H

#include "strata_error.h"

int strata_timestamp_parse(const char *s, long long *epoch_ret, strata_error *err);
/* "YYYY-MM-DDTHH:MM:SSZ" into out. */
void strata_timestamp_format(long long epoch, char out[32]);

#endif
