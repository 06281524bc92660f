# The Nix functions (issue 15), with Debian's nix-bin, single-user, sandbox
# off, no substituters: the seed's examples on derivations built here (no
# nixpkgs), checked by skopeo, umoci and runc; the image of a Nix function
# is byte for byte the CLI's; evaluation errors for arguments strata cannot
# honour; the package expression and the overlay parse.
. "$STRATA_TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (nix single-user store in /nix, runc)"
for t in nix-build nix-store nix-instantiate skopeo umoci runc busybox; do
  command -v "$t" > /dev/null || fail "$t is not installed (scripts/setup installs it)"
done
export NIX_CONFIG=$'sandbox = false\nbuild-users-group =\nexperimental-features = nix-command\nsubstituters =\nfallback = true'
export NIX_REMOTE=local
nix-instantiate --parse "$TOP/nix/default.nix" > /dev/null
nix-instantiate --parse "$TOP/nix/package.nix" > /dev/null
nix-instantiate --parse "$TOP/nix/overlay.nix" > /dev/null

# strata itself in the store: the functions' builder.
mkdir -p "$WORK/pkg/bin"; cp "$STRATA" "$WORK/pkg/bin/strata"
SP=$(nix-store --add "$WORK/pkg" 2> /dev/null)
cat > "$WORK/t.nix" <<NIX
let
  st = import $TOP/nix { strata = builtins.storePath "$SP"; };
  system = builtins.currentSystem;
  PATH = "/usr/bin:/bin";
  sh = name: script: derivation { inherit name system PATH; builder = "/bin/sh"; args = [ "-c" script ]; };
  busybox = sh "strata-nt-busybox" "mkdir -p \$out/bin && cp /bin/busybox \$out/bin/busybox && ln -s busybox \$out/bin/sh";
  data = sh "strata-nt-data" "mkdir -p \$out/share && echo 'hello from a dependency' > \$out/share/greeting";
  tool = n: sh "strata-nt-\${n}say" ''
    mkdir -p \$out/bin
    printf '#!\${busybox}/bin/sh\nread line < \${data}/share/greeting\necho "\${n} says: \$line"\n' > \$out/bin/\${n}say
    chmod 0555 \$out/bin/\${n}say
  '';
  hello = tool "hello";
in rec {
  inherit hello busybox;
  cow = tool "cow"; pony = tool "pony";
  # the seed's buildImage: a program, copyToRoot, outputFormat tarball
  image = st.buildImage { name = "hello"; tag = "latest"; copyToRoot = [ hello ]; extraOCIArgs.outputFormat = "tarball";
    config.Cmd = [ "\${hello}/bin/hellosay" ]; };
  # the seed's buildLayeredImage: two tools
  layered = st.buildLayeredImage { name = "animal-sayer"; tag = "latest"; contents = [ cow pony ];
    config = { Cmd = [ "\${cow}/bin/cowsay" ]; Env = [ "PATH=/bin" ]; }; };
  layeredSeed = st.buildLayeredImage { name = "animal-sayer"; tag = "latest"; copyToRoot = [ cow pony ];
    config = { Cmd = [ "\${cow}/bin/cowsay" ]; Env = [ "PATH=/bin" ]; }; };
  dockerLayered = st.dockerTools.buildLayeredImage { name = "animal-sayer"; tag = "latest"; contents = [ cow pony ];
    config = { Cmd = [ "\${cow}/bin/cowsay" ]; Env = [ "PATH=/bin" ]; }; };
  stream = st.streamLayeredImage { name = "animal-sayer"; tag = "latest"; contents = [ cow pony ];
    config = { Cmd = [ "\${cow}/bin/cowsay" ]; Env = [ "PATH=/bin" ]; }; };
  fromStream = st.toOCIImage { docker-tarball = dockerLayered; outputFormat = "directory"; };
  fromStreamTar = st.toOCIImage { docker-tarball = dockerLayered; name = "oci-sayer"; outputFormat = "tarball"; };
  fromSkopeo = st.toOCIImage { docker-tarball = builtins.storePath (builtins.getEnv "SKOPEO_TAR"); };
  container = st.buildContainer { args = [ "\${hello}/bin/hellosay" ]; readonly = false; };
}
NIX
build() { nix-build --no-out-link "$WORK/t.nix" -A "$1" 2>> "$WORK/nix.log" || { grep -v "^warning" "$WORK/nix.log" | tail -20 >&2; fail "nix-build $1"; }; }

# 1. buildImage, as an oci-archive.
img=$(build image)
[ -f "$img" ] || fail "buildImage with outputFormat tarball is not an oci-archive"
"$STRATA" verify -q "$img"
skopeo --insecure-policy copy -q "oci-archive:$img:latest" "oci:$WORK/img:latest"
umoci unpack --image "$WORK/img:latest" "$WORK/b1" > /dev/null
hello=$(build hello)
[ -x "$WORK/b1/rootfs/bin/hellosay" ] && [ -d "$WORK/b1/rootfs$hello" ] || fail "buildImage: copyToRoot or closure missing"
if command -v runc > /dev/null; then
  python3 - "$WORK/b1/config.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"))
P
  out=$(runc run --bundle "$WORK/b1" strata-nt-$$ < /dev/null 2> "$WORK/runc.err") || { runc delete -f strata-nt-$$ 2>/dev/null; fail "runc: $(cat "$WORK/runc.err")"; }
  assert_eq "$out" "hello says: hello from a dependency" "runc output of buildImage"
fi

# 2. buildLayeredImage with two tools; the seed's copyToRoot spelling is the same image.
lay=$(build layered)
"$STRATA" verify -q "$lay"
skopeo --insecure-policy inspect --config "oci:$lay:latest" > "$WORK/cfg.json"
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["config"]["Env"]==["PATH=/bin"] and len(c["rootfs"]["diff_ids"])>=4, c' "$WORK/cfg.json"
umoci unpack --image "$lay:latest" "$WORK/b2" > /dev/null
[ -x "$WORK/b2/rootfs/bin/cowsay" ] && [ -x "$WORK/b2/rootfs/bin/ponysay" ] || fail "buildLayeredImage: contents not linked at /"
[ "$(build layeredSeed)" = "$lay" ] || diff -r "$(build layeredSeed)" "$lay" > /dev/null || fail "copyToRoot and contents differ"

# 3. The Nix function's image is the CLI's, byte for byte.
cow=$(build cow); pony=$(build pony)
nix path-info --json --recursive "$cow" "$pony" > "$WORK/pi.json"
"$STRATA" build-layered -q --closure "$WORK/pi.json" --root "$cow" --root "$pony" --contents "$cow" --contents "$pony" \
  --name animal-sayer --tag latest --config-json "{\"Cmd\": [\"$cow/bin/cowsay\"], \"Env\": [\"PATH=/bin\"]}" -o "$WORK/cli"
diff -r "$WORK/cli" "$lay" > /dev/null || fail "the Nix function and the CLI made different images"

# 4. streamLayeredImage: an executable writing the docker-archive the
# dockerTools variant writes; toOCIImage of it and of skopeo's archive.
stream=$(build stream)
[ -x "$stream" ] || fail "streamLayeredImage is not executable"
"$stream" > "$WORK/stream.tar"
cmp "$WORK/stream.tar" "$(build dockerLayered)" || fail "the stream and dockerTools.buildLayeredImage differ"
skopeo --insecure-policy copy -q "docker-archive:$WORK/stream.tar" "oci:$WORK/from-stream:latest"
"$STRATA" verify -q "$WORK/from-stream"
fs=$(build fromStream); "$STRATA" verify -q "$fs"
case "$fs" in *-animal-sayer-oci) ;; *) fail "toOCIImage's default name: $fs" ;; esac
fst=$(build fromStreamTar); [ -f "$fst" ] || fail "toOCIImage outputFormat tarball"
case "$fst" in *-oci-sayer) ;; *) fail "toOCIImage's name: $fst" ;; esac
"$STRATA" verify -q "$fst"
skopeo --insecure-policy copy -q "oci:$lay:latest" "docker-archive:$WORK/sk.tar:strata/sayer:v1"
export SKOPEO_TAR=$(nix-store --add "$WORK/sk.tar" 2> /dev/null)
fsk=$(build fromSkopeo)
"$STRATA" verify -q "$fsk"
case "$fsk" in *-sk-oci) ;; *) fail "toOCIImage's name for a store path: $fsk" ;; esac
umoci unpack --image "$fsk:v1" "$WORK/b3" > /dev/null
assert_eq "$(cname_of "$fsk")" "docker.io/strata/sayer:v1" "toOCIImage's io.containerd.image.name"
[ -x "$WORK/b3/rootfs/bin/cowsay" ] || fail "toOCIImage of skopeo's archive lost files"

# 5. buildContainer: args, readonly = false; runc runs it.
ct=$(build container)
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["root"]["readonly"] is False and c["process"]["args"][0].endswith("/bin/hellosay"), c' "$ct/config.json"
if command -v runc > /dev/null; then
  cp -a "$ct" "$WORK/ct"; chmod -R u+w "$WORK/ct"
  out=$(runc run --bundle "$WORK/ct" strata-nc-$$ < /dev/null 2> "$WORK/runc.err") || { runc delete -f strata-nc-$$ 2>/dev/null; fail "runc: $(cat "$WORK/runc.err")"; }
  assert_eq "$out" "hello says: hello from a dependency" "runc output of buildContainer"
fi

# 6. Layers as derivations. A 10-path closure (busybox, data, 7 libraries,
# the app); layerDerivations = true makes one derivation per layer and the
# same image as one derivation does; a shared buildLayer is reused as it is.
cat > "$WORK/l.nix" <<NIX
let
  st = import $TOP/nix { strata = builtins.storePath "$SP"; };
  t = import $WORK/t.nix;
  system = builtins.currentSystem;
  PATH = "/usr/bin:/bin";
  sh = name: script: derivation { inherit name system PATH; builder = "/bin/sh"; args = [ "-c" script ]; };
  libs = map (i: sh "strata-nt-lib\${toString i}" "mkdir -p \$out/lib && head -c \$((4000 * \${toString i})) /dev/zero | tr '\\\\0' x > \$out/lib/lib\${toString i}.so") [ 1 2 3 4 5 6 7 ];
  app = sh "strata-nt-app" ''
    mkdir -p \$out/bin
    printf '#!\${t.busybox}/bin/sh
echo "app \${builtins.getEnv "APP_VERSION"} \${builtins.concatStringsSep " " libs}"
' > \$out/bin/app
    chmod 0555 \$out/bin/app
  '';
  args = { name = "app"; tag = "v1"; contents = [ app t.hello ]; config.Cmd = [ "/bin/app" ]; };
  shared = st.buildLayer { deps = [ t.busybox ]; };
in {
  whole = st.buildLayeredImage args;
  split = st.buildLayeredImage (args // { layerDerivations = true; });
  withShared = st.buildLayeredImage (args // { layers = [ shared ]; });
  otherWithShared = st.buildLayeredImage { name = "other"; contents = [ t.cow ]; layers = [ shared ]; };
  inherit shared;
}
NIX
lbuild() { nix-build --no-out-link "$WORK/l.nix" -A "$1" 2>> "$WORK/nix.log" || { grep -v "^warning" "$WORK/nix.log" | tail -20 >&2; fail "nix-build $1"; }; }
v1="1-$(date +%s%N)"
export APP_VERSION=$v1
whole=$(lbuild whole); split=$(lbuild split)
"$STRATA" verify -q "$split"
diff -r "$whole" "$split" > /dev/null || fail "layerDerivations = true made another image"
nlayers=$(nix-store -q --references "$(nix-instantiate "$WORK/l.nix" -A split 2> /dev/null)" | grep -c -- '-strata-layer.drv$')
[ "$nlayers" -ge 4 ] || fail "layerDerivations: only $nlayers layer derivations"
# Incremental: a new app; exactly one layer derivation is built again (and
# the layering, read at evaluation, and the image).
export APP_VERSION="2-$(date +%s%N)"  # new in this store, whatever earlier runs built
nix-build --no-out-link "$WORK/l.nix" -A split > "$WORK/split2" 2> "$WORK/rebuild.log" || { tail "$WORK/rebuild.log"; fail "rebuild"; }
rebuilt=$(grep -c "building '.*-strata-layer.drv'" "$WORK/rebuild.log" || true)
assert_eq "$rebuilt" 1 "layer derivations built again after one path changed"
grep -q "building '.*-app.drv'" "$WORK/rebuild.log" || fail "the image was not assembled again"
export APP_VERSION=$v1
# A shared layer: its blob is in both images, as it is.
sh_digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/layer.json"))["digest"][7:])' "$(lbuild shared)")
for a in withShared otherWithShared; do
  d=$(lbuild $a); "$STRATA" verify -q "$d"
  [ -f "$d/blobs/sha256/$sh_digest" ] || fail "$a does not hold the shared layer"
done
# A binary cache (the build farm on one machine): the layer outputs copied
# to a file:// cache and deleted; the rebuild substitutes every layer and
# builds none; the image is the same bytes.
layer_outs=$(nix-store -q --references "$(nix-instantiate "$WORK/l.nix" -A split 2> /dev/null)" | grep -- '-strata-layer.drv$' |
  xargs nix-store -q --outputs)
cp -r "$split" "$WORK/split-before"
nix copy --to "file://$WORK/cache" $layer_outs 2>> "$WORK/nix.log" || { tail "$WORK/nix.log"; fail "nix copy"; }
nix-store --delete "$split" $layer_outs > /dev/null 2>> "$WORK/nix.log" || { tail "$WORK/nix.log"; fail "nix-store --delete"; }
for o in $layer_outs; do [ ! -e "$o" ] || fail "$o was not deleted"; done
split3=$(nix-build --no-out-link "$WORK/l.nix" -A split --option substituters "file://$WORK/cache" \
  --option require-sigs false 2> "$WORK/subst.log") || { tail "$WORK/subst.log"; fail "rebuild from the cache"; }
grep -q "building '.*-strata-layer.drv'" "$WORK/subst.log" && fail "a layer was built instead of substituted: $(grep building "$WORK/subst.log")"
assert_eq "$(grep -c "copying path .*-strata-layer. from .file://" "$WORK/subst.log")" "$(echo $layer_outs | wc -w)" "layers substituted"
diff -r "$WORK/split-before" "$split3" > /dev/null || fail "the image from substituted layers differs"

# Remote building: an sshd on 127.0.0.1 (key made here, stopped by PID),
# a "remote" Nix on its own store root (the same /nix/store would deadlock
# on the output locks the local Nix holds), sandboxed with the host's /usr.
# Every derivation of a new image builds there; the image is the one a local
# one-derivation build makes.
if command -v sshd > /dev/null || [ -x /usr/sbin/sshd ]; then
  R="$WORK/remote"; mkdir -p "$R/conf" /run/sshd; chmod 700 "$R"
  ssh-keygen -q -t ed25519 -N '' -f "$R/key"; ssh-keygen -q -t ed25519 -N '' -f "$R/host"
  printf 'build-users-group =\nsandbox = true\nsandbox-fallback = false\nextra-sandbox-paths = /bin /usr /lib /lib64 /etc\nsubstituters =\n' > "$R/conf/nix.conf"
  echo "command=\"NIX_CONF_DIR=$R/conf NIX_REMOTE=local?root=$R/store exec /bin/sh -c \\\"\$SSH_ORIGINAL_COMMAND\\\"\" $(cat "$R/key.pub")" > "$R/authorized_keys"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile %s\nPasswordAuthentication no\n' \
    "$port" "$R/host" "$R/authorized_keys" "$R/sshd.pid" > "$R/sshd_config"
  /usr/sbin/sshd -f "$R/sshd_config" -E "$R/sshd.log" || fail "sshd did not start: $(cat "$R/sshd.log")"
  trap 'kill "$(cat "$R/sshd.pid" 2>/dev/null)" 2>/dev/null || true; cleanup_work' EXIT
  export APP_VERSION="3-$(date +%s%N)"
  NIX_SSHOPTS="-p $port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR" \
    nix-build --no-out-link "$WORK/l.nix" -A split --max-jobs 0 --option builders "ssh://root@127.0.0.1 $(nix-instantiate --eval -E builtins.currentSystem | tr -d '"') $R/key 2" \
    > "$WORK/remote.out" 2> "$WORK/remote.log" || { grep -v '^warning' "$WORK/remote.log" | tail >&2; fail "remote build"; }
  grep -q "building '.*-strata-layer.drv' on 'ssh://root@127.0.0.1'" "$WORK/remote.log" || fail "no layer was built on the remote builder"
  grep "building '" "$WORK/remote.log" | grep -v "on 'ssh://" && fail "something was built locally"
  diff -r "$(cat "$WORK/remote.out")" "$(lbuild whole)" > /dev/null || fail "the image built remotely differs"
  kill "$(cat "$R/sshd.pid")"
  export APP_VERSION=$v1
fi

# 7. Evaluation errors name the argument.
eval_fail() { # pattern expr
  local rc=0
  nix-instantiate --eval --strict -E "let st = import $TOP/nix { strata = builtins.storePath \"$SP\"; }; in (($2).drvPath)" \
    > /dev/null 2> "$WORK/eval.err" || rc=$?
  [ $rc != 0 ] || fail "evaluation of $2 succeeded"
  grep -q -- "$1" "$WORK/eval.err" || fail "'$1' not in: $(cat "$WORK/eval.err")"
}
eval_fail "unknown argument 'colour'" 'st.buildLayeredImage { name = "x"; colour = "red"; }'
eval_fail "argument 'runAsRoot' is not supported" 'st.buildImage { name = "x"; runAsRoot = "echo"; }'
eval_fail "argument 'enableFakechroot' is not supported" 'st.buildLayeredImage { name = "x"; enableFakechroot = true; }'
eval_fail "contents must be a derivation or a path, not a int" 'st.buildLayeredImage { name = "x"; contents = [ 42 ]; }'
eval_fail "give copyToRoot or contents" 'st.buildImage { name = "x"; contents = [ /tmp ]; copyToRoot = [ /tmp ]; }'
eval_fail "give contents or copyToRoot, not both" 'st.buildLayeredImage { name = "x"; contents = [ /tmp ]; copyToRoot = [ /tmp ]; }'
eval_fail "extraOCIArgs.outputFormat must be" 'st.buildImage { name = "x"; extraOCIArgs.outputFormat = "zip"; }'
eval_fail "unknown argument 'sandbox'" 'st.toOCIImage { docker-tarball = /tmp; sandbox = 1; }'
eval_fail "compressor' must be" 'st.buildLayeredImage { name = "x"; compressor = "bz2"; }'
echo "nix_functions: ok"
