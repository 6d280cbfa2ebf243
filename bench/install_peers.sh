#!/usr/bin/env bash
# Install the peer tools the benchmarks compare against into bench/.tools/ (gitignored),
# from the package registries, with their ordinary clients. Idempotent: a tool already
# installed is kept. Prints the version of each at the end.
#
#   bash bench/install_peers.sh
#
# dbmate       npm install --prefix bench/.tools dbmate   (ships a linux-x64 binary)
# yoyo         bench/.tools/yoyo-venv   (yoyo-migrations + psycopg2-binary)
# squawk       bench/.tools/squawk-venv (squawk-cli, ships the binary in the wheel)
# sql-migrate  apt-get install sql-migrate (Debian package; needs root)
# py-spy       bench/.tools/profile-venv (the sampling profiler, to see where time goes)
#
# Peers are benchmark inputs, never dependencies of the project. A peer that cannot be
# installed is reported and skipped; the benchmarks then say it did not run.
set -u

here="$(cd "$(dirname "$0")" && pwd)"
tools="$here/.tools"
python="${PYTHON:-python3}"
mkdir -p "$tools"
failed=()

install_dbmate() {
    [ -x "$tools/node_modules/.bin/dbmate" ] && return 0
    npm install --silent --no-audit --no-fund --prefix "$tools" dbmate
}

# install_venv NAME PACKAGE... : a private virtualenv under bench/.tools/NAME
install_venv() {
    local name="$1"; shift
    local venv="$tools/$name"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || return 1
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

install_sql_migrate() {
    command -v sql-migrate >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "sql-migrate: run as root (or: sudo apt-get install sql-migrate)" >&2
        return 1
    fi
    apt-get install -y -qq sql-migrate >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq sql-migrate >/dev/null; }
}

install_dbmate || failed+=(dbmate)
install_venv yoyo-venv yoyo-migrations psycopg2-binary || failed+=(yoyo)
install_venv squawk-venv squawk-cli || failed+=(squawk)
install_sql_migrate || failed+=(sql-migrate)
install_venv profile-venv py-spy || failed+=(py-spy)

echo "installed peers:"
[ -x "$tools/node_modules/.bin/dbmate" ] && echo "  dbmate      $("$tools/node_modules/.bin/dbmate" --version 2>&1 | head -1)"
[ -x "$tools/yoyo-venv/bin/yoyo" ] && echo "  yoyo        $("$tools/yoyo-venv/bin/pip" show yoyo-migrations 2>/dev/null | sed -n 's/^Version: //p')"
[ -x "$tools/squawk-venv/bin/squawk" ] && echo "  squawk      $("$tools/squawk-venv/bin/squawk" --version 2>&1 | head -1)"
command -v sql-migrate >/dev/null 2>&1 && echo "  sql-migrate $(dpkg-query -W -f '${Version}\n' sql-migrate 2>/dev/null)"
[ -x "$tools/profile-venv/bin/py-spy" ] && echo "  py-spy      $("$tools/profile-venv/bin/py-spy" --version 2>&1 | head -1)"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "not installed: ${failed[*]}" >&2
    exit 1
fi
