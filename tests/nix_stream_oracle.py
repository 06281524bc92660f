#!/usr/bin/env python3
"""The test oracle for strata's nixpkgs byte parity: writes what nixpkgs'
stream writer writes for a conf.json, as ../shared/reference describes it,
with nothing but Python's standard library (tarfile in "w|" mode with its
default format, json.dumps(indent=4)). Written for strata's tests from the
description; it is not nixpkgs' script.

  nix_stream_oracle.py layer CONF N OUT     store layer N of CONF as a tar
  nix_stream_oracle.py archive CONF [TAG]   the docker-archive on stdout
"""
import hashlib, io, json, os, pathlib, sys, tarfile, threading
from datetime import datetime, timezone

NOW = datetime.now(tz=timezone.utc)


def when(s):
    return NOW if s == "now" else datetime.fromisoformat(s)


def owner(conf):
    return (int(when(conf["mtime"]).timestamp()), int(conf["uid"]), int(conf["gid"]), conf["uname"], conf["gname"])


def layer_tar(out, paths, conf):
    """Ancestors /nix and /nix/store, then every path in pathlib order;
    absolute names; hardlinks as files; owner and time from the conf."""
    mtime, uid, gid, uname, gname = owner(conf)

    def own(ti):
        ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = mtime, uid, gid, uname, gname
        return ti

    with tarfile.open(fileobj=out, mode="w|") as t:
        for d in ("/nix", "/nix/store"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(own(ti))
        for p in paths:
            p = pathlib.Path(p)
            members = [p] if p.is_symlink() else [p] + list(p.rglob("*"))
            for f in sorted(members):
                ti = t.gettarinfo(f)
                ti.name = "/" + ti.name
                if ti.islnk():
                    ti.type, ti.linkname, ti.size = tarfile.REGTYPE, "", f.stat().st_size
                own(ti)
                if ti.isfile():
                    with open(f, "rb") as fh:
                        t.addfile(ti, fh)
                else:
                    t.addfile(ti)


class Digest:
    def __init__(self):
        self.h, self.n = hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)


def archive(conf, tag, out):
    mtime = owner(conf)[0]
    created = when(conf["created"])
    base = conf.get("from_image")
    with tarfile.open(fileobj=out, mode="w|") as t:
        layers = []  # (member name, diff_id hex, paths)
        cfg = conf["config"]
        if base:
            b = tarfile.open(base)
            man = json.load(b.extractfile("manifest.json"))
            bcfg = json.load(b.extractfile(man[0]["Config"]))
            for name, diff in zip(man[0]["Layers"], bcfg["rootfs"]["diff_ids"]):
                m = b.getmember(name)
                t.addfile(m, b.extractfile(m))
                layers.append((name, diff.split(":", 1)[1], [name]))
            env = bcfg["config"].get("Env", []) + cfg.get("Env", [])
            if env:
                cfg["Env"] = list({e.split("=", 1)[0]: e for e in env}.values())
        for paths in conf["store_layers"]:
            d = Digest()
            layer_tar(d, paths, conf)
            ti = tarfile.TarInfo(d.h.hexdigest() + "/layer.tar")
            ti.size, ti.mtime = d.n, mtime
            # the second pass streams through a pipe (a layer may be larger
            # than memory)
            r, w = os.pipe()
            with open(r, "rb") as rf, open(w, "wb") as wf:
                def produce():
                    layer_tar(wf, paths, conf)
                    wf.close()
                threading.Thread(target=produce).start()
                t.addfile(ti, rf)
            layers.append((ti.name, d.h.hexdigest(), paths))
        cl = conf["customisation_layer"]
        checksum = open(os.path.join(cl, "checksum")).read().strip()
        ti = t.gettarinfo(os.path.join(cl, "layer.tar"))
        ti.name, ti.mtime = checksum + "/layer.tar", mtime
        with open(os.path.join(cl, "layer.tar"), "rb") as fh:
            t.addfile(ti, fh)
        layers.append((ti.name, checksum, [cl]))
        image = {
            "created": datetime.isoformat(created), "architecture": conf["architecture"], "os": "linux",
            "config": cfg,
            "rootfs": {"diff_ids": ["sha256:" + l[1] for l in layers], "type": "layers"},
            "history": [{"created": datetime.isoformat(created), "comment": "store paths: %s" % (l[2],)}
                        for l in layers],
        }
        data = json.dumps(image, indent=4).encode()
        for name, content in [(hashlib.sha256(data).hexdigest() + ".json", data), ("manifest.json", None)]:
            if content is None:
                content = json.dumps([{"Config": cfg_name, "RepoTags": [tag or conf["repo_tag"]],
                                       "Layers": [l[0] for l in layers]}], indent=4).encode()
            cfg_name = name
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(content), mtime
            t.addfile(ti, io.BytesIO(content))


def main():
    op, conf = sys.argv[1], json.load(open(sys.argv[2]))
    if op == "layer":
        with open(sys.argv[4], "wb") as f:
            layer_tar(f, conf["store_layers"][int(sys.argv[3])], conf)
    elif op == "archive":
        archive(conf, sys.argv[3] if len(sys.argv) > 3 else None, sys.stdout.buffer)
    else:
        sys.exit(__doc__)


main()
