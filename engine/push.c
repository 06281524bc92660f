#define _GNU_SOURCE
#include "push.h"
#include "alloc.h"
#include "file.h"
#include "fs_tree.h"
#include "json_check.h"
#include "registry.h"
#include "sha256.h"
#include "tar_index.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------- the image to push ---------- */

typedef struct blob {
	strata_registry_blob rb; /* fd: a file, or the archive */
	const char *kind;        /* "layer", "config" */
	bool own_fd;
	const char *action; /* exists, mounted, uploaded; NULL until pushed */
	struct blob *same;  /* the blob of this digest pushed for it */
	bool offered;       /* given while the image was built */
} blob;

typedef struct image {
	int blobs_fd; /* a layout's blobs/sha256, or -1 */
	int archive_fd;
	strata_tar_index *index;
	char *manifest; /* raw bytes */
	size_t manifest_len;
	char manifest_hex[65];
	char *manifest_type;
	blob *blobs; /* layers, then the config */
	size_t nblobs;
} image;

static void image_fini(image *im)
{
	for (size_t i = 0; i < im->nblobs; i++)
		if (im->blobs[i].own_fd)
			close(im->blobs[i].rb.fd);
	free(im->blobs);
	free(im->manifest);
	free(im->manifest_type);
	strata_tar_index_free(im->index);
	if (im->blobs_fd >= 0)
		close(im->blobs_fd);
	if (im->archive_fd >= 0)
		close(im->archive_fd);
}

/* A blob's bytes: fd, offset, size. */
static int locate(image *im, const char *hex, int *fd, uint64_t *off, uint64_t *size, strata_error *err)
{
	if (im->index) {
		cleanup_free char *name = strata_xasprintf("blobs/sha256/%s", hex);
		const strata_tar_member *m = strata_tar_index_find(im->index, name);
		if (m == NULL || !strata_tar_index_is_file(m))
			return strata_error_set(err, 0, "blob sha256:%s is not in the archive", hex);
		*fd = im->archive_fd;
		*off = m->data_offset;
		*size = m->h.size;
		return 0;
	}
	struct stat st;
	*fd = strata_file_open_regular(im->blobs_fd, hex, STRATA_FILE_NOFOLLOW, "blob", &st, err);
	*off = 0;
	*size = (uint64_t)st.st_size;
	return *fd < 0 ? -1 : 0;
}

static int read_blob(image *im, const char *hex, char **buf_ret, size_t *len_ret, strata_error *err)
{
	int fd;
	uint64_t off, size;
	if (locate(im, hex, &fd, &off, &size, err) < 0)
		return -1;
	int r = 0;
	char *buf = NULL;
	if (size > STRATA_FILE_MAX_JSON)
		r = strata_error_set(err, 0, "blob sha256:%s is too large for JSON", hex);
	else
		buf = strata_xmalloc(size + 1);
	for (uint64_t got = 0; r == 0 && got < size;) {
		ssize_t k = pread(fd, buf + got, size - got, (off_t)(off + got));
		if (k <= 0 && !(k < 0 && errno == EINTR))
			r = strata_error_set(err, k < 0 ? errno : 0, "cannot read blob sha256:%s", hex);
		got += k > 0 ? (uint64_t)k : 0;
	}
	if (fd != im->archive_fd)
		close(fd);
	char got[65];
	if (r == 0) {
		strata_sha256_hex(buf, size, got);
		if (strcmp(got, hex) != 0)
			r = strata_error_set(err, 0, "blob sha256:%s does not match its digest", hex);
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[size] = '\0';
	*buf_ret = buf;
	*len_ret = size;
	return 0;
}

static int digest_of(json_t *desc, char hex[65])
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	if (d == NULL || !strata_json_check_is_sha256(d))
		return -1;
	memcpy(hex, d + 7, 65);
	return 0;
}

/* SRC: DIR, DIR:TAG, or an oci-archive (FILE, FILE:TAG). */
static int image_open(const char *src, image *im, strata_error *err)
{
	memset(im, 0, sizeof *im);
	im->blobs_fd = im->archive_fd = -1;
	cleanup_free char *path = strata_xstrdup(src);
	char *tag = NULL;
	struct stat st;
	if (stat(path, &st) < 0) {
		char *colon = strrchr(path, ':');
		if (colon && !strchr(colon, '/')) {
			*colon = '\0';
			tag = colon + 1;
		}
		if (stat(path, &st) < 0)
			return strata_error_set(err, errno, "cannot open '%s'", src);
	}
	cleanup_free char *index_text = NULL;
	size_t index_len = 0;
	int r;
	if (S_ISDIR(st.st_mode)) {
		cleanup_close int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cleanup_close int b = dfd < 0 ? -1 : openat(dfd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		im->blobs_fd = b < 0 ? -1 : openat(b, "sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (im->blobs_fd < 0)
			return strata_error_set(err, 0, "'%s' is not an OCI image layout (no blobs/sha256)", path);
		r = strata_file_read_all(dfd, "index.json", STRATA_FILE_NOFOLLOW, STRATA_FILE_MAX_JSON, "index.json",
					 &index_text, &index_len, err);
	} else {
		im->archive_fd = strata_file_open_regular(AT_FDCWD, path, 0, "oci-archive", NULL, err);
		if (im->archive_fd < 0)
			return -1;
		cleanup_free char *what = strata_xasprintf("oci-archive %s", path);
		if ((r = strata_tar_index_read(im->archive_fd, what, NULL, &im->index, err)) < 0)
			return r;
		const strata_tar_member *m = strata_tar_index_find(im->index, "index.json");
		if (m == NULL || m->h.size > STRATA_FILE_MAX_JSON)
			return strata_error_set(err, 0, "'%s' is not an oci-archive (no index.json)", path);
		index_text = strata_xmalloc(m->h.size + 1);
		index_len = m->h.size;
		if (pread(im->archive_fd, index_text, index_len, (off_t)m->data_offset) != (ssize_t)index_len)
			return strata_error_set(err, errno, "cannot read '%s'", path);
	}
	if (r < 0)
		return r;
	cleanup_json json_t *index = json_loadb(index_text, index_len, 0, NULL);
	json_t *mans = json_object_get(index, "manifests"), *pick = NULL, *d;
	size_t i;
	json_array_foreach(mans, i, d) {
		const char *ref = json_string_value(
			json_object_get(json_object_get(d, "annotations"), "org.opencontainers.image.ref.name"));
		if (tag == NULL ? json_array_size(mans) == 1 : (ref && strcmp(ref, tag) == 0))
			pick = d;
	}
	if (pick == NULL)
		return strata_error_set(err, 0, "%s: %s", src,
					tag ? "no image of that tag in it" : "it holds several images: name one as SRC:TAG");
	if (digest_of(pick, im->manifest_hex) < 0)
		return strata_error_set(err, 0, "%s: its index has an invalid manifest descriptor", src);
	if ((r = read_blob(im, im->manifest_hex, &im->manifest, &im->manifest_len, err)) < 0)
		return r;
	cleanup_json json_t *man = json_loadb(im->manifest, im->manifest_len, 0, NULL);
	const char *mt = json_string_value(json_object_get(man, "mediaType"));
	im->manifest_type = strata_xstrdup(mt ? mt : "application/vnd.oci.image.manifest.v1+json");
	json_t *layers = json_object_get(man, "layers"), *config = json_object_get(man, "config");
	if (!json_is_array(layers) || !json_is_object(config))
		return strata_error_set(err, 0, "%s: the manifest has no layers or config", src);
	im->blobs = strata_xcalloc(json_array_size(layers) + 1, sizeof *im->blobs);
	for (i = 0; i <= json_array_size(layers); i++) {
		json_t *desc = i < json_array_size(layers) ? json_array_get(layers, i) : config;
		blob *b = &im->blobs[im->nblobs++];
		b->rb.fd = -1;
		b->kind = desc == config ? "config" : "layer";
		if (digest_of(desc, b->rb.hex) < 0)
			return strata_error_set(err, 0, "%s: an invalid descriptor in the manifest", src);
		uint64_t size = 0;
		if ((r = locate(im, b->rb.hex, &b->rb.fd, &b->rb.off, &size, err)) < 0)
			return r;
		b->own_fd = b->rb.fd != im->archive_fd;
		json_t *ds = json_object_get(desc, "size");
		if (!json_is_integer(ds) || (uint64_t)json_integer_value(ds) != size)
			return strata_error_set(err, 0, "%s: blob sha256:%s has %llu bytes, its descriptor says otherwise", src,
						b->rb.hex, (unsigned long long)size);
		b->rb.size = size;
	}
	return 0;
}

/* ---------- the session ---------- */

struct strata_push_session {
	const strata_push_options *o;
	strata_registry *reg;
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	blob **queue; /* to push, [head, tail) */
	size_t head, tail, cap;
	blob **offered; /* blobs offered during a build, owned */
	size_t noffered, offered_cap;
	blob **table; /* every blob queued, by digest (open addressing) */
	size_t table_cap, table_n;
	size_t busy, done, total;
	uint64_t sent;
	bool stop, failed;
	strata_error err; /* the first failure */
	pthread_t *threads;
	int nthreads;
};

static size_t slot_of(const strata_push_session *s, const char *hex)
{
	uint64_t h = 0;
	for (int i = 0; i < 16; i++)
		h = h << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
	return (size_t)h & (s->table_cap - 1);
}

static blob *table_find(const strata_push_session *s, const char *hex)
{
	if (s->table_cap == 0)
		return NULL;
	for (size_t i = slot_of(s, hex);; i = (i + 1) & (s->table_cap - 1)) {
		if (s->table[i] == NULL)
			return NULL;
		if (!strcmp(s->table[i]->rb.hex, hex))
			return s->table[i];
	}
}

static void table_add(strata_push_session *s, blob *b)
{
	if (2 * (s->table_n + 1) > s->table_cap) {
		blob **old = s->table;
		size_t old_cap = s->table_cap;
		s->table_cap = old_cap ? 2 * old_cap : 64;
		s->table = strata_xcalloc(s->table_cap, sizeof *s->table);
		s->table_n = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i])
				table_add(s, old[i]);
		free(old);
	}
	size_t i = slot_of(s, b->rb.hex);
	while (s->table[i])
		i = (i + 1) & (s->table_cap - 1);
	s->table[i] = b;
	s->table_n++;
}

/* With the lock held: b will be pushed. */
static void enqueue(strata_push_session *s, blob *b)
{
	table_add(s, b);
	if (s->tail == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->queue = strata_xrealloc(s->queue, s->cap * sizeof *s->queue);
	}
	s->queue[s->tail++] = b;
	s->total++;
	pthread_cond_signal(&s->work);
}

static void report(strata_push_session *s)
{
	if (s->o->progress == NULL)
		return;
	strata_progress p = {.bytes_done = s->sent, .layers_done = s->done, .layers_total = s->total};
	s->o->progress(s->o->progress_arg, &p);
}

static void *worker(void *arg)
{
	strata_push_session *s = arg;
	strata_registry_conn *c = strata_registry_conn_create(s->reg);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->head == s->tail && !s->stop)
			pthread_cond_wait(&s->work, &s->lock);
		if (s->head == s->tail)
			break;
		blob *b = s->queue[s->head++];
		bool skip = s->failed;
		s->busy++;
		pthread_mutex_unlock(&s->lock);
		strata_error e = STRATA_ERROR_INIT;
		int r = skip ? 0 : strata_registry_push_blob(c, &b->rb, &b->action, &e);
		pthread_mutex_lock(&s->lock);
		s->busy--;
		if (r < 0 && !s->failed) {
			s->failed = true;
			strata_error_move(&s->err, &e);
		}
		strata_error_clear(&e);
		if (r == 0 && b->action && !strcmp(b->action, "uploaded"))
			s->sent += b->rb.size;
		s->done += !skip;
		report(s);
		pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->lock);
	strata_registry_conn_free(c);
	return NULL;
}

int strata_push_session_create(const strata_push_options *o, strata_push_session **out, strata_error *err)
{
	strata_push_session *s = strata_xcalloc(1, sizeof *s);
	s->o = o;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	int r = strata_registry_open(o, &s->reg, err);
	int jobs = o->jobs > 0 ? o->jobs : 4;
	if (r == 0)
		s->threads = strata_xcalloc((size_t)jobs, sizeof *s->threads);
	for (; r == 0 && s->nthreads < jobs; s->nthreads++)
		if (pthread_create(&s->threads[s->nthreads], NULL, worker, s) != 0)
			break;
	if (r == 0 && s->nthreads == 0)
		r = strata_error_set(err, 0, "cannot start upload threads");
	if (r < 0) {
		strata_push_session_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void strata_push_session_offer(strata_push_session *s, const char *path, const char hex[65], uint64_t size)
{
	pthread_mutex_lock(&s->lock);
	bool known = table_find(s, hex) != NULL || s->failed;
	pthread_mutex_unlock(&s->lock);
	/* A blob that cannot be opened now is pushed from the finished image. */
	int fd = known ? -1 : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	blob *b = strata_xcalloc(1, sizeof *b);
	b->rb.fd = fd;
	b->rb.size = size;
	memcpy(b->rb.hex, hex, 65);
	b->own_fd = true;
	b->offered = true;
	/* The layer writer hashed these bytes as it wrote them; the registry
	 * checks the digest of what it receives. */
	b->rb.hashed = true;
	b->kind = "layer";
	pthread_mutex_lock(&s->lock);
	if (s->noffered == s->offered_cap) {
		s->offered_cap = s->offered_cap ? 2 * s->offered_cap : 64;
		s->offered = strata_xrealloc(s->offered, s->offered_cap * sizeof *s->offered);
	}
	s->offered[s->noffered++] = b;
	if (table_find(s, hex) == NULL)
		enqueue(s, b);
	pthread_mutex_unlock(&s->lock);
}

/* Until every queued blob is pushed (or skipped after a failure). */
static int drain(strata_push_session *s, strata_error *err)
{
	pthread_mutex_lock(&s->lock);
	while (s->head != s->tail || s->busy > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	int r = 0;
	if (s->failed) {
		strata_error_move(err, &s->err);
		r = -1;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static json_t *summary(strata_push_session *s, const image *im)
{
	json_t *j = json_object(), *blobs = json_array();
	json_object_set_new(j, "destination", json_string(s->o->dest));
	json_object_set_new(j, "repository", json_string(strata_registry_repo(s->reg)));
	json_object_set_new(j, "manifest", json_sprintf("sha256:%s", im->manifest_hex));
	json_object_set_new(j, "credentials", json_string(strata_registry_credentials(s->reg)));
	size_t counts[3] = {0}, early = 0;
	static const char *const actions[] = {"exists", "mounted", "uploaded"};
	for (size_t i = 0; i < im->nblobs; i++) {
		const blob *b = &im->blobs[i];
		early += b->same && b->same->offered;
		const char *action = b->same ? b->same->action : b->action;
		json_t *e = json_pack("{s:s, s:s, s:I, s:s}", "digest", "", "kind", b->kind, "size", (json_int_t)b->rb.size,
				      "action", action ? action : "none");
		json_object_set_new(e, "digest", json_sprintf("sha256:%s", b->rb.hex));
		json_array_append_new(blobs, e);
		for (size_t k = 0; k < 3; k++)
			counts[k] += action && !strcmp(action, actions[k]);
	}
	json_object_set_new(j, "blobs", blobs);
	for (size_t k = 0; k < 3; k++)
		json_object_set_new(j, actions[k], json_integer((json_int_t)counts[k]));
	json_object_set_new(j, "bytes_sent", json_integer((json_int_t)s->sent));
	json_object_set_new(j, "pushed_while_building", json_integer((json_int_t)early));
	return j;
}

int strata_push_session_finish(strata_push_session *s, const char *source, json_t **summary_ret, strata_error *err)
{
	image im;
	int r = image_open(source, &im, err);
	strata_registry_conn *c = r == 0 ? strata_registry_conn_create(s->reg) : NULL;
	cleanup_free char *by_digest = r == 0 ? strata_xasprintf("sha256:%s", im.manifest_hex) : NULL;
	/* A repository that holds the manifest holds every blob it names (a
	 * registry refuses a manifest whose blobs it lacks): a re-push is one
	 * HEAD, and the tag. */
	char held[65];
	int have = r == 0 ? strata_registry_manifest_digest(c, by_digest, held, err) : 0;
	if (have < 0)
		r = -1;
	bool present = have == 1 && strcmp(held, im.manifest_hex) == 0;
	if (r == 0) {
		/* Layers first, concurrently; those pushed during the build are
		 * not pushed again. The config goes last: a registry that holds
		 * it may be taken to hold the image's layers. */
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i + 1 < im.nblobs; i++) {
			blob *b = &im.blobs[i];
			if ((b->same = table_find(s, b->rb.hex)) == NULL) {
				if (present)
					b->action = "exists";
				else
					enqueue(s, b);
			}
		}
		s->total++; /* the config */
		pthread_mutex_unlock(&s->lock);
		r = drain(s, err);
	}
	blob *cfg = r == 0 ? &im.blobs[im.nblobs - 1] : NULL;
	if (r == 0 && present)
		cfg->action = "exists";
	else if (r == 0)
		r = strata_registry_push_blob(c, &cfg->rb, &cfg->action, err);
	if (r == 0) {
		pthread_mutex_lock(&s->lock);
		s->sent += !strcmp(cfg->action, "uploaded") ? cfg->rb.size : 0;
		s->done++;
		report(s);
		pthread_mutex_unlock(&s->lock);
	}
	if (r == 0 && !present)
		r = strata_registry_put_manifest(c, by_digest, im.manifest_type, im.manifest, im.manifest_len, im.manifest_hex,
						 err);
	const char *tag = strata_registry_tag(s->reg);
	if (r == 0 && tag && ((have = strata_registry_manifest_digest(c, tag, held, err)) < 0))
		r = -1;
	if (r == 0 && tag && !(have == 1 && strcmp(held, im.manifest_hex) == 0))
		r = strata_registry_put_manifest(c, tag, im.manifest_type, im.manifest, im.manifest_len, im.manifest_hex, err);
	strata_registry_conn_free(c);
	if (r == 0)
		*summary_ret = summary(s, &im);
	else
		strata_error_wrap(err, "push %s", s->o->dest);
	/* The image's blobs leave with it: none may stay queued. */
	strata_error ignored = STRATA_ERROR_INIT;
	drain(s, &ignored);
	strata_error_clear(&ignored);
	image_fini(&im);
	return r;
}

void strata_push_session_free(strata_push_session *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	s->failed = true; /* what is still queued is skipped */
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	for (size_t i = 0; i < s->noffered; i++) {
		close(s->offered[i]->rb.fd);
		free(s->offered[i]);
	}
	strata_registry_free(s->reg);
	strata_error_clear(&s->err);
	free(s->offered);
	free(s->queue);
	free(s->table);
	free(s->threads);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	free(s);
}

int strata_push(const strata_push_options *o, json_t **summary_ret, strata_error *err)
{
	strata_push_session *s = NULL;
	int r = strata_push_session_create(o, &s, err);
	if (r < 0)
		strata_error_wrap(err, "push %s", o->dest);
	else
		r = strata_push_session_finish(s, o->source, summary_ret, err);
	strata_push_session_free(s);
	return r;
}

/* ---------- --push on a build ---------- */

int strata_push_job_start(const strata_push_options *po, const char *output, strata_push_job *j, strata_error *err)
{
	memset(j, 0, sizeof *j);
	j->output = output;
	if (po == NULL)
		return 0;
	if (strata_push_session_create(po, &j->session, err) < 0)
		return strata_error_wrap(err, "push %s", po->dest);
	if (output == NULL) {
		const char *tmp = getenv("TMPDIR");
		j->tmp_dir = strata_xasprintf("%s/strata-push-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (mkdtemp(j->tmp_dir) == NULL) {
			int e = errno;
			free(j->tmp_dir);
			j->tmp_dir = NULL;
			return strata_error_set(err, e, "cannot make a temporary directory for the image");
		}
		j->tmp_output = strata_xasprintf("%s/image", j->tmp_dir);
		j->output = j->tmp_output;
	}
	return 0;
}

void strata_push_job_offer(void *arg, const char *path, const char digest[65], uint64_t size)
{
	strata_push_job *j = arg;
	strata_push_session_offer(j->session, path, digest, size);
}

int strata_push_job_end(strata_push_job *j, int r, json_t *summary, json_t **summary_ret, strata_error *err)
{
	json_t *pushed = NULL;
	if (r == 0 && j->session && (r = strata_push_session_finish(j->session, j->output, &pushed, err)) == 0) {
		json_object_set_new(summary, "push", pushed);
		if (j->tmp_dir)
			json_object_set_new(summary, "output", json_null());
	}
	if (r == 0)
		*summary_ret = summary;
	else
		json_decref(summary);
	strata_push_session_free(j->session);
	if (j->tmp_dir)
		strata_fs_remove_tree(j->tmp_dir);
	free(j->tmp_dir);
	free(j->tmp_output);
	memset(j, 0, sizeof *j);
	return r;
}
