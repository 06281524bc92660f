# strata built from this source with nixpkgs' stdenv and the libraries the
# Makefile links (libdeflate statically when nixpkgs has the static archive).
{ lib, stdenv, pkg-config, libdeflate, libarchive, jansson, hwloc, openssl, zstd, zlib }:
stdenv.mkDerivation {
  pname = "strata";
  version = "0.2.0";
  src = lib.cleanSource ../.;
  nativeBuildInputs = [ pkg-config ];
  buildInputs = [ libdeflate libarchive jansson hwloc openssl zstd zlib ];
  makeFlags = [ "PREFIX=${placeholder "out"}" ];
  enableParallelBuilding = true;
  doCheck = false; # the suite needs root, runc, skopeo, a registry: run `make check` outside the sandbox
  meta = {
    description = "OCI images from Nix store paths, one layer per store path, in parallel";
    platforms = lib.platforms.linux;
    mainProgram = "strata";
  };
}
