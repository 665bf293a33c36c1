#!/usr/bin/env bash
# Regenerates the real-cargo lockfiles next to this script (cargo 1.95, no network).
# One workspace depends on: a crates.io crate (served from a local-registry through
# [source] replacement, so Cargo.lock keeps the crates.io source string), the same crate
# name at another version from a sparse alternate registry on 127.0.0.1:8765, a crate with
# a mixed-case name, a git dependency (file://) and a path dependency. The lockfile is
# written once per format by setting package.rust-version (1.40 → V1, 1.41 → V2,
# 1.53 → V3, 1.83 → V4). Paths are fixed (/tmp/cv-fixtures) so the output is reproducible.
set -euo pipefail
OUT=$(cd "$(dirname "$0")" && pwd)
R=/tmp/cv-fixtures
PORT=8765
rm -rf "$R"; mkdir -p "$R"

crate() {  # crate NAME VERSION
  local dir="$R/src/$1-$2"
  mkdir -p "$dir/src"
  printf '[package]\nname = "%s"\nversion = "%s"\nedition = "2015"\nlicense = "MIT"\ndescription = "fixture"\n' "$1" "$2" > "$dir/Cargo.toml"
  echo "pub fn v() -> &'static str { \"$1 $2\" }" > "$dir/src/lib.rs"
  (cd "$dir" && cargo package -q --no-verify --allow-dirty --offline)
  echo "$dir/target/package/$1-$2.crate"
}
line() {  # line NAME VERSION CRATEFILE
  printf '{"name":"%s","vers":"%s","deps":[],"cksum":"%s","features":{},"yanked":false}\n' \
    "$1" "$2" "$(sha256sum "$3" | cut -d' ' -f1)"
}

# crates.io stand-in: a local registry
mkdir -p "$R/lr/index/2" "$R/lr/index/he/ll" "$R/lr/index/mi/xe"
f=$(crate ab 0.1.0); cp "$f" "$R/lr/"; line ab 0.1.0 "$f" > "$R/lr/index/2/ab"
f=$(crate hello_util 0.1.0); cp "$f" "$R/lr/"; line hello_util 0.1.0 "$f" > "$R/lr/index/he/ll/hello_util"
f=$(crate MixedCase 0.1.0); cp "$f" "$R/lr/"; line MixedCase 0.1.0 "$f" > "$R/lr/index/mi/xe/mixedcase"

# sparse alternate registry
mkdir -p "$R/sparse/index/he/ll" "$R/sparse/dl"
f=$(crate hello_util 0.2.0); cp "$f" "$R/sparse/dl/"; line hello_util 0.2.0 "$f" > "$R/sparse/index/he/ll/hello_util"
printf '{"dl":"http://127.0.0.1:%s/dl/{crate}-{version}.crate"}\n' $PORT > "$R/sparse/index/config.json"

# git dependency
mkdir -p "$R/gitdep/src"
printf '[package]\nname = "gitdep"\nversion = "0.1.0"\nedition = "2015"\n' > "$R/gitdep/Cargo.toml"
echo 'pub fn g() {}' > "$R/gitdep/src/lib.rs"
(cd "$R/gitdep" && git init -q -b main && git add -A \
  && git -c user.name=f -c user.email=f@f -c commit.gpgsign=false commit -q -m init \
       --date=2020-01-01T00:00:00Z) \
  || { echo "git failed"; exit 1; }

export CARGO_HOME="$R/home"; mkdir -p "$CARGO_HOME"
cat > "$CARGO_HOME/config.toml" <<TOML
[registries.local]
index = "sparse+http://127.0.0.1:$PORT/index/"
[source.crates-io]
replace-with = "lr"
[source.lr]
local-registry = "$R/lr"
TOML

python3 -m http.server $PORT --bind 127.0.0.1 --directory "$R/sparse" >"$R/http.log" 2>&1 &
SRV=$!; trap 'kill $SRV' EXIT; sleep 1

mkdir -p "$R/app/localpath/src" "$R/app/src"
printf '[package]\nname = "localpath"\nversion = "0.1.0"\nedition = "2015"\n' > "$R/app/localpath/Cargo.toml"
echo 'pub fn l() {}' > "$R/app/localpath/src/lib.rs"
echo 'fn main() {}' > "$R/app/src/main.rs"
for rv in 1.40 1.41 1.53 1.83; do
  cat > "$R/app/Cargo.toml" <<TOML
[package]
name = "app"
version = "0.1.0"
edition = "2015"
rust-version = "$rv"

[dependencies]
ab = "0.1"
MixedCase = "0.1"
hello_util_old = { package = "hello_util", version = "0.1" }
hello_util = { version = "0.2", registry = "local" }
gitdep = { git = "file://$R/gitdep", branch = "main" }
localpath = { path = "localpath" }
TOML
  rm -f "$R/app/Cargo.lock"
  (cd "$R/app" && cargo generate-lockfile -q)
  cp "$R/app/Cargo.lock" "$OUT/workspace-rust-$rv.lock"
done

# A workspace with a single package and no dependencies, in each format.
mkdir -p "$R/single/src"; echo 'fn main() {}' > "$R/single/src/main.rs"
for rv in 1.40 1.41 1.53 1.83; do
  printf '[package]\nname = "single"\nversion = "0.1.0"\nedition = "2015"\nrust-version = "%s"\n' "$rv" > "$R/single/Cargo.toml"
  rm -f "$R/single/Cargo.lock"
  (cd "$R/single" && cargo generate-lockfile -q --offline)
  cp "$R/single/Cargo.lock" "$OUT/single-rust-$rv.lock"
done
cargo --version > "$OUT/CARGO_VERSION"
