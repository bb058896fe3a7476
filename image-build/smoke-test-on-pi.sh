#!/usr/bin/env bash
# On-device smoke test for a Salon room appliance: what CI cannot check without a Pi.
# Run as root on the Pi (over SSH or on tty2):
#
#   sudo /usr/share/salon/smoke-test-on-pi.sh [--watchdog-restart] [--hardware-watchdog-reset]
#
# It stops salon-appliance for the display and camera checks (they need the DRM master
# and the camera to themselves) and starts it again at the end.
#   --watchdog-restart         also hang the appliance's loop and check systemd restarts it
#   --hardware-watchdog-reset  LAST: crash the kernel and check the SoC watchdog resets the
#                              board (the Pi reboots; check `journalctl --list-boots`)
# Exit status 0 when nothing failed. Closing line: "N passed, N failed, N skipped".
set -uo pipefail

passed=0 failed=0 skipped=0
venv_python=/opt/salon/venv/bin/python3
run_as_salon=(runuser -u salon -- env SDL_VIDEODRIVER=kmsdrm PYGAME_HIDE_SUPPORT_PROMPT=1
              HOME=/var/lib/salon XDG_RUNTIME_DIR=/run/salon)

pass() { echo "PASS  $1${2:+  — $2}"; passed=$((passed + 1)); }
fail() { echo "FAIL  $1${2:+  — $2}"; failed=$((failed + 1)); }
skip() { echo "SKIP  $1${2:+  — $2}"; skipped=$((skipped + 1)); }
check() {  # check NAME CMD...: pass if CMD succeeds, output as detail
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name" "$(echo "$out" | tail -1)"; else fail "$name" "$(echo "$out" | tail -3 | tr '\n' ' ')"; fi
}

[[ $EUID -eq 0 ]] || { echo "run as root (sudo $0)" >&2; exit 2; }
want_restart=0 want_reset=0
for arg in "$@"; do
    case $arg in
        --watchdog-restart) want_restart=1 ;;
        --hardware-watchdog-reset) want_reset=1 ;;
        *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done

# ---- the board ------------------------------------------------------------------
model=$(tr -d '\0' < /proc/device-tree/model 2>/dev/null || echo unknown)
if [[ $model == Raspberry\ Pi* ]]; then pass "board" "$model"; else fail "board" "not a Raspberry Pi: $model"; fi
check "arm64 userland" sh -c '[ "$(dpkg --print-architecture)" = arm64 ] && dpkg --print-architecture'
. /etc/os-release
if [[ ${VERSION_CODENAME:-} == trixie ]]; then pass "os" "$PRETTY_NAME"; else fail "os" "expected trixie: ${PRETTY_NAME:-?}"; fi
check "console boot (no desktop)" sh -c '[ "$(systemctl get-default)" = multi-user.target ] && echo multi-user.target'
if command -v vcgencmd >/dev/null; then
    throttled=$(vcgencmd get_throttled | cut -d= -f2)
    if [[ $throttled == 0x0 ]]; then pass "power and temperature" "get_throttled=0x0, $(vcgencmd measure_temp)"
    else fail "power and temperature" "get_throttled=$throttled (under-voltage or throttling: check the PSU and cooling)"; fi
else
    skip "power and temperature" "vcgencmd missing"
fi

# ---- hardware watchdog (bcm2835-wdt) ---------------------------------------------
identity=$(cat /sys/class/watchdog/watchdog0/identity 2>/dev/null || true)
if [[ $identity == *BCM2835* || $identity == *bcm2835* ]]; then pass "SoC watchdog" "$identity"
else fail "SoC watchdog" "watchdog0 is '${identity:-absent}', expected the BCM2835 watchdog"; fi
runtime=$(systemctl show -P RuntimeWatchdogUSec)
case $runtime in
    [1-9]s|1[0-5]s) pass "systemd pings the SoC watchdog" "RuntimeWatchdogSec=$runtime" ;;
    *) fail "systemd pings the SoC watchdog" "RuntimeWatchdogSec=${runtime:-unset} (want 1..15s)" ;;
esac

# ---- the service as installed ------------------------------------------------------
check "package" dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' salon-appliance
check "service user groups" sh -c 'g=$(id -nG salon); for x in video render audio gpio input; do echo " $g " | grep -q " $x " || { echo "salon not in $x: $g"; exit 1; }; done; echo "$g"'
check "provisioning file valid" salon-appliance check-config
check "native self-test" "$venv_python" -m appliance.service.selftest
if systemctl is-active --quiet salon-appliance; then
    pass "service running" "$(systemctl show -P StatusText salon-appliance)"
else
    fail "service running" "$(systemctl show -P ActiveState,Result salon-appliance | tr '\n' ' ')"
fi
check "health endpoint" salon-appliance status
echo "      hardening: $(systemd-analyze security salon-appliance 2>/dev/null | tail -1)"

# ---- devices: stop the service so the checks can open them --------------------------
systemctl stop salon-appliance
trap 'systemctl start salon-appliance' EXIT

# Display: vc4 KMS and SDL's kmsdrm driver, as the service user on tty1.
drivers=$(for c in /sys/class/drm/card?; do basename "$(readlink -f "$c/device/driver")"; done 2>/dev/null | sort -u | tr '\n' ' ')
if [[ $drivers == *vc4* ]]; then pass "vc4 KMS driver" "$drivers"; else fail "vc4 KMS driver" "DRM drivers: ${drivers:-none} (dtoverlay=vc4-kms-v3d in config.txt?)"; fi
connected=$(grep -l '^connected' /sys/class/drm/card*-*/status 2>/dev/null | xargs -r -n1 dirname | xargs -r -n1 basename | tr '\n' ' ')
if [[ -n $connected ]]; then pass "screen connected" "$connected"; else fail "screen connected" "no connector reports a display"; fi
check "pygame kmsdrm full screen" "${run_as_salon[@]}" "$venv_python" -c '
import pygame, time
pygame.display.init()
screen = pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
screen.fill((0, 90, 200)); pygame.display.flip(); time.sleep(1)
print(pygame.display.get_driver(), "%dx%d" % screen.get_size())
assert pygame.display.get_driver() == "kmsdrm"'
check "display blanked and woken (DPMS through DRM)" "${run_as_salon[@]}" "$venv_python" -c '
import glob, pygame, time
from appliance.devices.blanking import DrmBlanker
def dpms():
    return sorted({open(f).read().strip() for f in glob.glob("/sys/class/drm/card*-*/dpms")
                   if open(f.replace("dpms", "status")).read().strip() == "connected"})
pygame.display.init()
screen = pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
screen.fill((200, 90, 0)); pygame.display.flip()
blanker = DrmBlanker()
blanker.set_blanked(True); time.sleep(1); dark = dpms()
blanker.set_blanked(False); time.sleep(1); lit = dpms()
print("blanked:", dark, "woken:", lit)
assert dark == ["Off"] and lit == ["On"], (dark, lit)'

# Camera: libcamera sees it, picamera2 captures frames, the encoder path exists.
if command -v rpicam-hello >/dev/null; then
    check "libcamera camera" sh -c 'rpicam-hello --list-cameras 2>&1 | grep -E "^[0-9]+ :" | head -1 | grep .'
else
    skip "libcamera camera" "rpicam-hello missing (apt install rpicam-apps-lite)"
fi
check "picamera2 capture as salon" "${run_as_salon[@]}" "$venv_python" -c '
from picamera2 import Picamera2
cam = Picamera2()
cam.configure(cam.create_video_configuration(main={"size": (1280, 720), "format": "YUV420"}))
cam.start()
frames = [cam.capture_array("main") for _ in range(30)]
cam.stop()
print(len(frames), "frames", frames[-1].shape)'
if grep -q "Raspberry Pi 4" <<<"$model"; then
    if [[ -e /dev/video11 ]]; then pass "H.264 hardware encoder" "/dev/video11 (bcm2835-codec)"
    else fail "H.264 hardware encoder" "/dev/video11 missing"; fi
else
    skip "H.264 hardware encoder" "Pi 5 has none; the appliance encodes with libx264"
fi

# Audio: a capture device (the mic array) and a playback device.
check "ALSA capture device" sh -c 'arecord -l | grep "^card" | head -1 | grep .'
check "ALSA playback device" sh -c 'aplay -l | grep "^card" | head -1 | grep .'
check "1 s recording as salon" runuser -u salon -- sh -c \
    'arecord -q -d 1 -f S16_LE -r 48000 -c 1 /run/salon/smoke.wav 2>&1 || arecord -q -d 1 -f S16_LE -r 48000 -c 2 /run/salon/smoke.wav; stat -c "%s bytes" /run/salon/smoke.wav'

# GPIO: the chip the buttons and LEDs are on, through lgpio as the service user.
check "GPIO chip as salon" "${run_as_salon[@]}" "$venv_python" -c '
import glob, lgpio
chips = sorted(glob.glob("/dev/gpiochip*"))
h = lgpio.gpiochip_open(int(chips[0][len("/dev/gpiochip"):]))
info = lgpio.gpio_get_chip_info(h); lgpio.gpiochip_close(h)
print(chips[0], info[2], info[1], "lines")'

systemctl start salon-appliance
trap - EXIT

# ---- optional: the app watchdog and the hardware watchdog, for real ----------------
if [[ $want_restart == 1 ]]; then
    dropin=/run/systemd/system/salon-appliance.service.d
    mkdir -p $dropin && printf '[Service]\nEnvironment=SALON_TEST_HOOKS=1\n' > $dropin/smoke.conf
    systemctl daemon-reload && systemctl restart salon-appliance
    sleep 20
    before=$(systemctl show -P NRestarts salon-appliance)
    touch /var/lib/salon/test-hang
    sleep 40
    after=$(systemctl show -P NRestarts salon-appliance)
    rm -f $dropin/smoke.conf && systemctl daemon-reload
    if (( after > before )) && systemctl is-active --quiet salon-appliance; then
        pass "hung loop restarted by the watchdog" "NRestarts $before → $after"
    else
        fail "hung loop restarted by the watchdog" "NRestarts $before → $after"
    fi
else
    skip "hung loop restarted by the watchdog" "pass --watchdog-restart"
fi

echo "$passed passed, $failed failed, $skipped skipped"
if [[ $want_reset == 1 && $failed == 0 ]]; then
    echo "Crashing the kernel in 5 s: the board must reset within ~${runtime:-15s} and boot again."
    echo "Afterwards: journalctl --list-boots shows a new boot; this one ends without a shutdown."
    sleep 5
    echo 1 > /proc/sys/kernel/sysrq
    echo c > /proc/sysrq-trigger
fi
(( failed == 0 ))
