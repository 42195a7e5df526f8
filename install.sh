#!/usr/bin/env bash
# install.sh: fresh Debian 12 / Ubuntu 24.04 → telvox built, installed and running on the simulated card.
#
#   sudo ./install.sh            packages, build, install, enable + start the systemd service
#   sudo ./install.sh --demo     the same, then run telvox in the foreground and place a demo call
#   sudo ./install.sh --deps-only    only the apt packages and the Rust toolchain check
#   sudo ./install.sh --no-service   install, but do not enable or start the systemd service
#
# Safe to run again: it never overwrites /etc/telvox/telvox.toml (an admin's config is kept and checked),
# and replaces installed files by rename, so a running daemon never sees a file change under it.
# It downloads nothing but Debian/Ubuntu packages: the Rust toolchain must already be there (rustup).
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

BIN_DEST=/usr/local/bin/telvox
SHARE=/usr/share/telvox
VOICE_DEST="$SHARE/voice"
DOC=/usr/share/doc/telvox
ETC=/etc/telvox
CONFIG="$ETC/telvox.toml"
STATE=/var/lib/telvox
RUN=/run/telvox
UNIT=/etc/systemd/system/telvox.service
DEMO_WAV=/tmp/telvox-demo.wav
DEMO_NUMBER=8999
DEMO_KEYS='1234#'
READY_TIMEOUT_S=20

APT_PACKAGES=(
    build-essential pkg-config
    libclang-dev clang libtiff-dev libjpeg-dev # spandsp-sys builds spandsp from source with bindgen
    dahdi-source                               # dahdi/user.h: build.rs generates the DAHDI ABI from it
    espeak-ng sox libsox-fmt-base              # voice/generate.sh, and `sox --i` in the demo
    minimodem                                   # an independent Bell 202 / V.23 modem: caller-ID test vectors
    sqlite3                                    # to look into the call log by hand
    valgrind                                   # the FFI test runs spandsp under valgrind
    graphviz                                   # `telvox flow dot NAME | dot -Tsvg`, and its test
    python3-aiosmtpd                           # the voicemail mail test's real SMTP server
    openssl                                    # the voicemail TLS tests make a certificate
    ghostscript                                # fax catalog: PDF/PostScript → TIFF-F
    libtiff-tools                              # tiffinfo/tiffcp: the fax tests check received TIFFs
    ca-certificates curl
)

usage() {
    cat <<EOF
usage: sudo $0 [--demo] [--no-service] [--deps-only]

  (no flag)     apt packages, build (cargo build --release --locked), install, enable + start the
                systemd service when systemd runs
  --demo        after installing, run telvox on the sim card in the foreground, dial $DEMO_NUMBER
                (the line test) pressing $DEMO_KEYS, show the call log and status, save what the
                caller heard to $DEMO_WAV
  --no-service  do not enable or (re)start the systemd service
  --deps-only   only install the apt packages and check the Rust toolchain
EOF
}

DEMO=false
NO_SERVICE=false
DEPS_ONLY=false
for arg in "$@"; do
    case "$arg" in
        --demo) DEMO=true ;;
        --no-service) NO_SERVICE=true ;;
        --deps-only) DEPS_ONLY=true ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    die "this installs packages and system files: run it as root, e.g. sudo $0 $*"
fi

systemd_running() { [ -d /run/systemd/system ]; }

# ---- (a) packages ---------------------------------------------------------------------------------

install_packages() {
    step "Packages (apt)"
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        note "all ${#APT_PACKAGES[@]} packages are already installed"
        return
    fi
    note "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ---- (b) Rust toolchain ---------------------------------------------------------------------------

# Who builds: the user who ran sudo, with their own rustup toolchain, when the source tree is theirs
# (so target/ stays theirs); otherwise root with root's toolchain.
BUILD_USER=""
BUILD_HOME="$HOME"
CARGO=""
RUST_VERSION=""

find_cargo() {
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        local home
        home="$(getent passwd "$SUDO_USER" | cut -d: -f6)"
        if [ -n "$home" ] && [ -x "$home/.cargo/bin/cargo" ] && [ "$(stat -c %U "$SRC")" = "$SUDO_USER" ]; then
            BUILD_USER="$SUDO_USER"
            BUILD_HOME="$home"
            CARGO="$home/.cargo/bin/cargo"
            return 0
        fi
    fi
    # rustup's cargo first: Debian's own cargo package is too old for this crate.
    export PATH="$HOME/.cargo/bin:$PATH"
    CARGO="$(command -v cargo || true)"
    [ -n "$CARGO" ]
}

# Runs a command as the build user (or root), with that user's HOME and ~/.cargo/bin on PATH.
as_builder() {
    if [ -n "$BUILD_USER" ]; then
        runuser -u "$BUILD_USER" -- env HOME="$BUILD_HOME" PATH="$BUILD_HOME/.cargo/bin:$PATH" "$@"
    else
        "$@"
    fi
}

check_rust() {
    step "Rust toolchain"
    local need
    need="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$SRC/Cargo.toml" | head -n1)"
    need="${need:-1.80}"
    if ! find_cargo; then
        cat >&2 <<EOF
install.sh: no Rust toolchain found (cargo is not on PATH nor in ~/.cargo/bin).
    telvox needs Rust $need or newer, installed with rustup: see https://rustup.rs
    (Debian's and Ubuntu's own 'cargo' package is too old for this crate.)
    Install it, then run this script again. This script downloads nothing itself.
EOF
        exit 1
    fi
    RUST_VERSION="$(as_builder "$CARGO" --version | awk '{print $2}')"
    RUST_VERSION="${RUST_VERSION%%-*}"
    local have="$RUST_VERSION"
    if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
        cat >&2 <<EOF
install.sh: $CARGO is version ${have:-unknown}; telvox needs Rust $need or newer.
    Install a current toolchain with rustup (https://rustup.rs) and run this script again.
EOF
        exit 1
    fi
    note "cargo $have at $CARGO${BUILD_USER:+ (building as $BUILD_USER)}"
}

install_packages
check_rust
if $DEPS_ONLY; then
    step "Done (--deps-only): packages installed, Rust $RUST_VERSION found"
    exit 0
fi

# ---- (c) build ------------------------------------------------------------------------------------

step "Build (cargo build --release --locked)"
cd "$SRC"
# The prompt directory is baked into the binary (DEFAULT_VOICE_DIR in src/config/mod.rs).
if ! as_builder env TELVOX_VOICE_DIR="$VOICE_DEST" "$CARGO" build --release --locked; then
    die "the build failed (errors above); nothing was installed"
fi
BUILT="${CARGO_TARGET_DIR:-$SRC/target}/release/telvox"
[ -x "$BUILT" ] || die "the build finished but $BUILT is missing"
note "built $BUILT"

# ---- (d) install ----------------------------------------------------------------------------------

CHANGED=0
# Copies src to dest with mode, owner root and the given group, through a temporary name and a rename
# (prompts are memory-mapped by the running daemon: never rewrite one in place). Unchanged files are
# left alone.
put() {
    local src="$1" dest="$2" mode="$3" group="${4:-root}" tmp
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
        chmod "$mode" "$dest"
        return 0
    fi
    tmp="$(dirname "$dest")/.$(basename "$dest").new"
    install -m "$mode" -o root -g "$group" "$src" "$tmp"
    mv -f "$tmp" "$dest"
    CHANGED=$((CHANGED + 1))
}

step "Install"
if ! getent group telvox >/dev/null; then
    groupadd --system telvox
    note "created the system group telvox (its members may use the telvox CLI sockets)"
fi

put "$BUILT" "$BIN_DEST" 0755
note "$BIN_DEST"

install -d -m 0755 "$SHARE" "$VOICE_DEST" "$SHARE/hw"
for lang_dir in "$SRC"/voice/*/; do
    lang="$(basename "$lang_dir")"
    case "$lang" in .*) continue ;; esac
    install -d -m 0755 "$VOICE_DEST/$lang"
    for f in "$lang_dir"*.wav "$lang_dir"*.txt; do
        [ -f "$f" ] || continue
        put "$f" "$VOICE_DEST/$lang/$(basename "$f")" 0644
    done
done
note "$VOICE_DEST ($(find "$VOICE_DEST" -name '*.wav' | wc -l) prompts: $(cd "$VOICE_DEST" && ls -d -- */ | tr -d / | paste -sd ' '))"
put "$SRC/hw/sim.toml" "$SHARE/hw/sim.toml" 0644
install -d -m 0755 "$SHARE/faxdocs"
for f in "$SRC"/faxdocs/*; do
    [ -f "$f" ] && put "$f" "$SHARE/faxdocs/$(basename "$f")" 0644
done
note "$SHARE/faxdocs (the demo fax-on-demand catalog: fax_catalog = \"$SHARE/faxdocs/catalog.toml\")"
note "$SHARE/hw/sim.toml (the embedded sim card's hardware map, for reference)"
install -d -m 0755 "$DOC"
for f in README.md docs/sim-protocol.md; do
    if [ -f "$SRC/$f" ]; then put "$SRC/$f" "$DOC/$(basename "$f")" 0644; fi
done
note "$DOC (README.md, sim-protocol.md)"

install -d -m 0750 -o root -g telvox "$STATE"
note "$STATE (0750 root:telvox)"

if [ ! -d "$ETC" ]; then
    install -d -m 0750 -o root -g telvox "$ETC"
fi
if [ -e "$CONFIG" ]; then
    note "$CONFIG exists: kept as it is (the shipped default is $SRC/etc/telvox.toml)"
else
    put "$SRC/etc/telvox.toml" "$CONFIG" 0640 telvox
    # A new config gets the demo fax-on-demand catalog (the main flow's option 2 sends from it).
    sed -i "s|^# fax_catalog = .*|fax_catalog = \"$SHARE/faxdocs/catalog.toml\"|" "$CONFIG"
    note "$CONFIG (new, from etc/telvox.toml; fax_catalog = $SHARE/faxdocs/catalog.toml)"
fi
# Call flows: the shipped ones are installed when absent; an admin's edited flow is never replaced.
install -d -m 0750 -o root -g telvox "$ETC/flows"
for flow in "$SRC"/etc/flows/*.toml; do
    dest="$ETC/flows/$(basename "$flow")"
    if [ -e "$dest" ]; then
        cmp -s "$flow" "$dest" || note "$dest exists: kept as it is (the shipped one is $flow)"
    else
        put "$flow" "$dest" 0640 telvox
        note "$dest (new)"
    fi
done

# Voicemail boxes: the shipped example when absent (its demo PINs are in the file's header: change
# them with `telvox vm passwd BOX`); it holds PIN hashes, so only root and the telvox group read it.
if [ -e "$ETC/mailboxes.toml" ]; then
    cmp -s "$SRC/etc/mailboxes.toml" "$ETC/mailboxes.toml" \
        || note "$ETC/mailboxes.toml exists: kept as it is (the shipped one is $SRC/etc/mailboxes.toml)"
else
    put "$SRC/etc/mailboxes.toml" "$ETC/mailboxes.toml" 0640 telvox
    note "$ETC/mailboxes.toml (new: demo PINs, change them with telvox vm passwd)"
fi

# Supervisors who may hear recordings by phone (8900): the same rules as mailboxes.toml.
if [ -e "$ETC/supervisors.toml" ]; then
    cmp -s "$SRC/etc/supervisors.toml" "$ETC/supervisors.toml" \
        || note "$ETC/supervisors.toml exists: kept as it is (the shipped one is $SRC/etc/supervisors.toml)"
else
    put "$SRC/etc/supervisors.toml" "$ETC/supervisors.toml" 0640 telvox
    note "$ETC/supervisors.toml (new: demo PINs, change them with telvox sup passwd)"
fi

# The demo business database the example flow's `lookup`/`verify_pin` read ([business] db, default
# <data_dir>/business.db). telvox opens it read-only; an existing one is the admin's and is kept.
BUSINESS_DB="$STATE/business.db"
if [ -e "$BUSINESS_DB" ]; then
    note "$BUSINESS_DB exists: kept as it is (the demo data is $SRC/etc/business.sql)"
else
    sqlite3 "$BUSINESS_DB" < "$SRC/etc/business.sql"
    chown root:telvox "$BUSINESS_DB"
    chmod 0640 "$BUSINESS_DB"
    note "$BUSINESS_DB (new, demo data from etc/business.sql)"
fi

step "Check the configuration (telvox config check)"
if ! "$BIN_DEST" config check "$CONFIG"; then
    die "$CONFIG has errors (above): fix them, then run this script again"
fi

put "$SRC/etc/telvox.service" "$UNIT" 0644
note "$UNIT"
note "$CHANGED file(s) changed"

# ---- systemd --------------------------------------------------------------------------------------

# Waits until the daemon behind $CONFIG answers on its control socket; $1 = pid to watch (optional).
wait_ready() {
    local pid="${1:-}" tries=$((READY_TIMEOUT_S * 5))
    while [ "$tries" -gt 0 ]; do
        if "$BIN_DEST" --config "$CONFIG" status >/dev/null 2>&1; then
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.2
        tries=$((tries - 1))
    done
    return 1
}

SERVICE_STARTED=false
step "Service"
if systemd_running; then
    systemctl daemon-reload
    if $NO_SERVICE; then
        note "--no-service: not enabled or started. Later: systemctl enable --now telvox"
        if systemctl is-active --quiet telvox; then
            note "telvox.service is running the previous binary: systemctl restart telvox to update it"
        fi
    else
        systemctl enable --quiet telvox.service
        systemctl restart telvox.service
        if ! wait_ready; then
            journalctl -u telvox -n 30 --no-pager >&2 || true
            die "telvox.service did not come up within ${READY_TIMEOUT_S} s (log above)"
        fi
        SERVICE_STARTED=true
        note "telvox.service enabled and running: systemctl status telvox; journalctl -u telvox -f"
    fi
else
    note "systemd is not running as PID 1 here (a container?): the unit is installed but not started."
    note "Start telvox by hand:"
    note "  telvox daemon --config $CONFIG               # detaches, logs to $STATE/telvox.log"
    note "  telvox daemon --foreground --config $CONFIG  # stays in the foreground, logs to stderr"
fi

if ! $DEMO; then
    step "Done"
    note "try: telvox status; telvox sim call $DEMO_NUMBER --keys '$DEMO_KEYS' --save $DEMO_WAV; telvox calls"
    exit 0
fi

# ---- (e) demo -------------------------------------------------------------------------------------

DEMO_PID=""
DEMO_LOG=""
SERVICE_STOPPED=false

stop_demo_daemon() {
    if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
        kill -TERM "$DEMO_PID" 2>/dev/null || true
        wait "$DEMO_PID" 2>/dev/null || true
    fi
    DEMO_PID=""
}

cleanup() {
    local rc=$?
    stop_demo_daemon
    if $SERVICE_STOPPED; then
        systemctl start telvox.service || true
    fi
    if [ "$rc" -ne 0 ] && [ -n "$DEMO_LOG" ] && [ -s "$DEMO_LOG" ]; then
        echo "--- demo daemon log ($DEMO_LOG) ---" >&2
        tail -n 30 "$DEMO_LOG" >&2
    fi
}
trap cleanup EXIT

step "Demo: start telvox on the sim card"
if systemd_running && systemctl is-active --quiet telvox.service; then
    note "stopping telvox.service for the demo (so its sockets are free); it is restarted afterwards"
    systemctl stop telvox.service
    SERVICE_STOPPED=true
fi
if "$BIN_DEST" --config "$CONFIG" status >/dev/null 2>&1; then
    die "a telvox daemon started by hand is already running on $CONFIG: stop it (kill -TERM \$(cat $RUN/telvox.pid)) and run the demo again"
fi
# What systemd's RuntimeDirectory= makes (systemd removed it if it just stopped the service).
install -d -m 0750 -o root -g telvox "$RUN"
DEMO_LOG="$(mktemp /tmp/telvox-demo-daemon.XXXXXX.log)"
"$BIN_DEST" daemon --foreground --config "$CONFIG" </dev/null >"$DEMO_LOG" 2>&1 &
DEMO_PID=$!
note "telvox daemon --foreground --config $CONFIG (pid $DEMO_PID, log $DEMO_LOG)"
if ! wait_ready "$DEMO_PID"; then
    die "the demo daemon did not answer on its control socket within ${READY_TIMEOUT_S} s"
fi
note "up: control socket $RUN/ctl.sock, sim far end $RUN/sim.sock"

step "Demo: telvox sim call $DEMO_NUMBER --keys '$DEMO_KEYS' --save $DEMO_WAV"
note "(the line test: welcome, 'please enter some digits', the keys said back, goodbye: about 10 s)"
"$BIN_DEST" --config "$CONFIG" sim call "$DEMO_NUMBER" --keys "$DEMO_KEYS" --save "$DEMO_WAV"

step "Demo: telvox calls --limit 5"
"$BIN_DEST" --config "$CONFIG" calls --limit 5

step "Demo: telvox status"
"$BIN_DEST" --config "$CONFIG" status

step "Demo: what the caller heard"
note "$DEMO_WAV (play it with: play $DEMO_WAV)"
sox --i "$DEMO_WAV"

step "Demo: stop the demo daemon"
stop_demo_daemon
sed 's/^/    | /' "$DEMO_LOG"
rm -f "$DEMO_LOG"
DEMO_LOG=""
if $SERVICE_STOPPED; then
    systemctl start telvox.service
    SERVICE_STOPPED=false
    note "telvox.service started again"
fi

step "Done"
note "telvox is installed: $BIN_DEST, config $CONFIG, call log $STATE/telvox.db"
