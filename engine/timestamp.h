/* strata_timestamp: the times of images and layers. Accepted: RFC 3339
 * ("2024-01-02T03:04:05Z", "+hh:mm" offsets; fractions dropped, as tar and
 * configs keep seconds) or a decimal epoch, within 1970-01-01T00:00:00Z and
 * 9999-12-31T23:59:59Z: clients parse four-digit years only and tar cannot
 * hold times before the epoch. Those are the times strata sets; a time read
 * from an image's config is checked by strata_timestamp_parse_image.
 *
 * Threads: reentrant. */
#ifndef STRATA_TIMESTAMP_H
#define STRATA_TIMESTAMP_H

#include "strata_error.h"

int strata_timestamp_parse(const char *s, long long *epoch_ret, strata_error *err);
/* A time in an image config or its history, as clients read it (Go's
 * time.RFC3339): "YYYY-MM-DDTHH:MM:SS[.digits](Z|+hh:mm)", no epoch form,
 * no leap second, and any four-digit year: times before 1970 are valid
 * there (Go's zero time, 0001-01-01T00:00:00Z, is what images made by
 * go-containerregistry carry). *epoch_ret may be negative. */
int strata_timestamp_parse_image(const char *s, long long *epoch_ret, strata_error *err);
/* "YYYY-MM-DDTHH:MM:SSZ" into out. */
void strata_timestamp_format(long long epoch, char out[32]);

/* Python's datetime.isoformat() of datetime.fromisoformat(s), the form of
 * "created" in nixpkgs' Docker image configs: s as parse accepts it, with
 * 'T' between date and time, the fraction cut or padded to 6 digits (left
 * out when zero), "Z" and "-00:00" as "+00:00", an offset as "+hh:mm"; a
 * decimal epoch as that time in UTC. */
#define STRATA_ISOFORMAT_MAX 40
int strata_timestamp_isoformat(const char *s, char out[STRATA_ISOFORMAT_MAX], strata_error *err);
/* The same for a UTC time (now, SOURCE_DATE_EPOCH). */
void strata_timestamp_isoformat_utc(long long epoch, long usec, char out[STRATA_ISOFORMAT_MAX]);

#endif
