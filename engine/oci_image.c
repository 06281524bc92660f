#define _GNU_SOURCE
#include "oci_image.h"
#include "alloc.h"
#include "timestamp.h"

#include <string.h>

/* Every layer media type strata knows: what it writes, and what it reads
 * (verify, base images). */
static const struct {
	const char *media_type;
	strata_compress compression;
	bool written;
} layer_types[] = {
	{"application/vnd.oci.image.layer.v1.tar+gzip", STRATA_COMPRESS_GZIP, true},
	{"application/vnd.oci.image.layer.v1.tar+zstd", STRATA_COMPRESS_ZSTD, true},
	{"application/vnd.oci.image.layer.v1.tar", STRATA_COMPRESS_NONE, true},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", STRATA_COMPRESS_GZIP, false},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", STRATA_COMPRESS_ZSTD, false},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar", STRATA_COMPRESS_NONE, false},
};

const char *strata_oci_image_layer_media_type(strata_compress c)
{
	for (size_t i = 0; i < STRATA_ARRAY_LEN(layer_types); i++)
		if (layer_types[i].written && layer_types[i].compression == c)
			return layer_types[i].media_type;
	return NULL;
}

bool strata_oci_image_layer_compression(const char *media_type, strata_compress *c)
{
	for (size_t i = 0; i < STRATA_ARRAY_LEN(layer_types); i++)
		if (strcmp(layer_types[i].media_type, media_type) == 0) {
			*c = layer_types[i].compression;
			return true;
		}
	return false;
}

json_t *strata_oci_image_descriptor(const char *media_type, const char *hex, uint64_t size)
{
	json_t *d = json_object();
	json_object_set_new(d, "mediaType", json_string(media_type));
	json_object_set_new(d, "digest", json_sprintf("sha256:%s", hex));
	json_object_set_new(d, "size", json_integer((json_int_t)size));
	return d;
}

json_t *strata_oci_image_config(const strata_oci_config_input *in)
{
	char created[32];
	strata_timestamp_format(in->created, created);
	json_t *cfg = json_object();
	json_object_set_new(cfg, "created", json_string(created));
	json_object_set_new(cfg, "architecture", json_string(in->architecture));
	json_object_set_new(cfg, "os", json_string(in->os));
	json_object_set(cfg, "config", in->config);
	json_t *rootfs = json_object(), *diff_ids = json_array(), *history = json_array();
	json_object_set_new(rootfs, "type", json_string("layers"));
	size_t from = 0, described = 0, k;
	json_t *e;
	json_array_foreach(in->base_history, k, e)
		described += json_is_object(e) && !json_is_true(json_object_get(e, "empty_layer"));
	if (in->base_history && in->nbase > 0 && described == in->nbase) {
		json_array_extend(history, in->base_history);
		from = in->nbase;
	}
	for (size_t i = 0; i < in->nlayers; i++) {
		json_array_append_new(diff_ids, json_sprintf("sha256:%s", in->diff_ids[i]));
		if (i < from)
			continue;
		json_t *h = json_object();
		json_object_set_new(h, "created", json_string(created));
		if (in->history[i].created_by)
			json_object_set_new(h, "created_by", json_string(in->history[i].created_by));
		if (in->history[i].comment)
			json_object_set_new(h, "comment", json_string(in->history[i].comment));
		json_array_append_new(history, h);
	}
	json_object_set_new(rootfs, "diff_ids", diff_ids);
	json_object_set_new(cfg, "rootfs", rootfs);
	json_object_set_new(cfg, "history", history);
	return cfg;
}

json_t *strata_oci_image_config_from_docker(json_t *dc)
{
	static const char *const keys[] = {"created", "author", "architecture", "os", "os.version",
					   "os.features", "variant", "config", "rootfs", "history"};
	json_t *o = json_object();
	for (size_t i = 0; i < STRATA_ARRAY_LEN(keys); i++) {
		json_t *v = json_object_get(dc, keys[i]);
		if (v != NULL)
			json_object_set(o, keys[i], v);
	}
	return o;
}

json_t *strata_oci_image_manifest(const char *cfg_hex, uint64_t cfg_size, json_t *layers)
{
	json_t *man = json_object();
	json_object_set_new(man, "schemaVersion", json_integer(2));
	json_object_set_new(man, "mediaType", json_string(STRATA_OCI_MT_MANIFEST));
	json_object_set_new(man, "config", strata_oci_image_descriptor(STRATA_OCI_MT_CONFIG, cfg_hex, cfg_size));
	json_object_set(man, "layers", layers);
	return man;
}

void strata_oci_image_index_add(json_t *manifests, const char *man_hex, uint64_t man_size, const char *ref,
				const char *full_name, const char *arch, const char *os)
{
	json_t *d = strata_oci_image_descriptor(STRATA_OCI_MT_MANIFEST, man_hex, man_size);
	json_t *ann = json_object();
	if (full_name)
		json_object_set_new(ann, "io.containerd.image.name", json_string(full_name));
	json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(ref));
	json_object_set_new(d, "annotations", ann);
	json_t *plat = json_object();
	json_object_set_new(plat, "architecture", json_string(arch));
	json_object_set_new(plat, "os", json_string(os));
	json_object_set_new(d, "platform", plat);
	json_array_append_new(manifests, d);
}

json_t *strata_oci_image_index(json_t *manifests)
{
	json_t *idx = json_object();
	json_object_set_new(idx, "schemaVersion", json_integer(2));
	json_object_set_new(idx, "mediaType", json_string(STRATA_OCI_MT_INDEX));
	json_object_set_new(idx, "manifests", manifests);
	return idx;
}
