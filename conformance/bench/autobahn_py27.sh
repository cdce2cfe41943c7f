#!/bin/sh
# `make autobahn-deps`: Autobahn|Testsuite (wstest) on a Python 2.7 of its own, in DIR (default
# .py27), for `make bench-autobahn`. Debian 12 has no Python 2.7; Debian 11 (bullseye) does, from
# the same archive: its packages are downloaded with a private apt list (the system's sources and
# installed packages are left alone), unpacked into DIR with `dpkg -x` (nothing is installed), and
# pip 20.3.4, the last pip for Python 2.7, installs autobahntestsuite from the package index.
# DIR/wstest runs it. Needs apt-get, dpkg-deb and a C compiler (two C extensions of Autobahn's);
# exits non-zero with one line saying what is missing otherwise.
set -eu
DIR=$(mkdir -p "${1:-.py27}" && cd "${1:-.py27}" && pwd)
PIP_PY3=${PIP_PY3:-.venv/bin/python}
SUITE_VERSION=25.10.1
PACKAGES="python2.7 python2.7-minimal libpython2.7-minimal libpython2.7-stdlib libpython2.7 libpython2.7-dev python2.7-dev libffi7 libssl1.1"

fail() { echo "autobahn-deps: $*" >&2; exit 1; }
command -v apt-get >/dev/null || fail "no apt-get: this needs a Debian-based machine (or pass WSTEST=CMD to make bench-autobahn)"
command -v dpkg-deb >/dev/null || fail "no dpkg-deb"
command -v cc >/dev/null || fail "no C compiler (cc): Autobahn's wsaccel and ujson are built from source"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || fail "no $KEYRING (package debian-archive-keyring)"

APT="$DIR/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$DIR/debs"
echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian bullseye main" > "$APT/sources.list"
set -- -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
       -o Dir::State::Lists="$APT/lists" -o Dir::Cache="$APT/cache" -o APT::Sandbox::User=root
apt-get -q "$@" update >/dev/null || fail "apt-get update of Debian 11's package list failed"
(cd "$DIR/debs" && apt-get -q "$@" download $PACKAGES >/dev/null) || fail "downloading $PACKAGES failed"
ROOT="$DIR/root"
rm -rf "$ROOT" && mkdir -p "$ROOT"
for deb in "$DIR"/debs/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done

SITE="$ROOT/usr/lib/python2.7/site-packages"
mkdir -p "$DIR/boot" "$SITE"
# .pth files (zope's namespace package) are read only in a site directory
echo "import site; site.addsitedir('$SITE')" > "$DIR/boot/sitecustomize.py"
cat > "$DIR/python2.7" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH="$ROOT/usr/lib/x86_64-linux-gnu" PYTHONHOME="$ROOT/usr" PYTHONPATH="$DIR/boot"
exec "$ROOT/usr/bin/python2.7" "\$@"
EOF
printf '#!/bin/sh\nexec "%s/python2.7" -m autobahntestsuite.wstest "$@"\n' "$DIR" > "$DIR/wstest"
chmod +x "$DIR/python2.7" "$DIR/wstest"

WHEELS="$DIR/wheels"
mkdir -p "$WHEELS"
"$PIP_PY3" -m pip download --quiet --no-deps -d "$WHEELS" pip==20.3.4 setuptools==44.1.1 wheel==0.37.1 \
    || fail "downloading pip 20.3.4 for Python 2.7 failed"
# the machine's pip configuration (constraints for Python 3) does not apply to this interpreter
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
export CFLAGS="-I$ROOT/usr/include/python2.7 -I$ROOT/usr/include" LDFLAGS="-L$ROOT/usr/lib/x86_64-linux-gnu"
"$DIR/python2.7" "$WHEELS/pip-20.3.4-py2.py3-none-any.whl/pip" install --quiet --no-index --find-links "$WHEELS" \
    --prefix "$ROOT/usr" pip setuptools wheel || fail "installing pip into Python 2.7 failed"
"$DIR/python2.7" -m pip install --quiet --prefix "$ROOT/usr" "autobahntestsuite==$SUITE_VERSION" \
    || fail "pip install autobahntestsuite==$SUITE_VERSION failed (see above)"
"$DIR/wstest" -a >/dev/null 2>&1 || fail "$DIR/wstest does not run"
echo "autobahn-deps: $("$DIR/wstest" -a 2>/dev/null | tr '\n' ' ')on $("$DIR/python2.7" -c 'import sys; print(sys.version.split()[0])' 2>&1) in $DIR"
