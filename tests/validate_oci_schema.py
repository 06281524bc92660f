#!/usr/bin/python3
"""Validates an OCI layout's index, manifests and configs against the
image-spec JSON schemas Debian ships (golang-github-opencontainers-image-spec-dev),
resolving the schemas' https://opencontainers.org/... ids to the local files.
  validate_oci_schema.py LAYOUT_DIR      (exit 0: all valid)
"""
import json, os, sys
import jsonschema

SCHEMA_DIR = "/usr/share/gocode/src/github.com/opencontainers/image-spec/schema"


def load(name):
    with open(os.path.join(SCHEMA_DIR, name)) as f:
        return json.load(f)


def local(uri):
    return load(os.path.basename(uri))


def validator(name):
    schema = load(name)
    resolver = jsonschema.RefResolver(base_uri=schema.get("id", ""), referrer=schema,
                                      handlers={"https": local, "http": local})
    return jsonschema.Draft4Validator(schema, resolver=resolver)


def main():
    d = sys.argv[1]
    blob = lambda dg: json.load(open(os.path.join(d, "blobs", "sha256", dg.split(":")[1])))
    index = json.load(open(os.path.join(d, "index.json")))
    validator("image-index-schema.json").validate(index)
    validator("image-layout-schema.json").validate(json.load(open(os.path.join(d, "oci-layout"))))
    n = 0
    for m in index["manifests"]:
        man = blob(m["digest"])
        validator("image-manifest-schema.json").validate(man)
        validator("config-schema.json").validate(blob(man["config"]["digest"]))
        n += 1
    print("schema-valid: index, oci-layout, %d manifest(s) and config(s)" % n)


main()
