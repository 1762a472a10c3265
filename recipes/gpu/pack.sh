#!/usr/bin/env bash
# Pack what a bare CUDA machine (no package registry) needs to generate training data and train:
# the TTS engines (espeak-ng library + data, Festival + its libraries, lexicons and training voices,
# MBROLA + its training voices) as one tar.xz, and wheels of the Python packages its image lacks.
# Run on a Debian machine where `apt-get install espeak-ng festival festvox-kallpc16k festvox-us-slt-hts
# festvox-us1 festvox-us3 festvox-en1 festvox-rablpc16k festvox-don mbrola-us1 mbrola-us3 mbrola-en1` was done.
# Usage: recipes/gpu/pack.sh .gpu   (git-ignored; name it in the device call's carry)
set -euo pipefail
out=${1:?usage: pack.sh OUT_DIR}
mkdir -p "$out/wheels"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# binaries and the shared libraries they load (not glibc or the C++ runtime: the target has newer ones)
libs=$( { ldd /usr/bin/festival; ldd /usr/bin/mbrola; ldd /usr/lib/x86_64-linux-gnu/libespeak-ng.so.1; } \
  | awk '/=>/ {print $3}' | sort -u | grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt)\.so' )
mkdir -p "$stage/lib" "$stage/bin"
for l in $libs /usr/lib/x86_64-linux-gnu/libespeak-ng.so.1; do cp -L "$l" "$stage/lib/"; done
cp /usr/bin/festival "$stage/bin/festival-bin"
cp /usr/bin/mbrola "$stage/bin/"
mkdir -p "$stage/share/festival/voices/english" "$stage/share/festival/voices/us" "$stage/share/mbrola"
( cd /usr/share/festival && tar cf - --exclude=voices . ) | ( cd "$stage/share/festival" && tar xf - )
for v in kal_diphone rab_diphone don_diphone us1_mbrola us3_mbrola en1_mbrola; do
  cp -a "/usr/share/festival/voices/english/$v" "$stage/share/festival/voices/english/"
done
cp -a /usr/share/festival/voices/us/cmu_us_slt_arctic_hts "$stage/share/festival/voices/us/"
for v in us1 us3 en1; do cp -a "/usr/share/mbrola/$v" "$stage/share/mbrola/"; done
# Festival's Scheme files name /usr/share/festival: point them at the moved library folder instead
sed -i "s|'(\"/usr/share/festival/voices/\")|(list (path-append libdir \"voices/\"))|" "$stage/share/festival/voices.scm"
sed -i "s|'(\"/usr/share/festival/languages/\" )|(list (path-append libdir \"languages/\"))|" "$stage/share/festival/languages.scm"
sed -i 's|(path-as-directory "/usr/share/festival/dicts/")|(path-as-directory (path-append libdir "dicts/"))|' "$stage/share/festival/lexicons.scm"
if grep -q '"/usr/share/festival/' "$stage"/share/festival/{voices,languages,lexicons}.scm; then
  echo "pack.sh: could not repoint Festival's paths" >&2; exit 1
fi
# festival's voices point at ../../../../mbrola/<voice>: keep that layout (share/festival/voices/english/x)
cp -a /usr/lib/x86_64-linux-gnu/espeak-ng-data "$stage/share/"
# `festival` on PATH: the binary with its library folder moved
cat > "$stage/bin/festival" <<'W'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
exec "$here/festival-bin" --libdir "$here/../share/festival" --datadir "$here/../share/festival" "$@"
W
chmod +x "$stage/bin/festival"
tar -C "$stage" -cJf "$out/tts.tar.xz" .
for pkg in cffi==2.0.0 pycparser==3.0 soundfile==0.14.0 soxr==1.1.0 praatio==6.2.2 num2words==0.5.14; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$out/wheels" "$pkg"
done
ls -la "$out" "$out/wheels"
