#define _GNU_SOURCE
#include "docker_image.h"
#include "alloc.h"
#include "py_format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char *strata_docker_image_config(const strata_docker_config_input *in)
{
	json_t *cfg = json_object(), *rootfs = json_object(), *ids = json_array(), *hist = json_array();
	json_object_set_new(cfg, "created", json_string(in->created));
	json_object_set_new(cfg, "architecture", json_string(in->architecture));
	json_object_set_new(cfg, "os", json_string("linux"));
	json_object_set(cfg, "config", (json_t *)(uintptr_t)in->config);
	for (size_t i = 0; i < in->nlayers; i++) {
		json_array_append_new(ids, json_sprintf("sha256:%s", in->diff_ids[i]));
		json_t *h = json_object();
		json_object_set_new(h, "created", json_string(in->created));
		json_object_set_new(h, "comment", json_string(in->comments[i]));
		json_array_append_new(hist, h);
	}
	json_object_set_new(rootfs, "diff_ids", ids);
	json_object_set_new(rootfs, "type", json_string("layers"));
	json_object_set_new(cfg, "rootfs", rootfs);
	json_object_set_new(cfg, "history", hist);
	char *s = strata_py_format_json(cfg);
	json_decref(cfg);
	return s;
}

char *strata_docker_image_manifest(const char *config_name, const char *repo_tag, const char *const *layer_names,
				   size_t nlayers)
{
	json_t *man = json_array(), *img = json_object(), *tags = json_array(), *layers = json_array();
	json_object_set_new(img, "Config", json_string(config_name));
	if (repo_tag)
		json_array_append_new(tags, json_string(repo_tag));
	json_object_set_new(img, "RepoTags", tags);
	for (size_t i = 0; i < nlayers; i++)
		json_array_append_new(layers, json_string(layer_names[i]));
	json_object_set_new(img, "Layers", layers);
	json_array_append_new(man, img);
	char *s = strata_py_format_json(man);
	json_decref(man);
	return s;
}

/* seen: variable name -> its index in merged (a map: Env may be long). */
static void add_env(json_t *merged, json_t *seen, json_t *env)
{
	size_t i;
	json_t *e;
	json_array_foreach(env, i, e)
	{
		const char *s = json_string_value(e);
		if (s == NULL)
			continue;
		char *name = strata_xstrndup(s, strcspn(s, "="));
		json_t *at = json_object_get(seen, name);
		if (at) {
			json_array_set(merged, (size_t)json_integer_value(at), e);
		} else {
			json_object_set_new(seen, name, json_integer((json_int_t)json_array_size(merged)));
			json_array_append(merged, e);
		}
		free(name);
	}
}

void strata_docker_image_merge_env(const json_t *base_config, json_t *config)
{
	json_t *merged = json_array(), *seen = json_object();
	add_env(merged, seen, json_object_get(base_config, "Env"));
	add_env(merged, seen, json_object_get(config, "Env"));
	if (json_array_size(merged) > 0)
		json_object_set(config, "Env", merged);
	json_decref(merged);
	json_decref(seen);
}
