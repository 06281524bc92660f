/* strata_push: an OCI image (layout directory, DIR:TAG, or oci-archive)
 * pushed to a registry (the protocol: registry.h).
 *
 * Every layer is pushed concurrently (o->jobs upload threads: HEAD, then
 * a mount or an upload when missing), then the config, then the manifest
 * by digest, then the tag.
 *
 * A session also takes blobs while an image is still being built: offer
 * each finished layer blob and it is pushed at once, while other layers
 * compress; finish then pushes what the finished image holds that was not
 * offered (blobs from a cache or a base image, the config), then the
 * manifest. strata_push is a session given nothing before finish.
 *
 * Ownership: the session borrows o (it must outlive the session).
 * Threads: offer from any thread (it only opens the file and queues it);
 * create, finish and free from one thread. The upload threads are the
 * session's own: network waits must not take the compression pool's
 * workers. */
#ifndef STRATA_PUSH_H
#define STRATA_PUSH_H

#include "strata.h"

typedef struct strata_push_session strata_push_session;

/* Resolves the destination and its credentials; starts the upload threads. */
int strata_push_session_create(const strata_push_options *o, strata_push_session **out, strata_error *err);
/* A finished blob: path is opened now (it may be renamed later); a blob of
 * the same digest is pushed once. A file that cannot be opened is left to
 * finish. */
void strata_push_session_offer(strata_push_session *s, const char *path, const char hex[65], uint64_t size);
/* Pushes the image at source (o->source is not used) and waits for every
 * upload. *summary_ret as strata_push's. */
int strata_push_session_finish(strata_push_session *s, const char *source, json_t **summary_ret, strata_error *err);
/* Stops the upload threads (what is still queued is dropped). Accepts NULL. */
void strata_push_session_free(strata_push_session *s);

/* --push on a build: a session started before the layers are made, fed
 * by the layer writer (strata_push_job_offer as its blob_done), and the
 * finished output pushed. Without an output of its own the build writes
 * into a temporary directory, removed by end. */
typedef struct strata_push_job {
	strata_push_session *session; /* NULL: no push */
	char *tmp_dir;
	const char *output; /* where the build writes: its own output, or in tmp_dir */
	char *tmp_output;
} strata_push_job;

/* po NULL: no push (output kept as given). */
int strata_push_job_start(const strata_push_options *po, const char *output, strata_push_job *j, strata_error *err);
/* The layer writer's blob_done: arg is the job. */
void strata_push_job_offer(void *arg, const char *path, const char digest[65], uint64_t size);
/* Ends the job of a build that returned r with summary (owned; may be
 * NULL after a failure): when r is 0, pushes j->output (one image) and
 * adds {push: ...} to summary (its "output" made null when it was
 * temporary); then stops the session and removes the temporary. Returns
 * the build's or the push's failure, else 0 with *summary_ret = summary. */
int strata_push_job_end(strata_push_job *j, int r, json_t *summary, json_t **summary_ret, strata_error *err);

#endif
