#define _GNU_SOURCE
#include "timestamp.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

#define MAX_EPOCH 253402300799LL /* 9999-12-31T23:59:59Z */
#define MIN_EPOCH_YEAR0 (-62167219200LL) /* 0000-01-01T00:00:00Z */

/* "YYYY-MM-DD?HH:MM:SS[.f*](Z|+hh:mm)". strict is RFC 3339 as clients'
 * parsers (Go's time.RFC3339) take it: 'T' and 'Z' only, digits after a
 * '.', no leap second; otherwise also 't', ' ', 'z', a bare '.' and :60.
 * The time must lie within min and 9999-12-31T23:59:59Z. */
static int parse_rfc3339(const char *s, bool strict, long long min, long long *epoch_ret, strata_error *err)
{
	/* Fixed positions (sscanf would take one-digit fields, signs and
	 * spaces). */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t n = sizeof shape - 1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = shape[i] == 'd' ? isdigit((unsigned char)c) != 0
			  : shape[i] == 'T' ? (c == 'T' || (!strict && (c == 't' || c == ' ')))
					    : c == shape[i];
		if (!ok)
			return strata_error_set(err, 0, "'%s' is not an RFC 3339 time (e.g. 2024-01-31T12:00:00Z)", s);
	}
#define NUM2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
	int Y = NUM2(0) * 100 + NUM2(2), M = NUM2(5), D = NUM2(8), h = NUM2(11), mi = NUM2(14), sec = NUM2(17);
#undef NUM2
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 || mi > 59 ||
	    sec > (strict ? 59 : 60))
		return strata_error_set(err, 0, "'%s' is not a valid date and time", s);
	const char *p = s + n;
	if (*p == '.') { /* fractions are dropped: tar and config keep seconds */
		if (strict && !isdigit((unsigned char)p[1]))
			return strata_error_set(err, 0, "'%s' is not an RFC 3339 time", s);
		for (p++; isdigit((unsigned char)*p); p++) {
		}
	}
	long long off = 0;
	if (*p == 'Z' || (!strict && *p == 'z')) {
		p++;
	} else if (*p == '+' || *p == '-') {
		/* exactly [+-]hh:mm */
		const char *q = p + 1;
		if (!isdigit((unsigned char)q[0]) || !isdigit((unsigned char)q[1]) || q[2] != ':' ||
		    !isdigit((unsigned char)q[3]) || !isdigit((unsigned char)q[4]))
			return strata_error_set(err, 0, "'%s': bad time zone offset (want +hh:mm)", s);
		int oh = (q[0] - '0') * 10 + (q[1] - '0'), om = (q[3] - '0') * 10 + (q[4] - '0');
		if (oh > 23 || om > 59)
			return strata_error_set(err, 0, "'%s': bad time zone offset (want +hh:mm)", s);
		off = (oh * 3600LL + om * 60LL) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return strata_error_set(err, 0, "'%s' has no time zone (add Z or +hh:mm)", s);
	}
	if (*p != '\0')
		return strata_error_set(err, 0, "'%s' is not an RFC 3339 time", s);
	long long epoch = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600LL + mi * 60LL + sec - off;
	if (epoch < min || epoch > MAX_EPOCH)
		return strata_error_set(err, 0, "'%s' is out of range (%s to 9999-12-31T23:59:59Z)", s,
					min == 0 ? "1970-01-01T00:00:00Z" : "0000-01-01T00:00:00Z");
	*epoch_ret = epoch;
	return 0;
}

int strata_timestamp_parse(const char *s, long long *epoch_ret, strata_error *err)
{
	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		long long v = strtoll(s, NULL, 10);
		if (errno != 0 || v > MAX_EPOCH)
			return strata_error_set(err, 0, "time '%s' is out of range", s);
		*epoch_ret = v;
		return 0;
	}
	/* Clients parse four-digit years only (a leap second or an offset can
	 * carry 9999-12-31 into year 10000), and tar cannot hold times before
	 * the epoch. */
	return parse_rfc3339(s, false, 0, epoch_ret, err);
}

int strata_timestamp_parse_image(const char *s, long long *epoch_ret, strata_error *err)
{
	return parse_rfc3339(s, true, MIN_EPOCH_YEAR0, epoch_ret, err);
}

void strata_timestamp_format(long long epoch, char out[32])
{
	time_t t = (time_t)epoch;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void strata_timestamp_isoformat_utc(long long epoch, long usec, char out[STRATA_ISOFORMAT_MAX])
{
	time_t t = (time_t)epoch;
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, STRATA_ISOFORMAT_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	if (usec > 0)
		n += (size_t)snprintf(out + n, STRATA_ISOFORMAT_MAX - n, ".%06ld", usec);
	snprintf(out + n, STRATA_ISOFORMAT_MAX - n, "+00:00");
}

int strata_timestamp_isoformat(const char *s, char out[STRATA_ISOFORMAT_MAX], strata_error *err)
{
	long long epoch;
	if (strata_timestamp_parse(s, &epoch, err) < 0)
		return -1;
	if (strspn(s, "0123456789") == strlen(s)) {
		strata_timestamp_isoformat_utc(epoch, 0, out);
		return 0;
	}
	/* parse checked the shape: "YYYY-MM-DD?HH:MM:SS[.f*](Z|[+-]hh:mm)" */
	memcpy(out, s, 19);
	out[10] = 'T';
	size_t n = 19;
	const char *p = s + 19;
	if (*p == '.') {
		char us[7] = "000000";
		size_t k = 0;
		for (p++; isdigit((unsigned char)*p); p++)
			if (k < 6)
				us[k++] = *p;
		if (strcmp(us, "000000") != 0) {
			out[n++] = '.';
			memcpy(out + n, us, 6);
			n += 6;
		}
	}
	bool utc = *p == 'Z' || *p == 'z' || strncmp(p + 1, "00:00", 5) == 0;
	snprintf(out + n, STRATA_ISOFORMAT_MAX - n, "%s", utc ? "+00:00" : p);
	return 0;
}
