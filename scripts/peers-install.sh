#!/usr/bin/env bash
# Fetches the independent SMTP peers the tests and the bench drive tsmtpd with, without installing
# Postfix or OpenSMTPD as the system MTA: each .deb is downloaded and unpacked into .peers/<name>.
# Prints the path of an env file (.peers/postfix/peers.env: SMTP_SOURCE, SMTP_SINK wrappers, POSTFIX_*).
# Used by .ci/run and scripts/bench/run.mjs; idempotent.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${PEERS_DIR:-$repo/.peers}/postfix"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log() { echo "peers-install: $*" >&2; }

# smtp-source/smtp-sink link postfix's own libraries (shipped in the .deb) and these system ones.
libs=(libdb5.3 libicu72 libnsl2 libsasl2-2 libssl3)
if [[ $(id -u) -eq 0 ]]; then
  missing=()
  for p in "${libs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing libraries: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$work/apt.log" 2>&1 \
      || { cat "$work/apt.log" >&2; exit 1; }
  fi
fi

if [[ ! -x "$dest/usr/sbin/smtp-source" ]]; then
  log "downloading postfix into $dest"
  # apt-get download writes into the current directory; _apt cannot read a root-only mktemp dir.
  chmod 0755 "$work"
  (cd "$work" && apt-get download -q postfix >"$work/dl.log" 2>&1) || { cat "$work/dl.log" >&2; exit 1; }
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  dpkg -x "$work"/postfix_*.deb "$dest.tmp"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
fi

libdir="$dest/usr/lib/postfix"
for b in smtp-source smtp-sink; do
  if LD_LIBRARY_PATH="$libdir" ldd "$dest/usr/sbin/$b" | grep -q 'not found'; then
    log "$b has unresolved libraries:"
    LD_LIBRARY_PATH="$libdir" ldd "$dest/usr/sbin/$b" | grep 'not found' >&2
    exit 1
  fi
done

# Wrappers so callers need not know about the private library directory.
mkdir -p "$dest/bin"
for b in smtp-source smtp-sink; do
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
    "$libdir" "$dest/usr/sbin/$b" >"$dest/bin/$b"
  chmod 0755 "$dest/bin/$b"
done

# OpenSMTPD 6.8 for the bench (packages/bench/src/servers/opensmtpd.ts): unpacked, never installed (the
# package conflicts with postfix and would take port 25); its libraries come from apt.
osd="${PEERS_DIR:-$repo/.peers}/opensmtpd"
if [[ ${PEERS_OPENSMTPD:-1} == 1 && ! -x "$osd/usr/sbin/smtpd" ]]; then
  log "downloading opensmtpd into $osd"
  chmod 0755 "$work"
  (cd "$work" && apt-get download -q opensmtpd >"$work/dl-osd.log" 2>&1) || { cat "$work/dl-osd.log" >&2; exit 1; }
  if [[ $(id -u) -eq 0 ]]; then
    osdlibs=(libevent-2.1-7 libdb5.3 libpam0g libssl3 zlib1g libcrypt1)
    missing=()
    for p in "${osdlibs[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
      log "installing libraries: ${missing[*]}"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$work/apt-osd.log" 2>&1 \
        || { cat "$work/apt-osd.log" >&2; exit 1; }
    fi
  fi
  rm -rf "$osd.tmp" && mkdir -p "$osd.tmp"
  dpkg -x "$work"/opensmtpd_*.deb "$osd.tmp"
  rm -rf "$osd" && mv "$osd.tmp" "$osd"
  if ldd "$osd/usr/sbin/smtpd" | grep -q 'not found'; then
    log "opensmtpd has unresolved libraries:"
    ldd "$osd/usr/sbin/smtpd" | grep 'not found' >&2
    exit 1
  fi
fi

envfile="$dest/peers.env"
cat >"$envfile" <<ENV
SMTP_SOURCE=$dest/bin/smtp-source
SMTP_SINK=$dest/bin/smtp-sink
POSTFIX_ROOT=$dest
POSTFIX_LIBDIR=$libdir
OPENSMTPD_ROOT=$osd
ENV
echo "$envfile"
