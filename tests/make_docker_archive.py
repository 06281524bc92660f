#!/usr/bin/env python3
"""Writes Docker archives for strata convert's tests.

  make_docker_archive.py OUT.tar [--images N] [--gzip-layers] [--docker25] [--created TIME] [--bad KIND]

Default: nixpkgs' stream_layered_image.py layout: layers first as
<diff_id>/layer.tar (PAX tars with absolute member names, as nixpkgs writes
them), then <sha256(config)>.json, then manifest.json last. --images 2 adds a
second image (three tags in all). --docker25 writes Docker 25+'s layout:
an OCI image layout (blobs/sha256/<hex>, index.json, oci-layout) plus a
manifest.json whose Config and Layers name those blobs. --gzip-layers stores layers gzip-compressed
(docker save of old daemons). --created sets the config's and every history
entry's "created" (default 1970-01-01T00:00:01+00:00). --bad makes one broken archive:
  dotdot, absolute, link-out, duplicate, missing-layer, unlisted-layer,
  diff-id, truncated, no-manifest
"""
import argparse, gzip, hashlib, io, json, sys, tarfile


def layer_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in ["/nix", "/nix/store"]:
            ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; ti.mtime = 1
            t.addfile(ti)
        for name, data in files:
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o444; ti.mtime = 1
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def add(out, name, data, kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name); ti.size = len(data) if kind == tarfile.REGTYPE else 0
    ti.type = kind; ti.linkname = link; ti.mtime = 1; ti.mode = 0o644
    out.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--gzip-layers", action="store_true")
    ap.add_argument("--docker25", action="store_true")
    ap.add_argument("--created", default="1970-01-01T00:00:01+00:00")
    ap.add_argument("--bad", default="")
    a = ap.parse_args()
    images = []
    members = []  # (name, data, kind, link) in archive order
    for img in range(a.images):
        layers = []
        for i in range(3):
            files = [("/nix/store/%032d-pkg%d-%d/bin/tool" % (i, img, i), (b"#!/bin/sh\necho %d %d\n" % (img, i)) * 50),
                     ("/nix/store/%032d-pkg%d-%d/share/data" % (i, img, i), bytes(range(256)) * (20 + i))]
            t = layer_tar(files)
            diff = hashlib.sha256(t).hexdigest()
            blob = gzip.compress(t, mtime=0) if a.gzip_layers else t
            name = ("blobs/sha256/%s" % diff) if a.docker25 else "%s/layer.tar" % diff
            layers.append((name, diff))
            members.append((name, blob, tarfile.REGTYPE, ""))
        cfg = {"created": a.created, "architecture": "amd64", "os": "linux",
               "config": {"Cmd": ["/nix/store/%032d-pkg%d-0/bin/tool" % (0, img)], "Env": ["A=%d" % img]},
               "rootfs": {"diff_ids": ["sha256:" + d for _, d in layers], "type": "layers"},
               "history": [{"created": a.created, "comment": "layer %d" % i} for i in range(3)]}
        if a.bad == "diff-id":
            cfg["rootfs"]["diff_ids"][1] = "sha256:" + "0" * 64
        cb = json.dumps(cfg, indent=4).encode()
        cname = hashlib.sha256(cb).hexdigest() + ".json"
        if a.docker25:
            cname = "blobs/sha256/" + hashlib.sha256(cb).hexdigest()
        members.append((cname, cb, tarfile.REGTYPE, ""))
        if a.docker25:
            om = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                        "digest": "sha256:" + cname[13:], "size": len(cb)},
                             "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                         "digest": "sha256:" + d, "size": 0} for _, d in layers]}).encode()
            members.append(("blobs/sha256/" + hashlib.sha256(om).hexdigest(), om, tarfile.REGTYPE, ""))
        tags = ["strata/img%d:latest" % img] + (["strata/img%d:v2" % img] if img == 1 else [])
        images.append({"Config": cname, "RepoTags": tags, "Layers": [n for n, _ in layers]})
    if a.bad == "missing-layer":
        images[0]["Layers"][1] = "0" * 64 + "/layer.tar"
    if a.bad == "unlisted-layer":
        members.insert(0, ("extra/layer.tar", layer_tar([("/x", b"x")]), tarfile.REGTYPE, ""))
    if a.bad == "dotdot":
        members.insert(0, ("../evil.json", b"{}", tarfile.REGTYPE, ""))
    if a.bad == "absolute":
        members.insert(0, ("/etc/evil.json", b"{}", tarfile.REGTYPE, ""))
    if a.bad == "link-out":
        members.insert(0, ("escape.tar", b"", tarfile.SYMTYPE, "../../etc/passwd"))
    if a.bad == "duplicate":
        members.append(members[0])
    if a.docker25:
        members.append(("index.json", json.dumps({"schemaVersion": 2, "manifests": []}).encode(), tarfile.REGTYPE, ""))
    if a.bad != "no-manifest":
        members.append(("manifest.json", json.dumps(images, indent=4).encode(), tarfile.REGTYPE, ""))
    if a.docker25:
        members.append(("oci-layout", b'{"imageLayoutVersion": "1.0.0"}', tarfile.REGTYPE, ""))
        members.append(("repositories", b'{"strata/img0": {"latest": "x"}}', tarfile.REGTYPE, ""))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
        for name, data, kind, link in members:
            add(out, name, data, kind, link)
    data = buf.getvalue()
    if a.bad == "truncated":
        data = data[: len(data) // 2]
    with open(a.out, "wb") as f:
        f.write(data)


main()
