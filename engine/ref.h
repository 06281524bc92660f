/* strata_ref: image names, tags and references, checked by one set of rules
 * for every command (build-layered, convert, conf.json's repo_tag, and the
 * commands that push or pick base images), so that nothing strata writes is
 * refused by a client later.
 *
 * The grammar is the distribution reference one (as Docker, podman,
 * containerd and skopeo parse names):
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain "/"] path-component ("/" path-component)*   (<= 255)
 *   domain    := domain-component ("." domain-component)* [":" port]
 *   path-component := [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lowercase hex
 * and, for what goes into index.json's org.opencontainers.image.ref.name,
 * the image-spec's annotation grammar as well (components of alphanumerics
 * joined by [-._:@+] or "--", separated by "/").
 *
 * Threads: reentrant. */
#ifndef STRATA_REF_H
#define STRATA_REF_H

#include "strata_error.h"

int strata_ref_check_tag(const char *tag, strata_error *err);
int strata_ref_check_name(const char *name, strata_error *err);
/* The value of an org.opencontainers.image.ref.name annotation. */
int strata_ref_check_ref_name(const char *ref, strata_error *err);

typedef struct strata_ref {
	char *name;   /* always */
	char *tag;    /* NULL when the reference has none */
	char *digest; /* "sha256:...", NULL when none */
} strata_ref;

/* Splits and checks "name[:tag][@digest]" (a ':' after the last '/' starts
 * the tag, so a registry port is part of the name). Fill ref; free with
 * strata_ref_fini (also after a failure). */
int strata_ref_parse(const char *s, strata_ref *ref, strata_error *err);
void strata_ref_fini(strata_ref *ref);

/* NAME:TAG fully qualified as Docker, podman and containerd store names
 * (a new string): a name whose first component is not a registry (no '.'
 * or ':', not localhost) is on docker.io, and one component there is
 * library/NAME. This is the io.containerd.image.name an OCI index carries
 * beside ref.name (the tag), so that every client keeps the name. */
char *strata_ref_qualified(const char *name, const char *tag);

#endif
