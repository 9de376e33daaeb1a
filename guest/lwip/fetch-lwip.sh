#!/bin/sh
# Fetches lwIP 2.1.3 from Debian's `lwip` source package and unpacks it into <dest-dir>.
#
#   guest/lwip/fetch-lwip.sh <dest-dir>        (make deps: build/third_party/lwip-2.1.3)
#
# apt runs with a private configuration kept beside the destination (<dest-dir>/../apt):
# its own sources.list (one deb-src line for bookworm, on the mirror the system's sources
# name), its own lists and cache, and trust in Debian's archive keyring only, so InRelease
# is verified and the .dsc and tarballs are checked against the signed Sources index. The
# system's apt sources, lists, cache and configuration fragments are never read or written,
# and no root is needed (apt's download sandbox user is whoever runs this: the files land in
# the build tree, which apt's own _apt user usually cannot write). Nothing is done when
# <dest-dir> already holds the unpacked source.
set -eu

want_version=2.1.3
suite=bookworm
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

die() { echo "fetch-lwip: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 <dest-dir>"
dest=$1
stamp=$dest/.fetched-from-debian
if [ -f "$stamp" ]; then
    echo "fetch-lwip: $dest already holds $(cat "$stamp")"
    exit 0
fi
[ -e "$dest" ] && die "$dest exists but is not a complete fetch: remove it and run again"

for tool in apt-get dpkg-source; do
    command -v $tool >/dev/null || die "$tool is missing (make deps installs dpkg-dev)"
done
[ -r "$keyring" ] || die "$keyring is missing (make deps installs debian-archive-keyring)"

# The mirror: the first URI the system's sources give for the plain `$suite` suite (deb822
# .sources files and one-line .list files), else deb.debian.org. LWIP_MIRROR overrides it.
system_mirror() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        case $f in
        *.sources)
            # One stanza per blank-line-separated block: print its URIs when Suites has $suite.
            awk -v suite="$suite" '
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { if (ok && uri != "") { print uri; exit } ok = 0; uri = ""; next }
                /^URIs:/ { uri = $2 }
                /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
                END { if (ok && uri != "") print uri }' "$f"
            ;;
        *)
            # deb [options] uri suite components...
            awk -v suite="$suite" '
                $1 == "deb" || $1 == "deb-src" {
                    i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == suite) { print $i; exit }
                }' "$f"
            ;;
        esac
    done | head -n 1
}
mirror=${LWIP_MIRROR:-$(system_mirror)}
mirror=${mirror:-http://deb.debian.org/debian}

parent=$(dirname "$dest")
mkdir -p "$parent"
parent=$(cd "$parent" && pwd)
apt_dir=$parent/apt
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/apt.conf.d" "$apt_dir/trusted.gpg.d" \
    "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/download"

echo "deb-src [signed-by=$keyring] $mirror $suite main" >"$apt_dir/sources.list"
# Every Dir::Etc file apt would read is redirected here; Trusted/TrustedParts point at an
# empty place so the only key apt accepts is the signed-by keyring above.
cat >"$apt_dir/apt.conf" <<CONF
Dir::Etc::main "$apt_dir/apt.conf.main";
Dir::Etc::Parts "$apt_dir/apt.conf.d";
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/sources.list.d";
Dir::Etc::Trusted "$apt_dir/trusted.gpg";
Dir::Etc::TrustedParts "$apt_dir/trusted.gpg.d";
Dir::Etc::Preferences "$apt_dir/preferences";
Dir::Etc::PreferencesParts "$apt_dir/preferences.d";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
Dir::Cache::srcpkgcache "";
Dir::Cache::pkgcache "";
APT::Get::List-Cleanup "true";
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::AllowInsecureRepositories "false";
APT::Sandbox::User "$(id -un)";
CONF
export APT_CONFIG="$apt_dir/apt.conf"

echo "fetch-lwip: apt-get update ($mirror $suite, deb-src only, private lists in $apt_dir)"
apt-get -q update || die "apt-get update failed for $mirror $suite (see above)"

version=$(apt-cache showsrc lwip | awk '/^Version:/ { print $2; exit }')
[ -n "$version" ] || die "no lwip source package in $mirror $suite"
case $version in
    "$want_version"*) ;;
    *) die "Debian's lwip is $version, expected $want_version*" ;;
esac

echo "fetch-lwip: downloading lwip $version"
(cd "$apt_dir/download" && apt-get -q source --download-only "lwip=$version") \
    || die "apt-get source lwip=$version failed (see above)"

dsc=$apt_dir/download/lwip_$(echo "$version" | sed 's/^[0-9]*://').dsc
[ -f "$dsc" ] || die "$dsc was not downloaded"

# dpkg-source checks the tarballs against the .dsc (whose hash apt checked against the
# signed index) and applies Debian's patches. gpgv may say it cannot check the .dsc's own
# signature: that is the uploader's key, in debian-keyring, which we do not need because
# the signed index already vouches for the .dsc. Unpack beside, then rename, so an
# interrupted run never leaves a half-unpacked tree that looks fetched.
tmp=$dest.partial
rm -rf "$tmp"
dpkg-source -q --no-copy -x "$dsc" "$tmp" || die "dpkg-source -x $dsc failed"
[ -f "$tmp/src/core/tcp.c" ] || die "$tmp does not look like lwIP (no src/core/tcp.c)"
echo "lwip $version from $mirror $suite" >"$tmp/.fetched-from-debian"
mv "$tmp" "$dest"
echo "fetch-lwip: unpacked lwip $version into $dest"
