#!/bin/sh
# The Debian package (cmake/NvmecusePackaging.cmake) of a built tree: cpack
# builds it; its control fields name the package, the programs' version and
# the host's architecture; its Depends names the package of every library the
# programs link; it holds exactly what `cmake --install --prefix /usr` puts
# down; and dpkg installs it into a scratch root whose package database holds
# only its dependencies as this host has them (so a Depends this host cannot
# satisfy fails), the daemon runs from there, and dpkg removes every file again.
# Usage: check-package.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/tap.sh"

if cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" >"$work/cpack.log" 2>&1; then
  pass "cpack builds the package"
else
  fail "cpack builds the package" "$(tail -5 "$work/cpack.log")"
fi
deb=$(ls "$work"/out/nvmecuse_*.deb 2>/dev/null | head -1)
check "the package is named nvmecuse_<version>_<arch>.deb" test -n "$deb"
[ -n "$deb" ] || { summary; exit 1; }

field() { dpkg-deb -f "$deb" "$1"; }
version=$("$build/apps/nvmecused/nvmecused" --version | cut -d' ' -f2)
check "Package is nvmecuse" test "$(field Package)" = nvmecuse
check "Version is the programs' ($version)" test "$(field Version)" = "$version"
check "Architecture is this host's" test "$(field Architecture)" = "$(dpkg --print-architecture)"
has_address() { case "$1" in *"<"*@*">") ;; *) return 1 ;; esac; }
check "Maintainer has an address" has_address "$(field Maintainer)"

# The files: exactly those `cmake --install` puts under /usr.
DESTDIR=$work/reference cmake --install "$build" --prefix /usr >/dev/null 2>&1
(cd "$work/reference" && find . ! -type d | sed 's|^\./||' | sort) >"$work/expected"
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./||; /\/$/d; /^$/d' | sort >"$work/packaged"
check "the package holds what cmake --install puts down ($(wc -l <"$work/expected") files)" \
  diff -u "$work/expected" "$work/packaged"
for f in usr/sbin/nvmecused usr/bin/nvmecuse-perf usr/lib/modules-load.d/nvmecuse.conf; do
  check "the package installs /$f" grep -qx "$f" "$work/packaged"
done

# The names Depends gives, one package per clause (no alternatives are used);
# dpkg checks their versions below.
dependency_names=$(field Depends | tr ',' '\n' | sed 's/^ *//; s/[ (].*//; /^$/d')
# one_of " A B C " WORD...: a WORD is one of A, B, C.
one_of() {
  set_of=$1
  shift
  for word in "$@"; do case "$set_of" in *" $word "*) return 0 ;; esac; done
  return 1
}
# The package of every library an installed program needs (ELF NEEDED,
# resolved by ldd) is among them, by its name or a virtual one it provides
# (libspdlog1.10 provides libspdlog1.10-fmt9, the name its shlibs file gives).
owners=""
for program in $(cd "$work/reference" && find usr/bin usr/sbin -type f); do
  for soname in $(objdump -p "$work/reference/$program" | awk '$1 == "NEEDED" { print $2 }'); do
    path=$(ldd "$work/reference/$program" | awk -v so="$soname" '$1 == so { print $3 }')
    owner=$(dpkg -S "$(realpath "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null)
    owner=${owner%%:*}
    owners="$owners $owner"
    names=" $owner $(dpkg-query -W -f='${Provides}' "$owner" 2>/dev/null | sed 's/([^)]*)//g; s/,/ /g') "
    check "Depends names $owner (${program##*/} needs $soname)" one_of "$names" $dependency_names
  done
done

# A scratch root whose dpkg database holds the dependencies as installed here
# (and the packages that provide the virtual ones).
root=$work/root
admin=$root/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers"
: >"$admin/available"
for name in $(printf "%s\n" $dependency_names $owners | sort -u); do
  dpkg-query -s "$name" >>"$admin/status" 2>/dev/null && echo >>"$admin/status"
done
dpkg() { command dpkg --root="$root" --force-not-root --log=/dev/null "$@"; }
if dpkg -i "$deb" >"$work/dpkg.log" 2>&1; then
  pass "dpkg -i installs it, its Depends satisfied by this host's packages"
else
  fail "dpkg -i installs it, its Depends satisfied by this host's packages" "$(tail -5 "$work/dpkg.log")"
fi
check "dpkg has it installed" test "$(dpkg-query --admindir="$admin" -W -f='${db:Status-Status}' nvmecuse)" = installed

daemon=$root/usr/sbin/nvmecused
example=$root/usr/share/doc/nvmecuse/examples/emulated-controller.json
check "the installed nvmecused runs" test "$("$daemon" --version 2>&1)" = "nvmecused $version"
out=$("$daemon" --emulate --config "$example" --check-config 2>&1)
check "the installed nvmecused accepts the installed example configuration" \
  test "$out" = "$example: OK (3 namespace(s))"
check "the installed modules-load.d entry loads cuse" grep -qx cuse "$root/usr/lib/modules-load.d/nvmecuse.conf"
# systemctl enable --now nvmecused: the unit is where systemd looks for a
# package's units, and it starts the daemon the package installed.
unit=$root/usr/lib/systemd/system/nvmecused.service
check "the package installs /usr/lib/systemd/system/nvmecused.service" test -s "$unit"
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit" 2>/dev/null)
check "the unit's ExecStart ($exec_start) is the installed nvmecused" \
  test "$exec_start" = /usr/sbin/nvmecused -a -x "$root$exec_start"

dpkg --purge nvmecuse >>"$work/dpkg.log" 2>&1
check "dpkg --purge removes every file" test -z "$(find "$root/usr" ! -type d 2>/dev/null)"

summary
