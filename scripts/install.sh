#!/bin/bash
# Builds mesolite, installs it, and runs the agent on its defaults.
#
#   scripts/install.sh     (as root; `sudo scripts/install.sh` from another account)
#
# Installs /usr/local/bin/mesolite, /etc/mesolite/agent.conf (from conf/agent.conf; an existing one
# is kept), /etc/systemd/system/mesolite.service and the README. With systemd as PID 1 the service is
# enabled and (re)started; otherwise the agent is started in the background with its log in
# /var/log/mesolite.log and its pid in /run/mesolite.pid (a rerun stops that agent first; its
# containers keep running and are re-adopted). Then waits for the socket and prints `mesolite ps`.
#
# MESOLITE_BINARY=PATH installs a prebuilt binary instead of building (for packaging and tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "install: $*" >&2; exit 1; }
# alive PID: running and not a zombie (an exited background child stays a zombie until reaped).
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"

prefix=/usr/local
conf=/etc/mesolite/agent.conf
unit_dir=/etc/systemd/system
log=/var/log/mesolite.log
pidfile=/run/mesolite.pid

bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  # sudo resets PATH: look for cargo where rustup puts it too.
  for d in "$HOME/.cargo/bin" ${SUDO_USER:+"$(getent passwd "$SUDO_USER" | cut -d: -f6)/.cargo/bin"}; do
    [ -d "$d" ] && PATH=$PATH:$d
  done
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
  "$root/scripts/packages.sh" build
  echo "install: cargo build --release"
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
[ -x "$bin" ] || die "no executable $bin"

# Copy then rename: replacing the file under a running agent must not fail with ETXTBSY.
install -d "$prefix/bin" /etc/mesolite "$prefix/share/doc/mesolite"
cp "$bin" "$prefix/bin/.mesolite.new"
chmod 0755 "$prefix/bin/.mesolite.new"
mv -f "$prefix/bin/.mesolite.new" "$prefix/bin/mesolite"
echo "install: $prefix/bin/mesolite ($(stat -c %s "$prefix/bin/mesolite") bytes)"
if [ -e "$conf" ]; then
  echo "install: keeping the existing $conf"
elif [ -f "$root/conf/agent.conf" ]; then
  install -m 0644 "$root/conf/agent.conf" "$conf"
  echo "install: $conf"
else
  printf '# mesolite agent configuration: `name = value` lines, Mesos flag names.\n' > "$conf"
  echo "install: $conf (empty: embedded defaults)"
fi
install -m 0644 "$root/systemd/mesolite.service" "$unit_dir/mesolite.service" 2>/dev/null \
  || { install -d "$unit_dir"; install -m 0644 "$root/systemd/mesolite.service" "$unit_dir/mesolite.service"; }
[ -f "$root/README.md" ] && install -m 0644 "$root/README.md" "$prefix/share/doc/mesolite/README.md"

# The socket the agent will listen on: env beats file beats default, as in the agent.
socket=${MESOLITE_SOCKET:-}
if [ -z "$socket" ]; then
  socket=$(sed -n 's/^[[:space:]]*socket[[:space:]]*=[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$conf" | tail -1)
fi
socket=${socket:-/run/mesolite/agent.sock}

if [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm=)" = systemd ]; then
  systemctl daemon-reload
  systemctl enable mesolite.service >/dev/null
  if systemctl is-active --quiet mesolite.service; then
    systemctl restart mesolite.service
  else
    systemctl start mesolite.service
  fi
  pid=$(systemctl show -p MainPID --value mesolite.service)
  echo "install: mesolite.service enabled and running (pid $pid)"
  logs="journalctl -u mesolite.service"
else
  if [ -f "$pidfile" ]; then
    old=$(cat "$pidfile")
    if [ -n "$old" ] && [ "$(cat "/proc/$old/comm" 2>/dev/null)" = mesolite ]; then
      echo "install: stopping the previous agent (pid $old)"
      kill -TERM "$old"
      for _ in $(seq 100); do [ -d "/proc/$old" ] || break; sleep 0.1; done
      [ ! -d "/proc/$old" ] || die "the previous agent (pid $old) did not stop within 10 s"
    fi
    rm -f "$pidfile"
  fi
  echo "install: systemd is not PID 1; starting the agent in the background (log: $log)"
  nohup "$prefix/bin/mesolite" agent --config="$conf" </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" > "$pidfile"
  logs="tail $log"
fi

# Ready when the agent answers on its socket (a socket file alone may be left over from before).
ready=
for _ in $(seq 300); do
  if ! alive "$pid"; then
    echo "install: the agent exited during start-up; last lines of its log:" >&2
    $logs 2>/dev/null | tail -20 >&2 || true
    exit 1
  fi
  if [ -S "$socket" ] && "$prefix/bin/mesolite" ps --socket="$socket" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || die "the agent does not answer on $socket after 30 s (see: $logs)"
echo "install: agent listening on $socket"
"$prefix/bin/mesolite" ps --socket="$socket"
