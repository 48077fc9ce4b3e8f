#!/usr/bin/env bash
# Sets up a wall PC (Debian/Ubuntu) for the OKI Siaga 112 wall display:
# system packages, the program in its own venv, a commented starter config
# (never overwritten), a systemd user service that starts the wall with the
# graphical session and restarts it on failure, a menu entry and a login
# autostart entry (for desktops without systemd user sessions).
#
# Idempotent: run it again to upgrade the program; the config stays as edited.
# See --help, and docs/operations.md ("Installing a wall PC").
set -euo pipefail

APP=oki-siaga-112
SERVICE=$APP.service
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEMPLATES=$HERE/templates

usage() {
  cat <<EOF
Usage: install-linux.sh [options]

Installs the OKI Siaga 112 wall for the current user (default), or for every
user of this PC with --system (as root).

  --system               program in /opt/$APP, config in /etc/$APP,
                         service and menu entries for every user (needs root)
  --prefix DIR           where the program (its venv) goes
                         (default: ~/.local/share/$APP, or /opt/$APP with --system)
  --from-source DIR      install from this source tree (default: the tree this
                         script belongs to)
  --wheel FILE           install this wheel instead of a source tree
  --wall-user USER       with --system: the user the wall runs as; the environment
                         file (it may hold the token) is made theirs, mode 600
  --no-system-packages   do not install Debian packages (Qt, WebEngine, sound, speech)
  --dry-run              say what would be done, change nothing
  --uninstall            remove the program, the service and the menu entries;
                         keep the config and the journal
  --purge                with --uninstall: remove the config, journal, logs and caches too
  -h, --help             this text

Run a user install as the user who will be logged in at the wall, not with sudo.
EOF
}

say() { printf 'install-linux: %s\n' "$*"; }
die() { printf 'install-linux: error: %s\n' "$*" >&2; exit "${2:-1}"; }

# --- options -----------------------------------------------------------------------
MODE=user PREFIX="" PREFIX_GIVEN="" SYSTEM_PACKAGES=1 SOURCE="" WHEEL="" DRY_RUN=0 ACTION=install PURGE=0
WALL_USER=""
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)" 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --system) MODE=system ;;
    --prefix) need_value "$@"; PREFIX=$2; PREFIX_GIVEN=1; shift ;;
    --from-source) need_value "$@"; SOURCE=$2; shift ;;
    --wheel) need_value "$@"; WHEEL=$2; shift ;;
    --wall-user) need_value "$@"; WALL_USER=$2; shift ;;
    --no-system-packages) SYSTEM_PACKAGES=0 ;;
    --dry-run) DRY_RUN=1 ;;
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" 2 ;;
  esac
  shift
done
[ -z "$SOURCE" ] || [ -z "$WHEEL" ] || die "--from-source and --wheel exclude each other" 2
[ "$PURGE" = 0 ] || [ "$ACTION" = uninstall ] || die "--purge only goes with --uninstall" 2
if [ -n "$WALL_USER" ]; then
  [ "$MODE" = system ] || die "--wall-user only goes with --system" 2
  id -u "$WALL_USER" >/dev/null 2>&1 || die "--wall-user: no user '$WALL_USER' on this PC" 2
fi
if [ "$ACTION" = install ] && [ -z "$WHEEL" ]; then
  SOURCE=${SOURCE:-$(dirname "$HERE")}
  [ -f "$SOURCE/pyproject.toml" ] || die "no pyproject.toml in '$SOURCE': pass --from-source DIR or --wheel FILE" 2
  SOURCE=$(cd "$SOURCE" && pwd)
fi
if [ -n "$WHEEL" ]; then
  [ -f "$WHEEL" ] || die "wheel '$WHEEL' not found" 2
  WHEEL=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")
fi

# --- where things go ------------------------------------------------------------------
if [ "$MODE" = system ]; then
  [ "$(id -u)" -eq 0 ] || [ "$DRY_RUN" = 1 ] || die "--system needs root (sudo $0 --system ...)"
  PREFIX=${PREFIX:-/opt/$APP}
  CONF_DIR=/etc/$APP
  UNIT_DIR=/etc/systemd/user
  APPS_DIR=/usr/share/applications
  AUTOSTART_DIR=/etc/xdg/autostart
  BIN_DIR=/usr/local/bin
  # Journal, logs and caches live per user (the service runs as the logged-in user).
  USER_DIRS=()
else
  [ -n "${HOME:-}" ] || die "HOME is not set"
  # The same directories platformdirs gives the program (commandcenter/config.py).
  XDG_CONFIG_HOME=${XDG_CONFIG_HOME:-$HOME/.config}
  XDG_DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
  XDG_STATE_HOME=${XDG_STATE_HOME:-$HOME/.local/state}
  XDG_CACHE_HOME=${XDG_CACHE_HOME:-$HOME/.cache}
  PREFIX=${PREFIX:-$XDG_DATA_HOME/$APP}
  CONF_DIR=$XDG_CONFIG_HOME/$APP
  UNIT_DIR=$XDG_CONFIG_HOME/systemd/user
  APPS_DIR=$XDG_DATA_HOME/applications
  AUTOSTART_DIR=$XDG_CONFIG_HOME/autostart
  BIN_DIR=$HOME/.local/bin
  USER_DIRS=("$XDG_DATA_HOME/$APP" "$XDG_STATE_HOME/$APP" "$XDG_CACHE_HOME/$APP")
fi
if [ -z "$PREFIX_GIVEN" ] && [ "$ACTION" = uninstall ] && [ -f "$UNIT_DIR/$SERVICE" ]; then
  # Uninstall finds an install made with another --prefix through its unit.
  exec_line=$(sed -n 's/^ExecStart=\(.*\)\/venv\/bin\/commandcenter wall$/\1/p' "$UNIT_DIR/$SERVICE")
  [ -z "$exec_line" ] || PREFIX=$exec_line
fi
case "$PREFIX" in /*) ;; *) PREFIX=$PWD/$PREFIX ;; esac
VENV=$PREFIX/venv
EXEC=$VENV/bin/commandcenter
LAUNCH=$PREFIX/bin/$APP-launch
CONFIG=$CONF_DIR/config.toml
ENVFILE=$CONF_DIR/environment
UNIT=$UNIT_DIR/$SERVICE
DESKTOP=$APPS_DIR/$APP.desktop
AUTOSTART=$AUTOSTART_DIR/$APP.desktop
LINK=$BIN_DIR/commandcenter
MANIFEST=$PREFIX/install-manifest.txt

# --- helpers ----------------------------------------------------------------------------
run() {
  if [ "$DRY_RUN" = 1 ]; then say "would run: $*"; else "$@"; fi
}

# render TEMPLATE DEST MODE: the template with @KEY@ replaced. Files of ours are
# rewritten on every run (they follow the program); see keep_or_render for the
# user's files.
render() {
  local template=$1 dest=$2 mode=$3 text
  text=$(<"$TEMPLATES/$template")
  text=${text//@EXEC@/$EXEC}
  text=${text//@LAUNCH@/$LAUNCH}
  text=${text//@CONFIG@/$CONFIG}
  text=${text//@ENVFILE@/$ENVFILE}
  text=${text//@RESTART@/$RESTART_HINT}
  text=${text//@EXTRA_ENV@/$EXTRA_ENV}
  if [ "$DRY_RUN" = 1 ]; then say "would write $dest"; return; fi
  mkdir -p "$(dirname "$dest")"
  # Through a temporary file and a rename: a half-written unit or entry is never read.
  printf '%s\n' "$text" > "$dest.tmp.$$"
  chmod "$mode" "$dest.tmp.$$"
  mv -f "$dest.tmp.$$" "$dest"
  say "wrote $dest"
}

keep_or_render() {
  if [ -e "$2" ]; then say "kept $2 (yours; never overwritten)"; else render "$@"; fi
}

user_manager_reachable() {
  command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1
}

version_ok() { "$1" -c "import sys; sys.exit(0 if sys.version_info >= ($2) else 1)" 2>/dev/null; }

pick_python() {
  # PySide6 6.12 on Python 3.11 aborts after many Signal.emit() calls; prefer
  # 3.12+ (pyproject pins PySide6 below 6.12 on 3.11).
  local c candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  candidates+=(python3.12 python3.13 python3)
  if [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
    while IFS= read -r v; do candidates+=("${PYENV_ROOT:-$HOME/.pyenv}/versions/$v/bin/python3"); done \
      < <(ls -1 "${PYENV_ROOT:-$HOME/.pyenv}/versions" | grep -E '^3\.1[2-9]\.[0-9]+$' | sort -V)
  fi
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 && version_ok "$c" "3, 12"; then command -v "$c"; return; fi
  done
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && version_ok "$c" "3, 11"; then command -v "$c"; return; fi
  done
  die "no Python 3.11 or newer found (apt-get install python3 python3-venv)"
}

# --- uninstall ------------------------------------------------------------------------------
# remove PATH...: rm -rf with a message (or what it would do, in a dry run).
remove() {
  local f
  for f in "$@"; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    if [ "$DRY_RUN" = 1 ]; then say "would remove $f"; else rm -rf "$f"; say "removed $f"; fi
  done
}

# rmdir_quiet DIR: remove a directory only when it is empty.
rmdir_quiet() {
  if [ -d "$1" ] && [ "$DRY_RUN" = 0 ]; then rmdir "$1" 2>/dev/null || true; fi
}

uninstall() {
  say "uninstalling ($MODE) from $PREFIX"
  if [ "$MODE" = system ]; then
    if command -v systemctl >/dev/null 2>&1; then run systemctl --global disable "$SERVICE" 2>/dev/null || true; fi
  elif user_manager_reachable; then
    run systemctl --user disable --now "$SERVICE" 2>/dev/null || true
  fi
  remove "$UNIT" "$DESKTOP" "$AUTOSTART" "$LAUNCH"
  # The command link only if it is ours (points into this prefix).
  if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$EXEC" ]; then remove "$LINK"; fi
  # The venv only if it is ours: a wrong --prefix must not delete someone else's.
  if [ -f "$MANIFEST" ] || [ -e "$EXEC" ]; then
    remove "$VENV" "$MANIFEST"
  elif [ -e "$VENV" ]; then
    say "left $VENV alone: no $APP install there"
  fi
  rmdir_quiet "$PREFIX/bin"
  if [ "$MODE" = user ] && user_manager_reachable; then run systemctl --user daemon-reload || true; fi
  if [ "$PURGE" = 1 ]; then
    remove "$CONF_DIR" ${USER_DIRS[@]+"${USER_DIRS[@]}"}
    [ "$MODE" = user ] || say "each user's journal and logs (~/.local/share/$APP, ~/.local/state/$APP) were not touched"
  else
    say "kept the config: $CONF_DIR"
    if [ "$MODE" = user ]; then
      say "kept the journal and logs: $XDG_DATA_HOME/$APP, $XDG_STATE_HOME/$APP (--uninstall --purge removes them)"
    fi
  fi
  # The prefix goes only when nothing else (the journal, for a user install) is in it.
  rmdir_quiet "$PREFIX"
  say "uninstalled"
}

if [ "$ACTION" = uninstall ]; then
  uninstall
  exit 0
fi

# --- install --------------------------------------------------------------------------------
[ "$DRY_RUN" = 0 ] || say "dry run: nothing is changed"
say "installing ($MODE) into $PREFIX"

if [ "$SYSTEM_PACKAGES" = 1 ]; then
  run bash "$HERE/install-system-deps.sh"
else
  say "skipping system packages (--no-system-packages)"
fi

PY=$(pick_python)
say "Python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  say "the venv at $VENV is broken: recreating it"
  run rm -rf "$VENV"
fi
if [ -x "$VENV/bin/python" ]; then
  have=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  want=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$have" != "$want" ]; then say "the venv has Python $have, want $want: recreating it"; run rm -rf "$VENV"; fi
fi
if [ ! -x "$VENV/bin/python" ] || [ "$DRY_RUN" = 1 ]; then
  run mkdir -p "$PREFIX"
  [ -x "$VENV/bin/python" ] || run "$PY" -m venv "$VENV"
fi

TARGET=${WHEEL:-$SOURCE}
say "installing the program from $TARGET"
if [ -z "$WHEEL" ] && [ "$DRY_RUN" = 0 ]; then
  # Build from a clean copy: setuptools builds in the tree it is given, and files
  # left in an old build/lib (a module since deleted) would end up in the wheel.
  # The copy also leaves the source tree untouched (it may be read-only).
  STAGE=$(mktemp -d "${TMPDIR:-/tmp}/$APP-src.XXXXXX")
  trap 'rm -rf "$STAGE"' EXIT
  tar -C "$SOURCE" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude='.*_cache' -cf - . | tar -C "$STAGE" -xf -
  TARGET=$STAGE
fi
if command -v uv >/dev/null 2>&1; then
  run uv pip install --quiet --python "$VENV/bin/python" --upgrade "$TARGET"
else
  # --upgrade reinstalls the program itself (same version, new code); its
  # dependencies move only when the program needs other versions.
  run "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
    --upgrade-strategy only-if-needed "$TARGET"
fi
if [ "$DRY_RUN" = 0 ]; then
  "$EXEC" --version >/dev/null || die "the installed program does not start: $EXEC --version failed"
  say "installed $("$EXEC" --version)"
fi

# QtWebEngine's Chromium refuses its sandbox as root; a wall should run as an
# ordinary user, but a root user service gets the switch it needs.
EXTRA_ENV=""
if [ "$MODE" = user ] && [ "$(id -u)" -eq 0 ]; then
  EXTRA_ENV="# Installed for root: Chromium (QtWebEngine) cannot use its sandbox as root.
Environment=QTWEBENGINE_DISABLE_SANDBOX=1"
fi
if [ "$MODE" = system ]; then
  RESTART_HINT="systemctl --user restart $SERVICE   (as the wall user)"
else
  RESTART_HINT="systemctl --user restart $SERVICE"
fi

# The user's files: written once, never overwritten.
keep_or_render config.toml "$CONFIG" 644
# The environment file may hold the server token: 600 always, also when an
# older install left it readable by everyone (its content is kept).
keep_or_render environment "$ENVFILE" 600
private_envfile() {
  [ -e "$ENVFILE" ] || return 0
  local mode
  mode=$(stat -c %a "$ENVFILE")
  if [ "$mode" != 600 ]; then run chmod 600 "$ENVFILE"; say "made $ENVFILE private (mode 600; was $mode)"; fi
  if [ "$MODE" = system ]; then
    if [ -n "$WALL_USER" ]; then
      run chown "$WALL_USER" "$ENVFILE"
      say "$ENVFILE belongs to $WALL_USER (the wall's user), mode 600"
    else
      say "$ENVFILE is readable by root only; a token there reaches the wall once it is its user's: run again with --wall-user NAME"
    fi
  fi
}
private_envfile

# Ours: rewritten on every run so they follow the program.
render oki-siaga-112-launch "$LAUNCH" 755
render oki-siaga-112.service "$UNIT" 644
render oki-siaga-112.desktop "$DESKTOP" 644
render oki-siaga-112-autostart.desktop "$AUTOSTART" 644

if [ -e "$LINK" ] && ! { [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$EXEC" ]; }; then
  say "left $LINK alone (not ours); the program is $EXEC"
else
  run mkdir -p "$BIN_DIR"
  run ln -sfn "$EXEC" "$LINK"
fi

if [ "$DRY_RUN" = 0 ]; then
  printf '%s\n' "# written by install-linux.sh; --uninstall removes these" "$VENV" "$PREFIX/bin" \
    "$UNIT" "$DESKTOP" "$AUTOSTART" "$LINK" > "$MANIFEST"
fi
if command -v update-desktop-database >/dev/null 2>&1; then
  run update-desktop-database -q "$APPS_DIR" 2>/dev/null || true
fi

# --- the service -------------------------------------------------------------------------------
if [ "$MODE" = system ]; then
  if command -v systemctl >/dev/null 2>&1 && run systemctl --global enable "$SERVICE" >/dev/null 2>&1; then
    say "service enabled for every user: the wall starts when a user's graphical session starts"
  else
    say "could not enable the service; run: systemctl --global enable $SERVICE"
  fi
elif user_manager_reachable; then
  run systemctl --user daemon-reload
  run systemctl --user enable "$SERVICE"
  say "service enabled: the wall starts at the next login (now: systemctl --user start $SERVICE)"
else
  # Containers, SSH sessions without a user manager: the unit is in place.
  say "no systemd user manager reachable here; the unit is in $UNIT"
  say "enable it once, logged in at the wall: systemctl --user daemon-reload && systemctl --user enable --now $SERVICE"
  say "until then the login autostart entry starts the wall: $AUTOSTART"
fi

status=0
if [ "$DRY_RUN" = 0 ]; then
  if out=$("$EXEC" config check "$CONFIG" 2>&1); then
    say "$out"
  else
    printf 'install-linux: the config does not pass the check; the wall will refuse to start until it is fixed:\n%s\n' "$out" >&2
    status=1
  fi
fi
say "done. The wall runs: $EXEC wall  (config: $CONFIG)"
exit "$status"
