#!/bin/sh
# System packages the test suite drives for real: Debian's Chromium (the dashboard's browser
# tests, through Playwright with executable_path=/usr/bin/chromium; `playwright install` is
# never run) and PostgreSQL (the store on a real server). Idempotent: installs only what is
# missing. Needs root (or sudo) and apt-get.
set -eu
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
    || missing="$missing postgresql"
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # the list is meant to split
$SUDO apt-get install -y -qq --no-install-recommends $missing
