# strata's Nix functions, with nixpkgs' dockerTools/ociTools argument names.
# Plain Nix: every derivation is a `derivation` with __structuredAttrs whose
# builder is strata itself (`strata exec-json .attrs.json`), so no nixpkgs,
# no shell and no other tool is needed at build time.
#
#   import ./nix { strata = <a store path or derivation with bin/strata>; }
#
# returns { buildLayeredImage, streamLayeredImage, buildImage, toOCIImage,
# buildContainer, buildLayeredImageWithNixDb, buildImageWithNixDb,
# dockerTools = { buildLayeredImage, streamLayeredImage, buildImage, ... } }.
# The top-level functions write OCI images (a layout directory, or an
# oci-archive with extraOCIArgs.outputFormat = "tarball"); the dockerTools
# ones write docker-archives, as their nixpkgs namesakes do.
{ strata, system ? builtins.currentSystem, storeDir ? builtins.storeDir }:
let
  strataBin = "${strata}/bin/strata";

  inherit (builtins) attrNames concatMap elem filter hasAttr isAttrs isList isString length toJSON
    typeOf getContext appendContext unsafeDiscardStringContext split;

  # ---- argument checking: unknown or unsupported arguments never pass ----
  check = fn: known: refused: args:
    let
      unknown = filter (a: !(elem a known)) (attrNames args);
      bad = filter (a: hasAttr a args && refused.${a} args.${a} != null) (attrNames refused);
    in
    if unknown != [ ] then
      throw "strataTools.${fn}: unknown argument '${builtins.head unknown}' (strata takes nixpkgs' arguments; see nix/README.md)"
    else if bad != [ ] then
      throw "strataTools.${fn}: argument '${builtins.head bad}' ${refused.${builtins.head bad} args.${builtins.head bad}}"
    else args;

  # refused.<arg> = value: null when strata can honour the value, else why not.
  whenSet = why: v: if v == null || v == false || v == "" || v == [ ] then null else why;
  notCompressor = v: if elem v [ "none" "gz" "zstd" ] then null else "must be one of none, gz, zstd, not '${toString v}'";

  toList = x: if x == null then [ ] else if isList x then x else [ x ];
  pathLike = fn: arg: x:
    if isAttrs x && x ? outPath then x
    else if typeOf x == "path" || (isString x && builtins.substring 0 1 x == "/") then x
    else throw "strataTools.${fn}: ${arg} must be a derivation or a path, not a ${typeOf x}";

  # Store paths a string names (a config), each with the string's context so
  # that exportReferencesGraph may take it: the image holds what its config
  # names, as nixpkgs' closure of its config.
  storeRefs = s:
    let
      ctx = getContext s;
      bare = unsafeDiscardStringContext s;
      parts = filter isList (split "(${storeDir}/[0-9a-z]{32}-[-+._?=0-9A-Za-z]*)" bare);
    in
    if ctx == { } then [ ] else map (m: appendContext (builtins.head m) ctx) parts;

  flag = name: v: if v == null then [ ] else [ name (toString v) ];
  flags = name: vs: concatMap (v: [ name "${v}" ]) vs;

  # One strata run as a derivation.
  run = { name, args, roots ? [ ], files ? { }, executable ? null, passthru ? { }, meta ? { } }:
    let
      drv = derivation ({
        inherit name system;
        builder = strataBin;
        args = [ "exec-json" ".attrs.json" ];
        __structuredAttrs = true;
        exportReferencesGraph.closure = roots;
        strataFiles = files;
      } // (if executable == null then { strataArgs = args; } else {
        strataExecutable = { path = builtins.placeholder "out"; inherit args; };
      }));
    in
    drv // { inherit meta; passthru = passthru; } // passthru;

  out = builtins.placeholder "out";

  imageFlags = a: flag "--name" a.name ++ flag "--tag" (a.tag or null)
    ++ flag "--created" (a.created or null) ++ flag "--architecture" (a.architecture or null)
    ++ [ "--config-json" (toJSON (if (a.config or null) == null then { } else a.config)) ];

  scriptFiles = a:
    (if (a.extraCommands or "") != "" then { "extra.sh" = a.extraCommands; } else { })
    // (if (a.fakeRootCommands or "") != "" then { "fakeroot.sh" = a.fakeRootCommands; } else { });

  customFlags = a: (if (a.extraCommands or "") != "" then [ "--extra-commands" "extra.sh" ] else [ ])
    ++ (if (a.fakeRootCommands or "") != "" then [ "--fakeroot-commands" "fakeroot.sh" ] else [ ])
    ++ (if a.includeNixDB or false then [ "--nix-db" ] else [ ]);

  compressFlag = c: [ "--compress" ({ none = "none"; gz = "gzip"; zstd = "zstd"; }.${c}) ];

  # extraOCIArgs: outputFormat directory|tarball, name.
  ociFormat = fn: e:
    let f = e.outputFormat or "directory"; in
    if elem f [ "directory" "tarball" ] then f
    else throw "strataTools.${fn}: extraOCIArgs.outputFormat must be \"directory\" or \"tarball\", not '${toString f}'";
  checkOCIArgs = fn: e:
    let unknown = filter (k: !(elem k [ "outputFormat" "name" ])) (attrNames e); in
    if unknown != [ ] then throw "strataTools.${fn}: unknown extraOCIArgs attribute '${builtins.head unknown}'" else e;

  passthruOf = a: image: { imageName = a.name; imageTag = a.tag or null; } // (a.passthru or { });

  # ---- buildLayeredImage / streamLayeredImage ----
  layeredKnown = [ "name" "tag" "fromImage" "contents" "copyToRoot" "config" "architecture" "variant" "created"
    "mtime" "uid" "gid" "uname" "gname" "maxLayers" "extraCommands" "fakeRootCommands" "enableFakechroot"
    "includeStorePaths" "includeNixDB" "passthru" "meta" "layeringPipeline" "debug" "compressor"
    "extraOCIArgs" "layers" "layerDerivations" ];
  layeredRefused = {
    enableFakechroot = whenSet "is not supported: strata runs fakeRootCommands under fakeroot without proot";
    layeringPipeline = whenSet "is not supported: strata's layering is nixpkgs' auto-layer (or --layering popularity)";
    variant = whenSet "is not supported yet (the image config has no variant)";
    compressor = notCompressor;
  };

  layeredArgs = fn: format: args0:
    let
      a = check fn layeredKnown layeredRefused args0;
      contents =
        if (a.contents or [ ]) != [ ] && (a.copyToRoot or [ ]) != [ ] then
          throw "strataTools.${fn}: give contents or copyToRoot, not both"
        else map (pathLike fn "contents") (toList (a.contents or a.copyToRoot or [ ]));
      cfgRefs = storeRefs (toJSON (a.config or { }));
      roots = contents ++ cfgRefs;
      # What every layer of the image shares (a layer made apart must have
      # the bytes the image would give it).
      tarFlags = flag "--mtime" (a.mtime or null) ++ flag "--uid" (a.uid or null) ++ flag "--gid" (a.gid or null)
        ++ flag "--uname" (a.uname or null) ++ flag "--gname" (a.gname or null)
        ++ compressFlag (if format == "docker-archive" then "none" else a.compressor or "gz")
        ++ [ "--store-dir" storeDir "-q" ];
      # The layering's inputs: the same closure, roots, limit and base.
      planFlags = [ "--closure" ".attrs.json" ] ++ flags "--root" roots ++ flags "--contents" contents
        ++ flag "--max-layers" (a.maxLayers or null)
        ++ (if (a.fromImage or null) == null then [ ] else [ "--from-image" "${a.fromImage}" ]);
      given = map (pathLike fn "layers") (a.layers or [ ]);
      # layerDerivations: one derivation per automatic layer. The layering is
      # read back at evaluation time (import from derivation); each layer's
      # paths enter its derivation as plain store paths, so a layer is built
      # again only when its own paths change.
      layering = run {
        name = "${baseNameOf a.name}-layering.json";
        inherit roots;
        args = [ "layering" ] ++ planFlags ++ flags "--layer" given ++ [ "--store-dir" storeDir "-o" out ];
      };
      made = if !(a.layerDerivations or false) then [ ] else
        map (paths: buildLayerOf fn tarFlags (map builtins.storePath paths))
          (builtins.fromJSON (unsafeDiscardStringContext (builtins.readFile layering)));
    in
    {
      inherit a contents roots;
      args = [ "build-layered" ] ++ planFlags ++ imageFlags a ++ tarFlags ++ flags "--layer" (given ++ made)
        ++ (if (a.includeStorePaths or true) then [ ] else [ "--no-store-paths" ])
        ++ customFlags a ++ [ "--format" format ];
    };

  # One store layer on its own (strata layer): exactly these paths.
  buildLayerOf = fn: tarFlags: paths: run {
    name = "strata-layer";
    roots = paths;
    args = [ "layer" "--closure" ".attrs.json" ] ++ tarFlags ++ flags "--path" paths ++ [ "-o" out ];
  };

  # nix2container-style shared layers: deps' closure, less the paths of the
  # layers given; pass the result in an image's `layers`.
  buildLayer = args0:
    let
      a = check "buildLayer" [ "deps" "layers" "compressor" "mtime" "uid" "gid" "uname" "gname" ] {
        compressor = notCompressor;
      } args0;
      deps = map (pathLike "buildLayer" "deps") (toList (a.deps or [ ]));
    in
    run {
      name = "strata-layer";
      roots = deps;
      args = [ "layer" "--closure" ".attrs.json" ] ++ flags "--root" deps ++ flags "--layer" (a.layers or [ ])
        ++ flag "--mtime" (a.mtime or null) ++ flag "--uid" (a.uid or null) ++ flag "--gid" (a.gid or null)
        ++ flag "--uname" (a.uname or null) ++ flag "--gname" (a.gname or null)
        ++ compressFlag (a.compressor or "gz") ++ [ "--store-dir" storeDir "-q" "-o" out ];
    };

  # An image's derivation from its parsed arguments (layeredArgs,
  # imageArgs): their flags, then extra, then the output.
  imageRun = name: x: extra: run {
    inherit name;
    inherit (x) roots;
    args = x.args ++ extra ++ [ "-o" out ];
    files = scriptFiles x.a;
    passthru = passthruOf x.a null;
    meta = x.a.meta or { };
  };

  buildLayeredImage = args0:
    let
      l = layeredArgs "buildLayeredImage" fmt args0;
      e = checkOCIArgs "buildLayeredImage" (l.a.extraOCIArgs or { });
      fmt = ociFormat "buildLayeredImage" e;
    in
    imageRun (e.name or (baseNameOf l.a.name)) l [ ];

  dockerBuildLayeredImage = args0:
    let l = layeredArgs "dockerTools.buildLayeredImage" "docker-archive" args0; in
    if (l.a.compressor or "gz") != "none" && hasAttr "compressor" l.a then
      throw "strataTools.dockerTools.buildLayeredImage: argument 'compressor' must be \"none\": strata writes uncompressed docker-archives (compress the stream, or use the OCI functions, whose layers are compressed)"
    else if hasAttr "extraOCIArgs" l.a then throw "strataTools.dockerTools.buildLayeredImage: argument 'extraOCIArgs' is for the OCI functions"
    else imageRun "${baseNameOf l.a.name}.tar" l [ ];

  # An executable that writes the docker-archive to standard output.
  streamLayeredImage = args0:
    let l = layeredArgs "streamLayeredImage" "docker-archive" (removeAttrs args0 [ ]); in
    if hasAttr "compressor" l.a || hasAttr "extraOCIArgs" l.a then
      throw "strataTools.streamLayeredImage: argument '${if hasAttr "compressor" l.a then "compressor" else "extraOCIArgs"}' does not apply to a stream"
    else if (l.a.extraCommands or "") != "" || (l.a.fakeRootCommands or "") != "" then
      throw "strataTools.streamLayeredImage: extraCommands and fakeRootCommands need a build step; use buildLayeredImage"
    else run {
      name = "stream-${baseNameOf l.a.name}";
      inherit (l) roots;
      # At run time the closure is the script itself ("@self" carries it);
      # the config is inlined into a store file.
      executable = true;
      args = map (x: if x == ".attrs.json" then "@self" else x) l.args ++ [ "-o" "-" ];
      passthru = passthruOf l.a null // { isExe = true; };
      meta = l.a.meta or { };
    };

  # ---- buildImage ----
  imageKnown = [ "name" "tag" "fromImage" "fromImageName" "fromImageTag" "copyToRoot" "keepContentsDirlinks"
    "config" "architecture" "variant" "extraCommands" "uid" "gid" "runAsRoot" "diskSize" "buildVMMemorySize"
    "created" "compressor" "includeNixDB" "contents" "meta" "extraOCIArgs" "passthru" ];
  imageRefused = {
    runAsRoot = whenSet "is not supported: strata runs no VM (use extraCommands or fakeRootCommands)";
    variant = whenSet "is not supported yet (the image config has no variant)";
    compressor = notCompressor;
  };
  imageArgs = fn: format: args0:
    let
      a = check fn imageKnown imageRefused args0;
      roots =
        if a ? contents && a ? copyToRoot then throw "strataTools.${fn}: give copyToRoot or contents (deprecated), not both"
        else map (pathLike fn "copyToRoot") (toList (a.copyToRoot or a.contents or null));
      cfgRefs = storeRefs (toJSON (a.config or { }));
    in
    {
      inherit a;
      roots = roots ++ cfgRefs;
      args = [ "build" "--closure" ".attrs.json" "--store-dir" storeDir "-q" ] ++ imageFlags a
        ++ (if (a.fromImage or null) == null then [ ] else [ "--from-image" "${a.fromImage}" ])
        ++ flags "--copy-to-root" roots
        ++ flags "--root" cfgRefs
        ++ (if a.keepContentsDirlinks or false then [ "--keep-contents-dirlinks" ] else [ ])
        ++ flag "--uid" (a.uid or null) ++ flag "--gid" (a.gid or null)
        ++ flag "--from-image-name" (a.fromImageName or null) ++ flag "--from-image-tag" (a.fromImageTag or null)
        ++ customFlags a ++ [ "--format" format ];
    };

  buildImage = args0:
    let
      i = imageArgs "buildImage" fmt args0;
      e = checkOCIArgs "buildImage" (i.a.extraOCIArgs or { });
      fmt = ociFormat "buildImage" e;
    in
    imageRun (e.name or (baseNameOf i.a.name)) i (compressFlag (i.a.compressor or "gz"));

  dockerBuildImage = args0:
    let i = imageArgs "dockerTools.buildImage" "docker-archive" args0; in
    if (i.a.compressor or "gz") != "none" && hasAttr "compressor" i.a then
      throw "strataTools.dockerTools.buildImage: argument 'compressor' must be \"none\": strata writes uncompressed docker-archives"
    else imageRun "${baseNameOf i.a.name}.tar" i [ ];

  # ---- toOCIImage ----
  toOCIImage = args0:
    let
      a = check "toOCIImage" [ "docker-tarball" "name" "outputFormat" ] { } args0;
      tarball = pathLike "toOCIImage" "docker-tarball" a.docker-tarball;
      fmt = ociFormat "toOCIImage" a;
      bare = baseNameOf (toString tarball);
      hashed = builtins.match "[0-9a-z]{32}-(.*)" bare;
      base = tarball.name or (if hashed == null then bare else builtins.head hashed);
      stripped = builtins.head (split "\\.tar(\\.gz|\\.zst)?$" base);
    in
    run {
      name = if (a.name or null) != null then a.name else "${stripped}-oci";
      args = [ "convert" "${tarball}" "--format" fmt "-q" "-o" out ];
    };

  # ---- buildContainer ----
  buildContainer = args0:
    let
      a = check "buildContainer" [ "args" "mounts" "os" "arch" "readonly" ] { } args0;
      warnDeprecated = x: if a ? os || a ? arch then builtins.trace "strataTools.buildContainer: os and arch are deprecated and ignored" x else x;
      mountFlag = dest: m:
        let
          opts = m.options or [ ];
        in
        [ "--mount" ("type=${m.type or "bind"},source=${m.source},destination=${dest}"
          + (if opts == [ ] then "" else ",options=" + builtins.concatStringsSep "," opts)) ];
      mounts = concatMap (d: mountFlag d a.mounts.${d}) (attrNames (a.mounts or { }));
      progRefs = concatMap storeRefs a.args;
    in
    warnDeprecated (run {
      name = "oci-container";
      roots = progRefs;
      args = [ "container" "--closure" ".attrs.json" "--store-dir" storeDir "-q" ]
        ++ (if a.readonly or false then [ "--readonly" ] else [ ]) ++ mounts ++ [ "-o" out "--" ] ++ a.args;
    });

  withNixDb = f: args: f (args // { includeNixDB = true; });
in
{
  inherit buildLayeredImage streamLayeredImage buildImage toOCIImage buildContainer buildLayer;
  buildLayeredImageWithNixDb = withNixDb buildLayeredImage;
  buildImageWithNixDb = withNixDb buildImage;
  dockerTools = {
    buildLayeredImage = dockerBuildLayeredImage;
    buildImage = dockerBuildImage;
    inherit streamLayeredImage;
    buildLayeredImageWithNixDb = withNixDb dockerBuildLayeredImage;
    buildImageWithNixDb = withNixDb dockerBuildImage;
  };
}
