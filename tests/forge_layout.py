#!/usr/bin/env python3
"""Forges hostile OCI layouts for strata verify's tests: edits one image of a
layout strata wrote and re-hashes what it touched, so that only the edit is
wrong.

  forge_layout.py DIR layer-type N MEDIATYPE     label layer N with another media type
  forge_layout.py DIR layer-blob N FILE [plain]  layer N's blob becomes FILE (diff_id: sha256
                                                 of FILE, or of its decompressed bytes)
  forge_layout.py DIR tags TAG...                the manifest listed once per TAG
  forge_layout.py DIR blob-swap N PATH           layer N's blob file replaced by PATH (a fifo,
                                                 device, symlink...): descriptors unchanged
  forge_layout.py DIR config-set KEY JSON        a config field set (JSON value)
"""
import gzip, hashlib, json, os, shutil, sys

d, op, args = sys.argv[1], sys.argv[2], sys.argv[3:]
B = os.path.join(d, "blobs", "sha256")


def load(digest):
    return json.load(open(os.path.join(B, digest.split(":")[1])))


def put(obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(B, h), "wb").write(data)
    return "sha256:" + h, len(data)


idx = json.load(open(os.path.join(d, "index.json")))
mdesc = idx["manifests"][0]
man = load(mdesc["digest"])
cfg = load(man["config"]["digest"])

if op == "layer-type":
    man["layers"][int(args[0])]["mediaType"] = args[1]
elif op == "layer-blob":
    data = open(args[1], "rb").read()
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(B, h), "wb").write(data)
    n = int(args[0])
    man["layers"][n]["digest"], man["layers"][n]["size"] = "sha256:" + h, len(data)
    plain = data if (len(args) > 2 or data[:2] != b"\x1f\x8b") else gzip.decompress(data)
    cfg["rootfs"]["diff_ids"][n] = "sha256:" + hashlib.sha256(plain).hexdigest()
elif op == "blob-swap":
    target = os.path.join(B, man["layers"][int(args[0])]["digest"].split(":")[1])
    os.unlink(target)
    os.rename(args[1], target)  # whatever it is: fifo, device, symlink, sparse file
    sys.exit(0)
elif op == "config-set":
    cfg[args[0]] = json.loads(args[1])
elif op != "tags":
    sys.exit("unknown op " + op)

man["config"]["digest"], man["config"]["size"] = put(cfg)
mdesc["digest"], mdesc["size"] = put(man)
if op == "tags":
    idx["manifests"] = []
    for t in args:
        e = dict(mdesc)
        e["annotations"] = {"org.opencontainers.image.ref.name": t}
        idx["manifests"].append(e)
json.dump(idx, open(os.path.join(d, "index.json"), "w"))
