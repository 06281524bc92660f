#!/usr/bin/env python3
"""Benchmark store generator: a Nix-like store plus its closure JSON,
deterministic from a seed.

  gen_store.py PRESET DIR [--seed S] [--scale F]

Presets:
  mixed       >= 1 GB in >= 300 paths: heavy-tailed sizes (a few paths over
              100 MB, most under 1 MB), ELF-like binaries, text, already
              compressed data, directories of tiny files; references.
  tiny-files  one path of >= 200,000 files under 1 KB.
  one-huge    one path of >= 2 GB.
  many-medium 40 paths of 2,500 files of 1-64 KB each (100,000 files, ~1 GB),
              referencing each other: a Python or Node closure's shape.
--scale shrinks a preset (the quick mode uses 0.1 or so).
Writes DIR/nix/store/... and DIR/closure.json (exportReferencesGraph form).
Content comes from pools built once from the seed and sliced at random
offsets, so generating a gigabyte takes seconds, not minutes, while deflate
(32 KiB window) still sees realistic, non-repeating data.
"""
import argparse, hashlib, json, os, random

NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
WORDS = ("the of and to in is for on with as by at from this that are be or it an which not "
         "function return value error config path store build layer image hash size file data "
         "int char void static const struct include define if else while for break case").split()


def nix_hash(s):
    return "".join(NIX32[b % 32] for b in hashlib.sha256(s.encode()).digest()[:32])


class Pools:
    def __init__(self, rnd):
        # ELF-like: opcodes from a small skewed alphabet, addresses, zero runs
        # and string tables: deflate -6 gets ~2.5-3x, like real binaries.
        toks = [rnd.randbytes(rnd.choice((1, 2, 3, 4, 5, 6, 8))) for _ in range(600)]
        weights = [1.0 / (i + 1) for i in range(len(toks))]
        parts = []
        size = 0
        while size < (8 << 20):
            r = rnd.random()
            if r < 0.03:
                b = bytes(rnd.randint(16, 200))
            elif r < 0.08:
                b = " ".join(rnd.choices(WORDS, k=rnd.randint(2, 8))).encode() + b"\0"
            elif r < 0.25:
                b = rnd.randbytes(4)
            else:
                b = b"".join(rnd.choices(toks, weights, k=16))
            parts.append(b)
            size += len(b)
        self.elf = b"".join(parts)
        lines = []
        size = 0
        while size < (4 << 20):
            line = " ".join(rnd.choices(WORDS, k=rnd.randint(3, 14))) + "\n"
            lines.append(line)
            size += len(line)
        self.text = "".join(lines).encode()
        self.rnd = rnd

    def take(self, pool, n):
        out = []
        while n > 0:
            k = min(n, self.rnd.randint(32 << 10, 256 << 10))
            o = self.rnd.randrange(0, len(pool) - k)
            out.append(pool[o:o + k])
            n -= k
        return b"".join(out)

    def content(self, kind, n):
        if kind == "elf":
            return self.take(self.elf, n)
        if kind == "text":
            return self.take(self.text, n)
        return os.urandom(n) if n > 0 else b""   # already compressed: incompressible


def write(path, data, mode=0o444):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def make_path(store, name, size, rnd, pools, refs, tiny_files=0):
    p = os.path.join(store, nix_hash(name) + "-" + name)
    os.makedirs(os.path.join(p, "bin"))
    os.makedirs(os.path.join(p, "lib"))
    os.makedirs(os.path.join(p, "share", "doc"))
    refs_txt = "".join("%s/lib\n" % r for r in refs).encode()
    left = size
    i = 0
    while left > 0:
        kind = rnd.choices(("elf", "text", "z"), (0.65, 0.2, 0.15))[0]
        n = min(left, max(512, int(rnd.paretovariate(1.2) * 40000)))
        sub = {"elf": "lib", "text": "share/doc", "z": "share"}[kind]
        data = pools.content(kind, n)
        if i == 0:
            data = refs_txt + data
        write(os.path.join(p, sub, "f%05d.%s" % (i, {"elf": "so", "text": "txt", "z": "gz"}[kind])), data,
              0o555 if kind == "elf" and i % 5 == 0 else 0o444)
        left -= n
        i += 1
    write(os.path.join(p, "bin", name), b"#!/bin/sh\n" + refs_txt, 0o555)
    if tiny_files:
        for d in range(tiny_files // 1000 + 1):
            dd = os.path.join(p, "share", "tiny", "%03d" % d)
            os.makedirs(dd)
            for k in range(min(1000, tiny_files - d * 1000)):
                write(os.path.join(dd, "%04d.txt" % k), pools.content("text", rnd.randint(20, 900)))
    for d, _, _ in os.walk(p):
        os.chmod(d, 0o555)
    return p


def make_medium_path(store, name, files, rnd, pools, refs):
    """files of 1-64 KB (log-uniform) in directories of 100, as a
    site-packages or node_modules tree holds them."""
    p = os.path.join(store, nix_hash(name) + "-" + name)
    refs_txt = "".join("%s/lib\n" % r for r in refs).encode()
    for i in range(files):
        d = os.path.join(p, "lib", "pkg%02d" % (i // 100))
        if i % 100 == 0:
            os.makedirs(d)
        kind = rnd.choices(("elf", "text", "z"), (0.3, 0.6, 0.1))[0]
        data = pools.content(kind, int(1024 * 64 ** rnd.random()))
        if i == 0:
            data = refs_txt + data
        write(os.path.join(d, "m%04d.%s" % (i, {"elf": "so", "text": "py", "z": "gz"}[kind])), data)
    for d, _, _ in os.walk(p):
        os.chmod(d, 0o555)
    return p


def nar_size(p):
    total = 0
    for d, dirs, files in os.walk(p):
        for f in files:
            total += os.lstat(os.path.join(d, f)).st_size + 128
        total += 128 * len(dirs)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("preset", choices=("mixed", "tiny-files", "one-huge", "many-medium"))
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    random.seed(a.seed)
    pools = Pools(rnd)
    store = os.path.join(os.path.abspath(a.dir), "nix", "store")
    os.makedirs(store)
    entries = {}
    if a.preset == "mixed":
        n = max(30, int(320 * a.scale))
        sizes = []
        for i in range(n):
            if i < 4:
                s = int((110 + 40 * i) * 1e6)                # a few paths over 100 MB
            else:
                s = int(min(60e6, rnd.paretovariate(0.9) * 120e3))  # most under 1 MB
            sizes.append(max(4096, int(s * a.scale)))
        # top up to >= 1 GB (scaled)
        total = sum(sizes)
        goal = int(1.05e9 * a.scale)
        if total < goal:
            sizes[4] += goal - total
        paths = []
        for i, s in enumerate(sizes):
            refs = rnd.sample(paths, min(len(paths), rnd.randint(0, 6))) if paths else []
            tiny = 3000 if i in (5, 6) else 0
            p = make_path(store, "pkg%03d-1.%d" % (i, i % 7), s, rnd, pools, refs, int(tiny * a.scale))
            entries[p] = refs
            paths.append(p)
    elif a.preset == "tiny-files":
        p = make_path(store, "tiny-files-1.0", 4096, rnd, pools, [], max(1000, int(200000 * a.scale)))
        entries[p] = []
    elif a.preset == "many-medium":
        paths = []
        for i in range(max(4, int(40 * a.scale))):
            refs = rnd.sample(paths, min(len(paths), rnd.randint(0, 4))) if paths else []
            p = make_medium_path(store, "py%02d-lib-2.%d" % (i, i % 5), 2500, rnd, pools, refs)
            entries[p] = refs
            paths.append(p)
    else:
        p = make_path(store, "one-huge-1.0", int(2.1e9 * a.scale), rnd, pools, [])
        entries[p] = []
    closure = [{"path": p, "narHash": "sha256:" + "0" * 52, "narSize": nar_size(p),
                "references": sorted(r), "closureSize": 0} for p, r in sorted(entries.items())]
    with open(os.path.join(os.path.abspath(a.dir), "closure.json"), "w") as f:
        json.dump(closure, f)
    print(store)


if __name__ == "__main__":
    main()
