# nixpkgs overlay: pkgs.strata (built from this source) and pkgs.strataTools
# (nix/default.nix with it). Opting in to replace ociTools' image functions:
#   import ./nix/overlay.nix { replaceOciTools = true; }
{ replaceOciTools ? false, replaceDockerTools ? false }:
final: prev:
let
  strataTools = import ./default.nix { strata = final.strata; inherit (final.stdenv.hostPlatform) system; };
in
{
  strata = final.callPackage ./package.nix { };
  inherit strataTools;
}
// (if replaceOciTools then {
  ociTools = prev.ociTools // { inherit (strataTools) buildImage buildLayeredImage toOCIImage buildContainer; };
} else { })
// (if replaceDockerTools then {
  dockerTools = prev.dockerTools // strataTools.dockerTools;
} else { })
